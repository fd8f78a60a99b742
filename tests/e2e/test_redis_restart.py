"""Redis restarted mid-run (without persistence: every queue and run key is gone).
Dead letters already recorded survive, being in SQL, and the run ends `error` or
completes with every operation accounted for: never `passed` with operations missing."""

import subprocess

import pytest
import redis

from catalogue.db import get_engine
from catalogue.dlq import count_dead_letters, parse_filter
from catalogue.ledger import ledger_totals
from catalogue.runs import get_run
from chaosfleet.celery_app import reset_broker_connections
from chaosfleet.cli.procs import stop_all
from tests.conftest import REPO, port_open, toxics_seen_independently
from tests.e2e.conftest import start_fleet, submit, wait_for, write_scenario
from workers.app import app

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: redis-restart
target: reference
traffic:
  rate: 30
  duration: 24s
  operations: [{name: create_order, payload: {customer: x, sku: SKU-0001, quantity: 1}}]
faults:
  - {type: timeout, proxy: reference-db, timeout_ms: 0, start: 2s, duration: 4s}
steady_state: {probes: [healthy]}
recovery: {within: 10s}
"""



def restart_redis() -> None:
    redis.Redis(port=6379).shutdown(nosave=True)
    wait_for(lambda: not port_open(6379), 10, "redis stopped")
    subprocess.run(["bash", "scripts/services.sh", "redis"], cwd=REPO, check=True, timeout=60)


def test_redis_restart_mid_run_never_passes_with_missing_operations(e2e_dir, reference_target,
                                                                    catalogue_url, tmp_path):
    base_url = reference_target("")
    fleet = start_fleet(e2e_dir)
    engine = get_engine(catalogue_url)
    try:
        request = submit(write_scenario(tmp_path, "redis-restart", SCENARIO), base_url)
        run_filter = parse_filter(run_id=request.run_id)

        wait_for(lambda: count_dead_letters(engine, run_filter) > 20, 30,
                 "dead letters recorded during the blackhole")
        before = count_dead_letters(engine, run_filter)
        restart_redis()

        run = wait_for(lambda: (r := get_run(engine, request.run_id)) and r.finished_at and r,
                       120, "the run recorded a verdict")
        assert count_dead_letters(engine, run_filter) >= before  # they survived the restart
        ledger = ledger_totals(engine, request.run_id)
        assert run.status in {"error", "passed", "failed"}, run.reason
        if run.status != "error":
            assert ledger["lost"] == 0, run.reason
        assert not (run.status == "passed" and ledger["lost"]), "passed with missing operations"
        # the blackhole's lease died with Redis: the janitor's orphan sweep removes it
        wait_for(lambda: toxics_seen_independently("reference-db") == [], 10,
                 "no fleet toxic left once its lease was lost")
    finally:
        stop_all(fleet.values())
        if not port_open(6379):
            subprocess.run(["bash", "scripts/services.sh", "redis"], cwd=REPO, timeout=60)
        reset_broker_connections(app)  # this process's broker connections died with Redis

"""Issue 3, operation time limits: a prefork slice killed by its hard time limit
(its soft limit could not interrupt it) never loses an operation's ledger entry.
The pool's parent sends `task_failure`; workers/signals.py dead-letters every
operation the slice owed, so each sent operation has exactly one outcome.

The stuck call runs on a pool thread, as it does at concurrency 2 or more. At
concurrency 1 a Python slice calls inline, on the main thread, where the soft
limit can interrupt even this regex (sre checks for signals); the hard limit is
for code nothing else can reach."""

import json
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from catalogue.db import get_engine
from catalogue.models import DeadLetter, LedgerEntry
from chaosfleet.cli.procs import stop_all
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import get_settings
from chaosfleet.jobs.trigger import follow_run, prepare_run, submit_run
from tests.conftest import REPO
from tests.e2e.conftest import start_fleet, write_scenario
from workers.app import app

pytestmark = pytest.mark.e2e

CONFIG = """\
environment: dev
allowlist: {targets: [gil-python], proxies: []}
targets:
  gil-python:
    kind: python
    timeout: 1.0
    operations:
      create_order: {call: "tests.e2e.gil_target:create_order"}
    probes:
      healthy: {call: "tests.e2e.gil_target:is_healthy"}
"""

SCENARIO = """\
name: gil-holder
target: gil-python
traffic:
  rate: 10
  duration: 2s
  concurrency: 4  # 2 per slice: calls run on a pool thread (see below)
  operations: [{name: create_order, payload: {customer: x, sku: SKU-0001, quantity: 1}}]
steady_state: {probes: [healthy]}
recovery: {within: 1s}
"""


def test_hard_time_limit_dead_letters_every_owed_operation(e2e_dir, catalogue_url, tmp_path):
    config_path = tmp_path / "fleet.yaml"
    config_path.write_text(CONFIG)
    env = {"CHAOSFLEET_CONFIG_PATH": str(config_path), "PYTHONPATH": str(REPO)}
    fleet = start_fleet(e2e_dir, env=env)
    settings = get_settings()
    try:
        request = prepare_run(write_scenario(tmp_path, "gil-holder", SCENARIO),
                              load_config(config_path), settings)
        submit_run(app, request)
        final = follow_run(request, redis.Redis.from_url(settings.redis_url), settings,
                           lambda _: None)
    finally:
        stop_all(fleet.values())
    traffic_log = Path(fleet["traffic"].log_path).read_text(errors="replace")
    assert "Hard time limit" in traffic_log, "the slice must have met its hard limit"

    # the run is an error (a slice failed), not a verdict on the target, and says why
    assert final["verdict"] == "error"
    assert "TimeLimitExceeded" in final["reason"]
    assert "0 operations lost" in final["reason"]

    engine = get_engine(catalogue_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(LedgerEntry.op_id, func.count(), func.min(LedgerEntry.outcome),
                   func.min(LedgerEntry.error_class))
            .where(LedgerEntry.run_id == request.run_id).group_by(LedgerEntry.op_id)
        ).all()
        letters = conn.execute(select(func.count()).select_from(DeadLetter)
                               .where(DeadLetter.run_id == request.run_id)).scalar_one()
    assert rows, "the slice's operations must be in the ledger"
    assert all(count == 1 for _, count, _, _ in rows), "one ledger entry per operation"
    outcomes = {op: outcome for op, _, outcome, _ in rows}
    assert "lost" not in outcomes.values()
    owed = [op for op, _, outcome, error in rows
            if outcome == "dead_lettered" and error == "TimeLimitExceeded"]
    assert owed, "the operation the slice was stuck on is dead-lettered"
    assert letters == len([o for o in outcomes.values() if o == "dead_lettered"])
    journal = json.loads(Path(final["journal"]).read_text())
    assert journal["ledger"]["lost"] == 0

"""Invariant 4: the catalogue database is cut off mid-run (its connection goes
through a Toxiproxy proxy the test takes down for 5 s). Traffic keeps its rate,
records are spooled on local disk and backfilled when the database returns, the
run balances its ledger afterwards, and no record is dropped."""

import json
import threading
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from catalogue.db import get_engine
from catalogue.models import FailureMatch, LedgerEntry
from catalogue.recording import read_counters
from chaosfleet.cli.procs import stop_all
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import BUNDLED_CONFIG, get_settings
from chaosfleet.jobs.trigger import follow_run, prepare_run, submit_run
from chaosfleet.runner.state import RunState
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import TEST_ENV
from tests.e2e.conftest import start_fleet, write_scenario
from workers.app import app

pytestmark = pytest.mark.e2e

PROXY, LISTEN = "catalogue-db-e2e", "127.0.0.1:25498"
RATE, DURATION, OUTAGE_AT, OUTAGE = 40, 16, 4.0, 5.0
SCENARIO = f"""\
name: catalogue-outage
target: reference
seed: 9
traffic:
  rate: {RATE}
  duration: {DURATION}s
  concurrency: 16
  operations:
    - name: create_order
      payload: {{customer: {{faker: name}}, sku: SKU-0001, quantity: 1}}
    - name: record_event
      weight: 0.2
      payload: {{kind: bogus, name: x, value: 1}}
steady_state: {{probes: [healthy], max_error_rate: 0.5}}
recovery: {{within: 1s, max_error_rate: 0.5}}
"""


def test_catalogue_database_down_mid_run_spools_and_backfills_everything(
        e2e_dir, reference_target, catalogue_url, tmp_path):
    base_url = reference_target("")
    toxiproxy = ToxiproxyClient("http://127.0.0.1:8474")
    toxiproxy.ensure_proxy(PROXY, LISTEN, "127.0.0.1:5432")
    toxiproxy.set_enabled(PROXY, True)
    through_proxy = TEST_ENV["CHAOSFLEET_DATABASE_URL"].replace("127.0.0.1:5432", LISTEN)
    fleet = start_fleet(e2e_dir, env={"CHAOSFLEET_DATABASE_URL": through_proxy,
                                      "CHAOSFLEET_SPOOL": str(tmp_path / "spool")})
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    outage: dict[str, float] = {}
    try:
        request = prepare_run(write_scenario(tmp_path, "catalogue-outage", SCENARIO),
                              load_config(BUNDLED_CONFIG), settings)
        target = request.target.model_copy(update={"base_url": base_url})
        request = request.model_copy(update={"target": target})
        state = RunState(client, settings.key_prefix, request.run_id)

        def cut_off() -> None:
            deadline = time.monotonic() + 60
            while state.progress().get("phase") != "traffic" and time.monotonic() < deadline:
                time.sleep(0.05)
            started = float(state.progress().get("started_at", time.time()))
            time.sleep(max(0.0, started + OUTAGE_AT - time.time()))
            toxiproxy.set_enabled(PROXY, False)
            outage["from"] = time.time() - started
            time.sleep(OUTAGE)
            toxiproxy.set_enabled(PROXY, True)
            outage["to"] = time.time() - started

        cutter = threading.Thread(target=cut_off, daemon=True)
        submit_run(app, request)
        cutter.start()
        final = follow_run(request, client, settings, lambda _: None)
        cutter.join(10)
    finally:
        toxiproxy.set_enabled(PROXY, True)
        stop_all(fleet.values())
        toxiproxy.delete_proxy(PROXY)

    assert outage.get("to"), "the outage happened"
    assert final["verdict"] == "passed", final["reason"]
    journal = json.loads(Path(final["journal"]).read_text())

    # every operation has its one ledger row and every failure its match, in the database
    planned = RATE * DURATION
    ledger = journal["ledger"]
    assert sum(ledger.values()) == planned and ledger["lost"] == 0
    engine = get_engine(catalogue_url)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(LedgerEntry)
                            .where(LedgerEntry.run_id == request.run_id)).scalar_one()
        matched = conn.execute(select(func.count()).select_from(FailureMatch)
                               .where(FailureMatch.run_id == request.run_id)).scalar_one()
    assert rows == planned
    assert matched == ledger["rejected"] + ledger["dead_lettered"] > 0

    # they went through the spool, and all came back
    counts = read_counters(client, settings.key_prefix, request.run_id)
    assert counts["spooled"] > 0, "the outage must have forced records into the spool"
    assert counts["backfilled"] == counts["spooled"]
    assert counts["dropped"] == 0 and counts["pending"] == 0
    assert read_counters(client, settings.key_prefix)["dropped"] == 0
    assert not list((tmp_path / "spool").glob("*.jsonl"))

    # traffic kept its rate through the outage (open-loop pacing, nothing waited)
    per_second = {s["t"]: sum(s[k] for k in ("ok", "rejected", "error", "timeout"))
                  for s in journal["timeline"]}
    during = [per_second.get(t, 0) for t in range(int(outage["from"]) + 1, int(outage["to"]))]
    assert during and min(during) >= RATE * 0.75, (outage, during)
    assert journal.get("not_sent", 0) == 0

"""Stop conditions and replays, end to end: a stop condition that trips mid-fault
reverts everything at once and ends the run `aborted`; `chaosfleet replay`
re-runs a recorded run with the same payloads and fault timeline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.db import get_engine
from catalogue.models import LedgerEntry
from catalogue.runs import get_run
from chaosfleet.core.settings import get_settings
from faults.leases import LeaseStore
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import toxics_seen_independently
from tests.e2e.conftest import run_to_verdict, write_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ORDERS = ('[{name: create_order, payload: {customer: {faker: name}, '
          'sku: {faker: bothify, args: ["SKU-####"]}, '
          'quantity: {faker: pyint, kwargs: {min_value: 1, max_value: 20}}}}]')


def test_a_stop_condition_tripping_mid_fault_reverts_everything_and_aborts(
        fleet, reference_target, tmp_path):
    scenario = write_scenario(tmp_path, "abort-mid-outage", f"""
        name: abort-mid-outage
        target: reference
        seed: 3
        traffic:
          rate: 20
          duration: 24s
          concurrency: 16
          operations: {ORDERS}
        faults:
          - {{type: proxy_down, proxy: reference-db, start: 3s, duration: 16s}}
        steady_state: {{probes: [healthy]}}
        recovery: {{within: 4s}}
        stop_conditions:
          - {{probe_failing: healthy, for: 2s}}
        """)
    final, journal = run_to_verdict(scenario, reference_target(""))
    assert final["verdict"] == "aborted", final["reason"]
    assert "stop condition: probe healthy failing for 2s" in final["reason"]
    (fault,) = journal["faults"]
    assert fault["applied_at"] is not None
    scheduled_end = journal["started_at"] + fault["end"]
    assert fault["reverted_at"] < scheduled_end - 5  # reverted at the abort, not at the end
    assert fault["reverted_by"] == "run cleanup"
    # nothing left behind: the proxy listens again, no toxic, no lease
    proxy = ToxiproxyClient("http://127.0.0.1:8474").get_proxy("reference-db")
    assert proxy is not None and proxy["enabled"]
    assert toxics_seen_independently("reference-db") == []
    leases = LeaseStore(fleet_redis(), get_settings().key_prefix).active()
    assert [lease for lease in leases if lease.run_id == journal["run_id"]] == []


def fleet_redis():
    import redis

    return redis.Redis.from_url(get_settings().redis_url)


def ledger_of(run_id: str) -> set[tuple[int, str, str, str | None]]:
    """(slice, op number, operation, input hash) of every operation a run sent."""
    with Session(get_engine(get_settings().catalogue_url)) as session:
        rows = session.execute(select(LedgerEntry.op_id, LedgerEntry.slice_index,
                                      LedgerEntry.operation, LedgerEntry.input_hash)
                               .where(LedgerEntry.run_id == run_id)).all()
    return {(s, op_id.rsplit("-o", 1)[1], operation, h) for op_id, s, operation, h in rows}


def test_a_replayed_run_sends_the_same_payloads_on_the_same_fault_timeline(
        fleet, reference_target, tmp_path):
    scenario = write_scenario(tmp_path, "replayable", f"""
        name: replayable
        target: reference
        seed: 1234
        traffic:
          rate: 20
          duration: 10s
          concurrency: 16
          operations: {ORDERS}
        faults:
          - {{type: latency, proxy: reference-db, start: 2s, duration: 3s, latency_ms: 50}}
        steady_state: {{probes: [healthy]}}
        recovery: {{within: 4s}}
        """)
    final, original = run_to_verdict(scenario, reference_target(""))
    assert final["verdict"] == "passed", final["reason"]
    cli = str(Path(sys.executable).with_name("chaosfleet"))
    done = subprocess.run([cli, "replay", original["run_id"]], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    replay_id = re.search(r"run (\S+): scenario replayable", done.stdout).group(1)
    record = get_run(get_engine(get_settings().catalogue_url), replay_id)
    assert record is not None and record.journal_path
    replay = json.loads(Path(record.journal_path).read_text())
    assert replay["replay_of"] == original["run_id"] and replay["trigger"] == "replay"
    assert replay["scenario"]["seed"] == 1234
    sent = ledger_of(original["run_id"])
    assert len(sent) >= 190 and ledger_of(replay_id) == sent  # same payloads, op for op

    def timeline(journal):
        return [(f["index"], f["describe"], f["start"], f["end"]) for f in journal["faults"]]

    assert timeline(replay) == timeline(original) == [
        (0, original["faults"][0]["describe"], 2.0, 5.0)]
    for a, b in zip(original["faults"], replay["faults"], strict=True):  # applied on time
        assert abs((a["applied_at"] - original["started_at"])
                   - (b["applied_at"] - replay["started_at"])) < 1.0
    assert replay["scenario"]["spec"] == original["scenario"]["spec"]

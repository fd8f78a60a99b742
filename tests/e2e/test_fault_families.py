"""Each fault family's built-in scenario, end to end on real services: it passes
against the healthy reference target, and fails when the recovery mechanism it
exists to check is turned off in the target."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.db import get_engine
from catalogue.models import DeadLetter
from chaosfleet.core.settings import get_settings
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import target_sessions, toxics_seen_independently
from tests.e2e.conftest import assert_catalogued, assert_recovery_recorded, run_to_verdict

pytestmark = pytest.mark.e2e

# what the reference target's database faults may show as (a slow database also
# fills the pool; a blackhole also times queries out)
DB_MODES = {"circuit-open", "dependency-timeout", "db-pool-exhausted", "connection-reset",
            "db-unavailable"}

def failed_checks(journal: dict[str, Any]) -> list[str]:
    return [c["name"] for c in journal["checks"] if not c["passed"]]


def check(journal: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in journal["checks"] if c["name"] == name)


def assert_nothing_left(journal: dict[str, Any]) -> None:
    for fault in journal["faults"]:
        assert check(journal, f"fault {fault['index']}: nothing left behind")["passed"]
    assert toxics_seen_independently("reference-db") == []
    proxy = ToxiproxyClient("http://127.0.0.1:8474").get_proxy("reference-db")
    assert proxy is not None and proxy["enabled"]


# -- 1. network faults: composed toxics


def test_composed_toxics_pass_against_the_healthy_target(fleet, reference_target):
    final, journal = run_to_verdict("composed-network", reference_target(""))
    assert final["verdict"] == "passed", final["reason"]
    assert [f["describe"] for f in journal["faults"]][:2] == [
        "latency 300ms on reference-db (upstream)", "bandwidth 1KB/s on reference-db"]
    assert all(f["error_rate"] > 0.3 for f in journal["faults"]), journal["faults"]
    assert_nothing_left(journal)
    rows = assert_catalogued(journal, {"circuit-open", "connection-reset"}, DB_MODES)
    assert_recovery_recorded(rows, recovered=True)


def test_composed_toxics_fail_when_the_breaker_is_off(fleet, reference_target):
    final, journal = run_to_verdict("composed-network", reference_target("breaker"))
    assert final["verdict"] == "failed"
    assert "fault 0: probe breaker_open seen" in failed_checks(journal)
    assert_nothing_left(journal)


# -- 2. operation time limits


def test_slow_operations_never_reach_the_fleet_deadline_on_the_healthy_target(
        fleet, reference_target):
    final, journal = run_to_verdict("slow-operations", reference_target(""))
    assert final["verdict"] == "passed", final["reason"]
    assert journal["totals"]["timeout"] == 0
    rows = assert_catalogued(journal, {"circuit-open"}, DB_MODES)
    assert not any(r["error_code"] == "client_timeout" for r in rows)
    assert_recovery_recorded(rows, recovered=True)


def test_slow_operations_are_recorded_as_timeouts_with_their_ids_when_timeouts_are_off(
        fleet, reference_target):
    final, journal = run_to_verdict("slow-operations", reference_target("timeouts"))
    assert final["verdict"] == "failed"
    assert "fault 0: no hung requests" in failed_checks(journal)
    timeouts = journal["totals"]["timeout"]
    assert timeouts > 0
    with Session(get_engine(get_settings().catalogue_url)) as session:
        letters = session.scalars(select(DeadLetter).where(
            DeadLetter.run_id == journal["run_id"], DeadLetter.error_class == "client_timeout"))
        ids = [letter.op_id for letter in letters]
    assert len(ids) == timeouts  # every soft deadline is on record under its operation
    assert all(i.startswith(journal["run_id"] + "-s") for i in ids)
    assert journal["ledger"]["lost"] == 0
    rows = assert_catalogued(journal, {"dependency-timeout"}, DB_MODES)
    assert sum(r["error_code"] == "client_timeout" for r in rows) == timeouts


# -- 3. malformed inputs




def test_malformed_inputs_crash_the_target_without_validation_and_are_minimised(
        fleet, reference_target):
    final, journal = run_to_verdict("malformed-inputs", reference_target("validation"))
    assert final["verdict"] == "failed"
    failed = failed_checks(journal)
    assert "malformed inputs rejected" in failed
    totals = journal["malformed"]["totals"]
    assert totals.get("accepted", 0) + totals.get("crashed", 0) > 0
    crashes = journal["malformed"].get("crashes", [])
    assert crashes, "a crash must come with a reproducer"
    for crash in crashes:
        if crash["minimised"]:  # the reproducer keeps only what still crashes it
            assert crash["reproducer_bytes"] <= 200, crash
    # accepted inputs are a validation gap; a crash (a bare 500) is an opaque 5xx: both
    # defects, both catalogued
    assert_catalogued(journal, {"malformed-input-accepted"},
                      {"malformed-input-rejected", "opaque-5xx"})
    assert "no defects in the failure catalogue" in failed
    by_field = journal["malformed"]["by_field"]  # which leaves were hit, and how
    leaves = {"customer", "sku", "quantity", "kind", "name", "value", "(body)"}
    assert by_field and set(by_field) <= leaves, by_field


# -- 4. DB pool exhaustion (healthy target: tests/e2e/test_pre_release.py)


def test_pool_exhaustion_fails_when_the_breaker_is_off(fleet, reference_target):
    final, journal = run_to_verdict("db-pool-exhaustion", reference_target("breaker"))
    assert final["verdict"] == "failed"
    assert "fault 0: probe breaker_open seen" in failed_checks(journal)
    assert target_sessions("chaosfleet-%") == 0






# -- 5a. worker halt storms




def test_worker_halt_storm_fails_when_idempotency_is_off(fleet, reference_target):
    final, journal = run_to_verdict("worker-halt-storm", reference_target("idempotency"))
    assert final["verdict"] == "failed"
    assert "no duplicate effects" in failed_checks(journal)
    assert journal["ledger"]["lost"] == 0
    rows = assert_catalogued(journal, {"duplicate-effect"}, DB_MODES)
    (dup,) = [r for r in rows if r["mode_id"] == "duplicate-effect"]
    assert dup["occurrences"] == journal["effects"]["duplicates"] and dup["recovered"] is False


# -- 5b. halt-signal storms




@pytest.mark.parametrize("disable", ["", "aggregate"])
def test_a_halt_limit_must_hold_across_instances(fleet, reference_target, disable):
    """Two instances of the target, the storm spread over both: the limit kept in
    Redis caps the total; kept per process (`aggregate` off), twice the limit gets
    through and the gate fails."""
    first, second = reference_target(disable), reference_target(disable, instance=1)
    final, journal = run_to_verdict("halt-signal-storm", first, (second,))
    (measured,) = journal["fault_measurements"]
    assert journal["faults"][0]["describe"].endswith("across 2 instances")
    if not disable:
        assert final["verdict"] == "passed", final["reason"]
        assert measured["limited"] > 50 and measured["accepted"] <= 10
    else:
        assert final["verdict"] == "failed"
        assert failed_checks(journal) == ["fault 0: halt storm capped"]
        assert measured["max_accepted_per_window"] == 10


def test_halt_signal_storm_cascades_without_the_halt_guard(fleet, reference_target):
    final, journal = run_to_verdict("halt-signal-storm", reference_target("haltguard"))
    assert final["verdict"] == "failed"
    assert "fault 0: halt storm capped" in failed_checks(journal)
    (measured,) = journal["fault_measurements"]
    assert measured["accepted"] > 50
    assert_catalogued(journal, {"halt-storm-cascade"}, {"halt-storm-rate-limited"})


# -- 6. dependency outage (healthy target: tests/e2e/test_pre_release.py)


def test_dependency_outage_fails_when_the_breaker_is_off(fleet, reference_target):
    final, journal = run_to_verdict("dependency-outage", reference_target("breaker"))
    assert final["verdict"] == "failed"
    assert "fault 0: probe breaker_open seen" in failed_checks(journal)
    assert_nothing_left(journal)


def test_dependency_outage_fails_when_the_target_acknowledges_writes_it_lost(
        fleet, reference_target):
    """`durability` off: during the outage an order is answered 201 without being
    written. The ledger says ok; the effects audit finds fewer orders."""
    final, journal = run_to_verdict("dependency-outage", reference_target("durability"))
    assert final["verdict"] == "failed"
    assert "no acknowledged write lost" in failed_checks(journal)
    effects = journal["effects"]
    assert effects["acknowledged"] == journal["ledger"]["ok"]
    assert effects["acknowledged_lost"] == effects["acknowledged"] - effects["keys"] > 20
    rows = assert_catalogued(journal, {"acknowledged-write-lost"}, DB_MODES)
    (lost,) = [r for r in rows if r["mode_id"] == "acknowledged-write-lost"]
    assert lost["occurrences"] == effects["acknowledged_lost"] and lost["recovered"] is False


def test_dependency_outage_fails_when_503s_stop_saying_when_to_retry(fleet, reference_target):
    """`backoff` off: the breaker's 503s lose their Retry-After header."""
    final, journal = run_to_verdict("dependency-outage", reference_target("backoff"))
    assert final["verdict"] == "failed"
    assert failed_checks(journal) == ["degraded answers say when to retry"]
    assert journal["backoff"]["503"]["without"] > 20 and "with" not in journal["backoff"]["503"]






# -- load shedding (the catalogue's load-shed and critical-event-shed modes)




def test_load_shedding_fails_when_critical_events_lose_priority(fleet, reference_target):
    final, journal = run_to_verdict("load-shedding", reference_target("priority"))
    assert final["verdict"] == "failed"
    assert "no defects in the failure catalogue" in failed_checks(journal)
    rows = assert_catalogued(journal, {"load-shed", "critical-event-shed"}, DB_MODES)
    assert all(r["recovered"] is False for r in rows if r["mode_id"] == "critical-event-shed")


# -- transient errors the target's retries must absorb (healthy: test_pre_release.py)


def test_transient_db_resets_fail_the_gate_when_the_target_stops_retrying(
        fleet, reference_target):
    final, journal = run_to_verdict("transient-db-errors", reference_target("retries"))
    assert final["verdict"] == "failed"
    assert "fault 0: errors absorbed" in failed_checks(journal)
    assert_nothing_left(journal)

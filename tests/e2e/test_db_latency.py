"""The built-in DB-latency scenario, end to end on real services: it passes against
the healthy reference target and fails when a recovery mechanism is turned off."""

import pytest

from tests.conftest import toxics_seen_independently
from tests.e2e.conftest import assert_catalogued, assert_recovery_recorded, run_to_verdict

pytestmark = pytest.mark.e2e



def failed_checks(journal) -> list[str]:
    return [c["name"] for c in journal["checks"] if not c["passed"]]


def test_passes_against_the_healthy_target(fleet, reference_target):
    final, journal = run_to_verdict("db-latency", reference_target(""))
    assert final["verdict"] == "passed", final["reason"]
    assert failed_checks(journal) == []
    totals = journal["totals"]
    assert totals["ok"] > 1000 and totals["timeout"] == 0
    ledger = journal["ledger"]  # the account agrees with the live stats; nothing lost
    assert ledger == {"ok": totals["ok"], "rejected": totals["rejected"],
                      "dead_lettered": totals["error"] + totals["timeout"], "lost": 0}
    for fault in journal["faults"]:
        assert fault["applied_at"] is not None and fault["reverted_by"] == "faults worker"
        assert fault["error_rate"] > 0.5  # the spike: the fault really hit the target
        assert fault["time_to_recover_s"] is not None
        assert fault["time_to_recover_s"] <= 10
    baseline = [s for s in journal["timeline"] if 1 <= s["t"] < 8]
    assert all(s["error"] == 0 for s in baseline)
    assert toxics_seen_independently("reference-db") == []
    rows = assert_catalogued(journal, {"circuit-open", "dependency-timeout"},
                             {"db-pool-exhausted", "connection-reset", "db-unavailable",
                              "load-shed"})  # telemetry events may be shed while slow
    failed = [r for r in rows if r["error_code"] != "load_shed"]  # shed is still `ok`
    assert sum(r["occurrences"] for r in failed) == ledger["dead_lettered"]
    assert_recovery_recorded(rows, recovered=True)
    ttrs = {r["time_to_recover_s"] for r in rows if r["recovery_attempted"]}
    assert ttrs <= {f["time_to_recover_s"] for f in journal["faults"]}


def test_fails_when_the_circuit_breaker_is_off(fleet, reference_target):
    final, journal = run_to_verdict("db-latency", reference_target("breaker"))
    assert final["verdict"] == "failed"
    failed = failed_checks(journal)
    assert "fault 0: probe breaker_open seen" in failed
    assert "fault 0: fails fast" in failed
    assert toxics_seen_independently("reference-db") == []


def test_fails_when_timeouts_and_retries_are_off(fleet, reference_target):
    final, journal = run_to_verdict("db-latency", reference_target("timeouts"))
    assert final["verdict"] == "failed"
    assert "fault 0: no hung requests" in failed_checks(journal)
    assert journal["totals"]["timeout"] > 0
    assert toxics_seen_independently("reference-db") == []

"""The built-in DB-latency scenario, end to end on real services: it passes against
the healthy reference target (tests/e2e/test_pre_release.py) and fails when a
recovery mechanism is turned off or its timeout hierarchy is inverted."""

import pytest

from tests.conftest import toxics_seen_independently
from tests.e2e.conftest import run_to_verdict

pytestmark = pytest.mark.e2e


def failed_checks(journal) -> list[str]:
    return [c["name"] for c in journal["checks"] if not c["passed"]]


def test_fails_when_timeouts_and_retries_are_off(fleet, reference_target):
    final, journal = run_to_verdict("db-latency", reference_target("timeouts"))
    assert final["verdict"] == "failed"
    assert "fault 0: no hung requests" in failed_checks(journal)
    assert journal["totals"]["timeout"] > 0
    assert toxics_seen_independently("reference-db") == []


def test_fails_when_the_query_deadline_is_raised_above_the_request_budget(
        fleet, reference_target):
    """A 4 s query deadline inside a 2.5 s request budget: every request still gets an
    answer before the fleet's 5 s deadline, so nothing hangs, but answers take longer
    than the target promises (its declared 3.5 s budget)."""
    final, journal = run_to_verdict("db-latency", reference_target(query_deadline="4"))
    assert final["verdict"] == "failed"
    (budget,) = [c for c in journal["checks"] if c["name"] == "answers within the target's budget"]
    assert not budget["passed"] and "slower than the declared 3.5s budget" in budget["detail"]
    assert toxics_seen_independently("reference-db") == []

"""The built-in DB-latency scenario, end to end on real services: it passes against
the healthy reference target and fails when a recovery mechanism is turned off."""

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

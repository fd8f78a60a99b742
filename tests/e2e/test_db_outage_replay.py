"""Dead letters from a DB outage are replayed after it; idempotency keeps every
operation at exactly one effect, and the scenario fails without them."""

import pytest

from tests.e2e.conftest import assert_catalogued, assert_recovery_recorded, run_to_verdict

pytestmark = pytest.mark.e2e

DB_MODES = {"circuit-open", "dependency-timeout", "db-pool-exhausted", "connection-reset",
            "db-unavailable"}



def test_replay_after_the_outage_passes_with_one_effect_each(fleet, reference_target):
    final, journal = run_to_verdict("db-outage", reference_target(""))
    assert final["verdict"] == "passed", final["reason"]
    replay = journal["replay"]
    assert replay["replayed"] == journal["ledger"]["dead_lettered"] > 0
    assert replay["failed"] == 0
    effects = journal["effects"]
    assert effects["duplicates"] == 0
    assert effects["keys"] == journal["ledger"]["ok"] + journal["ledger"]["dead_lettered"]
    rows = assert_catalogued(journal, {"dependency-timeout"}, DB_MODES)
    assert_recovery_recorded(rows, recovered=True)


def test_without_idempotency_the_replay_duplicates_effects_and_fails(fleet, reference_target):
    final, journal = run_to_verdict("db-outage", reference_target("idempotency"))
    assert final["verdict"] == "failed"
    failed = [c["name"] for c in journal["checks"] if not c["passed"]]
    assert failed == ["no duplicate effects"]
    assert journal["effects"]["duplicates"] > 0
    rows = assert_catalogued(journal, {"dependency-timeout", "duplicate-effect"}, DB_MODES)
    (dup,) = [r for r in rows if r["mode_id"] == "duplicate-effect"]
    assert dup["occurrences"] == journal["effects"]["duplicates"] and dup["recovered"] is False

"""The dead-letter queue on real PostgreSQL, fed by a real slice against the real
reference target while its database proxy resets every connection."""

import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import create_engine, func, select, update

from catalogue.db import create_schema, get_engine
from catalogue.dlq import (
    DeadLetterError,
    count_dead_letters,
    list_dead_letters,
    parse_filter,
    purge_dead_letters,
    show_dead_letter,
)
from catalogue.models import DeadLetter
from catalogue.runs import record_run_started
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import BUNDLED_CONFIG
from chaosfleet.runner.replay import replay_dead_letters
from chaosfleet.traffic.drivers import run_slice
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch
from reftarget import db, pytarget
from scenarios.model import Scenario
from tests.conftest import REPO, require

pytestmark = pytest.mark.integration


def scenario_for() -> Scenario:
    return Scenario.model_validate({
        "name": "dlq-test", "target": "reference-python", "seed": 9,
        "traffic": {"rate": 10, "duration": 2, "operations": [{"name": "create_order",
                    "payload": {"customer": {"faker": "name"}, "sku": "SKU-0007",
                                "quantity": {"faker": "pyint",
                                             "kwargs": {"min_value": 1, "max_value": 9}}}}]},
        "steady_state": {"probes": ["healthy"]}, "recovery": {"within": 1},
    })


@pytest.fixture
def dead_letters(redis_client, toxiproxy, catalogue_url):
    """A run whose every operation was dead-lettered; yields (engine, run id, count)."""
    require("postgresql")
    engine = get_engine(catalogue_url)
    create_schema(engine)
    run_id = f"dlq{uuid.uuid4().hex[:8]}"
    scenario = scenario_for()
    target = load_config(BUNDLED_CONFIG).target("reference-python")
    record_run_started(engine, run_id, scenario.name, "reference-python", scenario.seed,
                       "test", scenario.model_dump(mode="json"), target.model_dump(mode="json"))
    pytarget.is_healthy()  # build the service (and its schema) before the outage
    toxiproxy.add_toxic("reference-db", "chaosfleet-dlq", "reset_peer", {"timeout": 0})
    plan = SlicePlan(run_id=run_id, scenario=scenario.name, index=0,
                     run_started_at=time.time(), offset=0, duration=2, rate=10,
                     concurrency=4, seed=scenario.seed,
                     operations=scenario.traffic.operations, target=target)
    recorder = Recorder(plan, StatsBatch(redis_client, "stats", plan.run_started_at), engine)
    sent = run_slice(plan, recorder, lambda: False)
    toxiproxy.remove_toxic("reference-db", "chaosfleet-dlq")
    deadline = time.monotonic() + 15
    while not pytarget.is_healthy():  # the breaker closes again once the fault is gone
        assert time.monotonic() < deadline, "reference target did not recover"
        time.sleep(0.3)
    yield engine, run_id, sent
    purge_dead_letters(engine, parse_filter(run_id=run_id), dry_run=False)


def effects(run_id: str) -> int:
    engine = create_engine("postgresql+psycopg://reftarget:reftarget@127.0.0.1:5432/reftarget")
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(db.orders).where(
            db.orders.c.idempotency_key.like(f"{run_id}-%"))).scalar_one()
    engine.dispose()
    return n


def test_failed_operations_are_dead_lettered_with_an_envelope(dead_letters):
    engine, run_id, sent = dead_letters
    letters = list_dead_letters(engine, parse_filter(run_id=run_id))
    assert len(letters) == sent == 20
    assert effects(run_id) == 0
    letter, envelope = show_dead_letter(engine, letters[0].id)
    assert envelope.run_id == run_id and envelope.correlation_id == letter.op_id
    assert envelope.error_class == "Unavailable" and len(envelope.input_hash) == 16
    assert "customer" not in str(letter.envelope)  # the raw payload is never stored


def test_replay_after_the_fault_succeeds_once_and_is_idempotent(dead_letters):
    engine, run_id, sent = dead_letters
    filt = parse_filter(run_id=run_id)
    first = replay_dead_letters(engine, filt)
    assert (first.replayed, first.ok, first.failed) == (sent, sent, 0)
    assert effects(run_id) == sent

    again = replay_dead_letters(engine, filt)
    assert (again.replayed, again.skipped) == (0, sent)

    forced = replay_dead_letters(engine, filt, force=True)
    assert forced.ok == sent
    assert effects(run_id) == sent  # same idempotency key: still one effect each
    letter = list_dead_letters(engine, filt)[0]
    assert letter.replay_count == 2 and letter.replay_outcome == "ok" and letter.replay_id


def test_purge_counts_first_and_needs_a_filter(dead_letters):
    engine, run_id, sent = dead_letters
    with pytest.raises(DeadLetterError, match="--all"):
        purge_dead_letters(engine, parse_filter(), dry_run=False)
    filt = parse_filter(run_id=run_id)
    assert purge_dead_letters(engine, filt) == sent  # dry run by default
    assert count_dead_letters(engine, filt) == sent
    assert purge_dead_letters(engine, filt, dry_run=False) == sent
    assert count_dead_letters(engine, filt) == 0


def test_bad_input_gets_a_clear_error_and_changes_nothing(dead_letters):
    engine, run_id, sent = dead_letters
    filt = parse_filter(run_id=run_id)
    with pytest.raises(DeadLetterError, match="no dead letter with id 'nope'"):
        replay_dead_letters(engine, filt, ids=["nope"])
    with pytest.raises(DeadLetterError, match="since must not be after until"):
        parse_filter(since="2026-11-22T10:00:00Z", until="2026-11-21T10:00:00Z")
    with pytest.raises(DeadLetterError, match="run_id"):
        parse_filter(run_id="not a run id; drop table")
    with pytest.raises(DeadLetterError, match="since"):
        parse_filter(since="yesterday")
    assert count_dead_letters(engine, filt) == sent and effects(run_id) == 0

    victim = list_dead_letters(engine, filt)[0].id
    with engine.begin() as conn:
        conn.execute(update(DeadLetter).where(DeadLetter.id == victim)
                     .values(envelope={"garbage": True}))
    with pytest.raises(DeadLetterError, match="corrupt envelope"):
        show_dead_letter(engine, victim)
    assert len(list_dead_letters(engine, filt)) == sent  # the rest is still readable


def test_the_command_line_refuses_a_malformed_filter_without_a_traceback(dead_letters):
    engine, run_id, sent = dead_letters
    result = subprocess.run(
        [sys.executable, "-m", "chaosfleet.cli", "dlq", "purge", "--run", run_id, "--since",
         "yesterday", "--yes"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 3
    assert "bad dead-letter filter: since" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert count_dead_letters(engine, parse_filter(run_id=run_id)) == sent
    listed = subprocess.run([sys.executable, "-m", "chaosfleet.cli", "dlq", "list", "--run",
                             run_id], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert listed.returncode == 0 and f"{sent} dead letter(s)" in listed.stdout



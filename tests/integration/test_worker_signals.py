"""Celery-side dead-lettering through the real signals, on real Redis and PostgreSQL."""

import time
import uuid

import pytest
import redis
from billiard.exceptions import WorkerLostError
from celery import signals

import workers.signals  # noqa: F401  (registers the handlers, as a worker does at start)
from catalogue.db import create_schema, get_engine
from catalogue.dlq import list_dead_letters, parse_filter, show_dead_letter
from catalogue.ledger import ledger_totals, write_entries
from catalogue.records import LedgerOutcome, LedgerRow
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import BUNDLED_CONFIG, get_settings
from chaosfleet.runner.state import RunState
from chaosfleet.traffic.plan import SlicePlan
from scenarios.model import OperationMix
from tests.conftest import require
from workers.tasks import run_slice

pytestmark = pytest.mark.integration


def test_a_slice_that_failed_for_good_dead_letters_what_it_owed(catalogue_url):
    require("redis")
    settings = get_settings()
    engine = get_engine(catalogue_url)
    create_schema(engine)
    run_id = f"sig{uuid.uuid4().hex[:8]}"
    plan = SlicePlan(run_id=run_id, scenario="s", index=3, run_started_at=time.time(),
                     offset=0, duration=1, rate=10, concurrency=2, seed=1,
                     operations=[OperationMix(name="create_order")],
                     target=load_config(BUNDLED_CONFIG).target("reference"))
    state = RunState(redis.Redis.from_url(settings.redis_url), settings.key_prefix, run_id)
    state.reserve(plan.index, 7)  # ops 0..6 may have been sent; 0..1 have outcomes
    write_entries(engine, [LedgerRow(op_id=plan.op_id(n), run_id=run_id, scenario="s",
                                     slice_index=3, operation="create_order", attempt=1,
                                     outcome=LedgerOutcome.OK, latency_ms=1.0, at=time.time())
                           for n in (0, 1)], [])

    signals.task_failure.send(sender=run_slice, task_id="t1", exception=WorkerLostError("gone"),
                              args=[plan.model_dump_json()], kwargs={})

    assert ledger_totals(engine, run_id) == {"ok": 2, "rejected": 0, "dead_lettered": 5,
                                             "skipped": 0, "lost": 0}
    letters = list_dead_letters(engine, parse_filter(run_id=run_id))
    assert sorted(d.op_index for d in letters) == [2, 3, 4, 5, 6]
    _, envelope = show_dead_letter(engine, letters[0].id)
    assert envelope.error_class == "WorkerLostError" and envelope.context["slice"] == 3
    assert not state.slices()[3].done
    assert state.slices()[3].error.startswith("WorkerLostError")


def test_an_unknown_task_is_dead_lettered(catalogue_url):
    engine = get_engine(catalogue_url)
    create_schema(engine)
    task_id = uuid.uuid4().hex
    signals.task_unknown.send(sender=None, name="nobody.knows", id=task_id, message=None,
                              exc=KeyError("nobody.knows"))
    (letter,) = [d for d in list_dead_letters(engine, parse_filter(error_class="task_unknown"),
                                              limit=10_000) if d.op_id == f"task-{task_id}"]
    assert letter.operation == "nobody.knows"

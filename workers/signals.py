"""Celery-side dead-lettering, on signals rather than in task bodies.

`Task.on_failure` alone misses worker loss (the process is gone), so this listens
to `task_failure` (sent by the worker's main process once a slice has exhausted
its retries after losing its process, and by the child for any other failure),
`task_rejected` and `task_unknown`. A slice that failed for good dead-letters
every operation it owed, so the ledger still balances and replay can re-send them.
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import Any

from celery import signals

from catalogue.ledger import recorded_op_ids, write_entries
from catalogue.records import DeadLetterRow, LedgerOutcome, LedgerRow
from chaosfleet.core import clock
from chaosfleet.core.settings import get_settings
from chaosfleet.runner.state import RunState, SliceStatus
from chaosfleet.traffic.cursor import planned_ops
from chaosfleet.traffic.plan import SlicePlan

log = logging.getLogger("chaosfleet.signals")


def dead_letter_owed_operations(plan: SlicePlan, exception: BaseException) -> int:
    """Dead-letter the operations of a failed slice that were (or may have been) sent
    without an outcome. Returns how many."""
    from workers.runtime import fleet

    state = RunState(fleet().redis, get_settings().key_prefix, plan.run_id)
    engine = fleet().catalogue_engine
    sent = min(state.high_water(plan.index), plan.op_count)
    recorded = recorded_op_ids(engine, plan.run_id, plan.index)
    error = type(exception).__name__
    entries, letters = [], []
    for op in islice(planned_ops(plan), sent):
        # the hash the live path records: of the mutated bytes for a malformed input
        owed = ([(s.op_id, s.operation, s.input_hash) for s in op.steps] if op.steps
                else [(op.op_id, op.operation, op.input_hash)])
        for op_id, operation, digest in owed:
            if op_id in recorded:
                continue
            entry = LedgerRow(op_id=op_id, run_id=plan.run_id, scenario=plan.scenario,
                              slice_index=plan.index, operation=operation,
                              outcome=LedgerOutcome.DEAD_LETTERED, error_class=error,
                              input_hash=digest, at=plan.starts_at)
            entries.append(entry)
            letters.append(DeadLetterRow.of(
                entry, f"slice {plan.index} failed for good: {error}: {exception}",
                {"slice": plan.index, "component": "worker"}, op.n))
    write_entries(engine, entries, letters)
    state.mark_slice(plan.index, SliceStatus.failed(
        f"{error}; {len(entries)} owed operations dead-lettered"))
    return len(entries)


@signals.task_failure.connect
def on_task_failure(sender: Any = None, exception: BaseException | None = None,
                    args: Any = None, **_: Any) -> None:
    if getattr(sender, "name", None) != "chaosfleet.run_slice" or not args:
        return
    try:
        plan = SlicePlan.model_validate_json(args[0])
        n = dead_letter_owed_operations(plan, exception or RuntimeError("unknown failure"))
        log.error("slice %s of run %s failed for good; %d operations dead-lettered",
                  plan.index, plan.run_id, n)
    except Exception:  # a signal handler must never take the worker down
        log.exception("could not dead-letter a failed slice")


def _dead_letter_message(kind: str, task_name: str, task_id: str, exc: Any) -> None:
    """A message the worker could not run at all: one dead letter for the message."""
    from workers.runtime import fleet

    # the message has no ledger row (no operation ran); its letter is built as if
    # it had one, so it reads like every other
    entry = LedgerRow(op_id=f"task-{task_id}", run_id="unknown", scenario="unknown",
                      slice_index=-1, operation=task_name[:64],
                      outcome=LedgerOutcome.DEAD_LETTERED, error_class=kind, at=clock.now())
    write_entries(fleet().catalogue_engine, [], [DeadLetterRow.of(
        entry, f"{kind}: {task_name}: {exc}", {"component": "broker"}, -1)])


@signals.task_unknown.connect
def on_task_unknown(name: str = "", id: str = "", exc: Any = None, **_: Any) -> None:
    try:
        _dead_letter_message("task_unknown", name, id, exc)
    except Exception:
        log.exception("could not dead-letter an unknown task %s", name)


@signals.task_rejected.connect
def on_task_rejected(message: Any = None, exc: Any = None, **_: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    try:
        _dead_letter_message("task_rejected", str(headers.get("task", "?")),
                             str(headers.get("id", "?")), exc)
    except Exception:
        log.exception("could not dead-letter a rejected message")

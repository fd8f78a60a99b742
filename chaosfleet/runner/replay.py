"""Replay dead letters: regenerate each payload from its run's seed and re-send it.

The payload was never stored (only its hash): the run's recorded scenario and
seed regenerate it exactly. A replay re-sends with the operation's original
idempotency key, so the target applies it at most once, and gets a replay id of
its own (the dead letter is its `replay_of`). A letter already replayed
successfully is skipped unless forced: replaying twice changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from catalogue.dlq import DeadLetterError, DeadLetterFilter
from catalogue.models import DeadLetter, RunRecord
from chaosfleet.core.config import HttpTarget, PythonTarget, parse_target
from chaosfleet.core.outcomes import Outcome
from chaosfleet.core.recipes import MissingValue, resolve
from chaosfleet.targets.http import HttpClient
from chaosfleet.targets.python import call_operation
from chaosfleet.traffic.cursor import PlannedOp, planned_ops
from chaosfleet.traffic.journeys import (
    SKIPPED_CAPTURE,
    capture_values,
    credentials,
    step_headers,
)
from chaosfleet.traffic.plan import SlicePlan
from scenarios.model import Scenario


@dataclass
class ReplaySummary:
    replayed: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # already replayed successfully
    outcomes: dict[str, str] = field(default_factory=dict)  # letter id -> outcome


def send_one(target: HttpTarget | PythonTarget, operation: str, payload: dict[str, Any],
             op_id: str) -> tuple[Outcome, str | None]:
    if isinstance(target, PythonTarget):
        reply = call_operation(target, operation, payload, op_id)
    else:
        with HttpClient(target) as client:
            reply = client.call(operation, payload, op_id)
    return reply.outcome, reply.error


def replay_journey_step(target: HttpTarget, op: PlannedOp, k: int) -> tuple[Outcome, str | None]:
    """Re-run a journey up to its step k (the earlier steps make the captures k
    needs), each step with its original idempotency key; the outcome is step k's,
    or the first earlier step's failure."""
    names: dict[str, Any] = {}
    auth: dict[str, str] | None = None
    with HttpClient(target) as client:
        for st in op.steps[: k + 1]:
            try:
                payload = resolve(st.payload, names)
                reply = client.call(st.operation, payload, st.op_id, names=names,
                                    headers=step_headers(st.step, names), auth=auth)
                if reply.outcome is not Outcome.OK or st.k == k:
                    return reply.outcome, reply.error
                names.update(capture_values(st.step, reply.status or 0, reply.body,
                                            reply.headers, payload))
                auth = credentials(st.step, names, target) or auth
            except MissingValue:
                return Outcome.ERROR, SKIPPED_CAPTURE
    return Outcome.ERROR, None


class _Regenerator:
    """Regenerates the planned units of one run; slices are walked forward, so a
    batch of letters sorted by (slice, op) costs one pass per slice."""

    def __init__(self, run: RunRecord, target: HttpTarget | PythonTarget):
        self.scenario = Scenario.model_validate(run.scenario_spec)
        self.run_id = run.id
        self.target = target
        self._walks: dict[int, tuple[Iterator[PlannedOp], int]] = {}

    def unit(self, slice_index: int, op_index: int) -> PlannedOp:
        walk, position = self._walks.get(slice_index, (None, 0))
        if walk is None or position > op_index:
            walk, position = planned_ops(self._plan(slice_index)), 0
        while True:
            op = next(walk)
            position += 1
            if position > op_index:
                self._walks[slice_index] = (walk, position)
                return op

    def _plan(self, slice_index: int) -> SlicePlan:
        """Enough of the slice's plan to regenerate its payloads (never its timing)."""
        traffic = self.scenario.traffic
        return SlicePlan(run_id=self.run_id, scenario=self.scenario.name, index=slice_index,
                         run_started_at=0.0, offset=0.0, duration=1e9, rate=1.0,
                         concurrency=1, seed=self.scenario.seed, operations=traffic.operations,
                         journeys=traffic.journeys, target=self.target)


def _send(target: HttpTarget | PythonTarget, op: PlannedOp, letter: DeadLetter
          ) -> tuple[Outcome, str | None]:
    if op.steps:
        k = next((s.k for s in op.steps if s.op_id == letter.op_id), None)
        if k is None or not isinstance(target, HttpTarget):
            return Outcome.ERROR, "unknown_step"
        return replay_journey_step(target, op, k)
    return send_one(target, op.operation, op.payload, letter.op_id)


def _letters(engine: Engine, filt: DeadLetterFilter, ids: list[str] | None,
             force: bool) -> list[DeadLetter]:
    stmt = select(DeadLetter).where(*filt.clauses())
    if ids:
        stmt = stmt.where(DeadLetter.id.in_(ids))
    if not force:
        stmt = stmt.where(or_(DeadLetter.replay_outcome.is_(None),
                              DeadLetter.replay_outcome != "ok"))
    stmt = stmt.order_by(DeadLetter.run_id, DeadLetter.slice_index, DeadLetter.op_index)
    with Session(engine) as session:
        return list(session.scalars(stmt))


def _runs(engine: Engine, letters: list[DeadLetter]) -> Iterator[tuple[str, RunRecord]]:
    with Session(engine) as session:
        for run_id in sorted({letter.run_id for letter in letters}):
            run = session.get(RunRecord, run_id)
            if run is None or not run.target_spec:
                raise DeadLetterError(f"run {run_id} is not recorded with its target: "
                                      "its dead letters cannot be replayed")
            yield run_id, run


def replay_dead_letters(engine: Engine, filt: DeadLetterFilter, ids: list[str] | None = None,
                        force: bool = False) -> ReplaySummary:
    summary = ReplaySummary()
    if ids:
        with Session(engine) as session:
            unknown = [i for i in ids if session.get(DeadLetter, i) is None]
        if unknown:
            raise DeadLetterError(f"no dead letter with id {', '.join(map(repr, unknown))}")
    letters = _letters(engine, filt, ids, force)
    runs = dict(_runs(engine, letters))
    targets = {run_id: parse_target(run.target_spec)
               for run_id, run in runs.items()}
    regenerators = {run_id: _Regenerator(run, targets[run_id]) for run_id, run in runs.items()}
    for letter in letters:
        op = regenerators[letter.run_id].unit(letter.slice_index, letter.op_index)
        outcome, _ = _send(targets[letter.run_id], op, letter)
        _record_replay(engine, letter.id, outcome)
        summary.replayed += 1
        summary.ok += outcome is Outcome.OK
        summary.failed += outcome is not Outcome.OK
        summary.outcomes[letter.id] = str(outcome)
    summary.skipped = (len(_letters(engine, filt, ids, force=True)) - len(letters)
                       if not force else 0)
    return summary


def _record_replay(engine: Engine, letter_id: str, outcome: Outcome) -> None:
    with Session(engine) as session, session.begin():
        letter = session.get(DeadLetter, letter_id)
        if letter is None:  # purged meanwhile
            return
        letter.replay_count += 1
        letter.replay_id = str(uuid.uuid4())
        letter.replay_outcome = str(outcome)
        letter.replayed_at = datetime.now(UTC)


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

import httpx
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from catalogue.dlq import DeadLetterError, DeadLetterFilter
from catalogue.models import DeadLetter, RunRecord
from chaosfleet.config import HttpTarget, PythonTarget, parse_target
from chaosfleet.traffic.drivers import classify_status, import_callable
from chaosfleet.traffic.payloads import PayloadSource
from chaosfleet.traffic.stats import Outcome
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
        try:
            import_callable(target.operations[operation].call)(payload, operation_id=op_id)
        except Exception as exc:
            name = type(exc).__name__
            return (Outcome.REJECTED if name in target.rejects else Outcome.ERROR), name
        return Outcome.OK, None
    spec = target.operations[operation]
    headers = target.auth.resolve() if target.auth else {}
    if spec.idempotency_header:
        headers[spec.idempotency_header] = op_id
    try:
        response = httpx.request(spec.method, target.base_url.rstrip("/") + spec.path,
                                 json=payload, headers=headers, timeout=target.timeout)
    except httpx.TimeoutException:
        return Outcome.TIMEOUT, "client_timeout"
    except httpx.HTTPError as exc:
        return Outcome.ERROR, type(exc).__name__
    return classify_status(response.status_code)


class _Regenerator:
    """Regenerates payloads of one run; slices are walked forward, so a batch of
    letters sorted by (slice, op) costs one pass per slice."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self._sources: dict[int, tuple[PayloadSource, int]] = {}

    def payload(self, slice_index: int, op_index: int) -> tuple[str, dict[str, Any]]:
        source, position = self._sources.get(slice_index, (None, 0))
        if source is None or position > op_index:
            source = PayloadSource(self.scenario.traffic.operations, self.scenario.seed,
                                   slice_index)
            position = 0
        while True:
            name, payload = source.next()
            position += 1
            if position > op_index:
                self._sources[slice_index] = (source, position)
                return name, payload


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
    regenerators = {run_id: _Regenerator(Scenario.model_validate(run.scenario_spec))
                    for run_id, run in runs.items()}
    targets = {run_id: parse_target(run.target_spec)
               for run_id, run in runs.items()}
    for letter in letters:
        operation, payload = regenerators[letter.run_id].payload(letter.slice_index,
                                                                 letter.op_index)
        outcome, _ = send_one(targets[letter.run_id], operation, payload, letter.op_id)
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


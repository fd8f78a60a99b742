"""The dead-letter queue: list, show and purge operations that failed permanently.

Dead letters live in the catalogue database (never in Redis, which has no
dead-letter exchange), so they survive a broker restart. Replay is in
`chaosfleet/runner/replay.py`: it needs the traffic engine to regenerate payloads.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from catalogue.filters import ID_PATTERN, UserInput, UtcDatetime, parse_fields
from catalogue.models import DeadLetter
from chaosfleet.core.errors import ConfigError


class DeadLetterError(ConfigError):
    """A dead-letter operation was refused: bad filter, unknown id, corrupt row."""


class DeadLetterFilter(UserInput):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$")
    scenario: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    error_class: str | None = Field(default=None, max_length=64)
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None

    @model_validator(mode="after")
    def ordered_window(self) -> DeadLetterFilter:
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        return self

    @property
    def is_empty(self) -> bool:
        return not any(self.model_dump().values())

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.run_id:
            clauses.append(DeadLetter.run_id == self.run_id)
        if self.scenario:
            clauses.append(DeadLetter.scenario == self.scenario)
        if self.error_class:
            clauses.append(DeadLetter.error_class == self.error_class)
        if self.since:
            clauses.append(DeadLetter.created_at >= self.since)
        if self.until:
            clauses.append(DeadLetter.created_at <= self.until)
        return clauses


def parse_filter(**fields: Any) -> DeadLetterFilter:
    """Build a filter from user input; a bad field is a DeadLetterError naming it."""
    return parse_fields(DeadLetterFilter, DeadLetterError, "dead-letter filter", fields)


class ErrorEnvelope(BaseModel):
    """The one shape every failure is recorded in (DESIGN.md); no raw input."""

    model_config = ConfigDict(extra="forbid")
    id: str
    time: datetime
    component: str
    error_class: str | None
    severity: str
    message: str
    correlation_id: str
    run_id: str
    scenario: str
    fault: str | None
    input_hash: str | None
    exception_type: str | None
    exception_chain: list[str]
    context: dict[str, Any]


def list_dead_letters(engine: Engine, filt: DeadLetterFilter, limit: int = 50,
                      offset: int = 0) -> list[DeadLetter]:
    stmt = (select(DeadLetter).where(*filt.clauses()).order_by(DeadLetter.created_at)
            .limit(limit).offset(offset))
    with Session(engine) as session:
        return list(session.scalars(stmt))


def show_dead_letter(engine: Engine, letter_id: str) -> tuple[DeadLetter, ErrorEnvelope]:
    if not re.fullmatch(ID_PATTERN, letter_id):
        raise DeadLetterError(f"no dead letter with id {letter_id[:40]!r}: ids are hex digits "
                              "and dashes")
    with Session(engine) as session:
        letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise DeadLetterError(f"no dead letter with id {letter_id!r}")
    try:
        envelope = ErrorEnvelope.model_validate(letter.envelope)
    except ValidationError as exc:
        raise DeadLetterError(f"dead letter {letter_id} has a corrupt envelope "
                              f"({exc.error_count()} problems); purge it or fix it by hand"
                              ) from None
    return letter, envelope


def count_dead_letters(engine: Engine, filt: DeadLetterFilter) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(DeadLetter)
                            .where(*filt.clauses())).scalar_one()


def purge_dead_letters(engine: Engine, filt: DeadLetterFilter, dry_run: bool = True,
                       everything: bool = False) -> int:
    """Delete the matching dead letters (or only count them, by default). An empty
    filter purges everything only when `everything` says so explicitly."""
    if filt.is_empty and not everything:
        raise DeadLetterError("refusing to purge every dead letter without --all")
    if dry_run:
        return count_dead_letters(engine, filt)
    with engine.begin() as conn:
        return conn.execute(delete(DeadLetter).where(*filt.clauses())).rowcount


def summarise_dead_letters(engine: Engine, run_id: str, sample: int = 10) -> dict[str, Any]:
    """The journal's `dead_letters` section: how many, by error class, a few ids."""
    filt = DeadLetterFilter(run_id=run_id)
    with engine.connect() as conn:
        by_class: dict[str, int] = {k: v for k, v in conn.execute(
            select(DeadLetter.error_class, func.count()).where(*filt.clauses())
            .group_by(DeadLetter.error_class).order_by(func.count().desc())).tuples()}
    letters = list_dead_letters(engine, filt, limit=sample)
    return {"total": sum(by_class.values()), "by_class": by_class,
            "sample": [{"id": d.id, "operation": d.operation, "error_class": d.error_class}
                       for d in letters]}

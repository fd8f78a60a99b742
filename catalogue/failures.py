"""Observed failures: match them, record them, track their recovery, query them.

The traffic path hands raw failures (`observed`) to the record writer, which
matches them off the traffic path (`match_batch`) into `failure_matches` rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from pydantic import ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from catalogue.filters import ID_PATTERN, MAX_OFFSET, UserInput, UtcDatetime, parse_fields
from catalogue.matching import Failure, Matcher, normalise
from catalogue.models import FailureMatch, FailureModeRecord
from catalogue.modes import Catalogue
from chaosfleet.core.errors import ConfigError

_NAMESPACE = uuid.UUID("5f0c6a52-3c1e-4c7e-9a57-1e3b9a2c0f11")


class FailureQueryError(ConfigError):
    """A failure query or update was refused: bad filter, unknown id."""


def observed(*, run_id: str, scenario: str, code: str, message: str = "",
             status: int | None = None, component: str = "traffic",
             correlation_id: str | None = None, operation: str | None = None,
             fault: str | None = None, input_hash: str | None = None,
             context: dict[str, Any] | None = None, at: float,
             occurrences: int = 1) -> dict[str, Any]:
    """A raw failure, as the traffic path or the controller saw it. Its id is
    derived from (run, correlation, code), so a redelivered slice or a retried
    backfill records it once."""
    key = f"{run_id}|{correlation_id or uuid.uuid4()}|{code}"
    return {"id": str(uuid.uuid5(_NAMESPACE, key)), "run_id": run_id, "scenario": scenario,
            "correlation_id": correlation_id, "component": component, "operation": operation,
            "code": code[:64], "message": message, "status": status, "fault": fault,
            "input_hash": input_hash, "context": context or {}, "at": at,
            "occurrences": occurrences}


def match_row(raw: dict[str, Any], matcher: Matcher) -> dict[str, Any]:
    """The `failure_matches` row of one raw failure."""
    failure = Failure(raw["code"], raw["message"], raw["status"])
    match = matcher.match(failure)
    mode = match.mode
    return {
        "id": raw["id"], "run_id": raw["run_id"], "scenario": raw["scenario"],
        "correlation_id": raw["correlation_id"], "component": raw["component"],
        "operation": raw["operation"], "error_code": raw["code"],
        "http_status": raw["status"], "message": normalise(raw["message"]),
        "signature": failure.signature, "mode_id": mode.id if mode else None,
        "match_type": str(match.type), "confidence": match.confidence,
        "category": str(mode.category) if mode else None,
        "severity": str(mode.severity) if mode else None,
        "defect": mode.defect if mode else None,
        "retryable": mode.retryable if mode else None,
        "recovery_mode": str(mode.recovery_mode) if mode else None,
        "recovery_suggestion": mode.mitigation if mode else None,
        "fault": raw["fault"], "input_hash": raw["input_hash"],
        "occurrences": raw["occurrences"], "context": raw["context"],
        "occurred_at": datetime.fromtimestamp(raw["at"], UTC),
        "recorded_at": datetime.now(UTC),
        "recovery_attempted": False, "recovered": None, "recovered_at": None,
        "recovered_by": None, "time_to_recover_s": None, "notes": None,
    }


def match_batch(batch: dict[str, list[dict[str, Any]]], matcher: Matcher
                ) -> dict[str, list[dict[str, Any]]]:
    """Turn a batch's raw `failures` into `failure_matches` rows."""
    raw = batch.get("failures")
    if not raw:
        return batch
    rows = [match_row(r, matcher) for r in raw]
    return {**{k: v for k, v in batch.items() if k != "failures"}, "failure_matches": rows}


def sync_modes(engine: Engine, catalogue: Catalogue) -> None:
    """Keep the `failure_modes` table equal to the catalogue file's modes."""
    from sqlalchemy import delete

    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(delete(FailureModeRecord))
        conn.execute(insert(FailureModeRecord), [
            {"id": m.id, "catalogue_version": catalogue.version, "title": m.title,
             "category": str(m.category), "severity": str(m.severity), "defect": m.defect,
             "retryable": m.retryable, "recovery_mode": str(m.recovery_mode),
             "definition": m.model_dump(mode="json"), "loaded_at": now}
            for m in catalogue.modes])


# -- recovery tracking


def mark_recovery(engine: Engine, run_id: str, since: datetime, until: datetime, *,
                  recovered: bool, recovered_at: datetime | None, by: str,
                  time_to_recover_s: float | None) -> int:
    """A scenario's recovery check decides the failures of its fault window.
    Defects never recover by themselves: they are marked attempted, not recovered."""
    window = and_(FailureMatch.run_id == run_id, FailureMatch.occurred_at >= since,
                  FailureMatch.occurred_at < until)
    with engine.begin() as conn:
        n = conn.execute(update(FailureMatch).where(window, FailureMatch.defect.is_not(True))
                         .values(recovery_attempted=True, recovered=recovered,
                                 recovered_at=recovered_at if recovered else None,
                                 recovered_by=by, time_to_recover_s=time_to_recover_s)).rowcount
        n += conn.execute(update(FailureMatch).where(window, FailureMatch.defect.is_(True))
                          .values(recovery_attempted=True, recovered=False,
                                  recovered_by=by)).rowcount
    return n


def mark_defects_unrecovered(engine: Engine, run_id: str, by: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(FailureMatch).where(
            FailureMatch.run_id == run_id, FailureMatch.defect.is_(True),
            FailureMatch.recovery_attempted.is_(False))
            .values(recovery_attempted=True, recovered=False, recovered_by=by))


class RecoveryUpdate(UserInput):
    """An operator's word on one failure."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    recovered: bool
    notes: str = Field(default="", max_length=2000)
    by: str = Field(default="operator", min_length=1, max_length=120)


def resolve_failure_id(engine: Engine, failure_id: str) -> str:
    """The full id of a failure given its id or the start of one (`catalogue list`
    prints 8 characters); unknown, malformed or ambiguous ids are refused."""
    if not re.fullmatch(ID_PATTERN, failure_id):
        raise FailureQueryError(f"no failure with id {failure_id[:40]!r}: ids are hex "
                                "digits and dashes")
    with engine.connect() as conn:
        found = conn.execute(select(FailureMatch.id).where(
            FailureMatch.id.like(f"{failure_id.lower()}%")).limit(2)).scalars().all()
    if not found:
        raise FailureQueryError(f"no failure with id {failure_id!r}")
    if len(found) > 1:
        raise FailureQueryError(f"failure id {failure_id!r} is ambiguous: give more of it")
    return str(found[0])


def update_recovery(engine: Engine, failure_id: str, change: RecoveryUpdate) -> dict[str, Any]:
    now = datetime.now(UTC)
    failure_id = resolve_failure_id(engine, failure_id)
    with engine.begin() as conn:
        n = conn.execute(update(FailureMatch).where(FailureMatch.id == failure_id).values(
            recovery_attempted=True, recovered=change.recovered,
            recovered_at=now if change.recovered else None, recovered_by=change.by,
            notes=change.notes or None)).rowcount
    if not n:
        raise FailureQueryError(f"no failure with id {failure_id!r}")
    return get_failure(engine, failure_id)


# -- queries


class FailureFilter(UserInput):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$")
    error_code: str | None = Field(default=None, max_length=64)
    mode_id: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=16)
    severity: str | None = Field(default=None, max_length=16)
    status: str = Field(default="all", pattern=r"^(all|recovered|unrecovered|attention)$")
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    limit: int = Field(default=100, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)

    @model_validator(mode="after")
    def ordered_window(self) -> FailureFilter:
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        return self

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        for column, value in [(FailureMatch.run_id, self.run_id),
                              (FailureMatch.error_code, self.error_code),
                              (FailureMatch.mode_id, self.mode_id),
                              (FailureMatch.category, self.category),
                              (FailureMatch.severity, self.severity)]:
            if value is not None:
                clauses.append(column == value)
        if self.status == "recovered":
            clauses.append(FailureMatch.recovered.is_(True))
        elif self.status == "unrecovered":
            clauses.append(FailureMatch.recovered.is_not(True))
        elif self.status == "attention":  # recovery tried and failed, or a defect
            clauses += [FailureMatch.recovered.is_not(True),
                        or_(FailureMatch.recovery_attempted.is_(True),
                            FailureMatch.defect.is_(True))]
        if self.since:
            clauses.append(FailureMatch.occurred_at >= self.since)
        if self.until:
            clauses.append(FailureMatch.occurred_at < self.until)
        return clauses


def parse_failure_filter(**fields: Any) -> FailureFilter:
    """Build a filter from user input; a bad field is a FailureQueryError naming it."""
    return parse_fields(FailureFilter, FailureQueryError, "failure filter", fields)


def _as_dict(row: FailureMatch) -> dict[str, Any]:
    out = {c.name: getattr(row, c.name) for c in FailureMatch.__table__.columns}
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
    return out


def list_failures(engine: Engine, flt: FailureFilter) -> list[dict[str, Any]]:
    stmt = (select(FailureMatch).where(*flt.where())
            .order_by(FailureMatch.occurred_at.desc(), FailureMatch.id)
            .limit(flt.limit).offset(flt.offset))
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return [_as_dict(r) for r in session.scalars(stmt)]


def count_failures(engine: Engine, flt: FailureFilter) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(FailureMatch)
                                .where(*flt.where())).scalar_one())


def iter_failures(engine: Engine, flt: FailureFilter, batch: int = 1000,
                  progress: Callable[[int], None] = lambda _: None
                  ) -> Iterator[dict[str, Any]]:
    """Every failure the filter selects (its limit and offset aside), oldest first,
    fetched in batches by keyset (occurred_at, id), so a range of millions never
    sits in memory or in one slow query; `progress` gets the running count."""
    from sqlalchemy.orm import Session

    after: tuple[datetime, str] | None = None
    seen = 0
    while True:
        stmt = select(FailureMatch).where(*flt.where())
        if after is not None:
            stmt = stmt.where(or_(FailureMatch.occurred_at > after[0],
                                  and_(FailureMatch.occurred_at == after[0],
                                       FailureMatch.id > after[1])))
        stmt = stmt.order_by(FailureMatch.occurred_at, FailureMatch.id).limit(batch)
        with Session(engine) as session:
            rows = list(session.scalars(stmt))
            if not rows:
                return
            after = (rows[-1].occurred_at, rows[-1].id)
            out = [_as_dict(r) for r in rows]
        seen += len(out)
        progress(seen)
        yield from out


def get_failure(engine: Engine, failure_id: str) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    failure_id = resolve_failure_id(engine, failure_id)
    with Session(engine) as session:
        row = session.get(FailureMatch, failure_id)
        if row is None:
            raise FailureQueryError(f"no failure with id {failure_id!r}")
        return _as_dict(row)


def failure_stats(engine: Engine, flt: FailureFilter) -> dict[str, Any]:
    """Counts by mode, category, severity, match type and recovery state."""
    where = flt.where()
    occurrences = func.sum(FailureMatch.occurrences)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        out["total"] = int(conn.execute(select(func.coalesce(occurrences, 0))
                                        .where(*where)).scalar_one())
        for name, column in [("by_mode", FailureMatch.mode_id),
                             ("by_category", FailureMatch.category),
                             ("by_severity", FailureMatch.severity),
                             ("by_match_type", FailureMatch.match_type)]:
            rows = conn.execute(select(column, occurrences).where(*where).group_by(column))
            out[name] = {str(k) if k is not None else "(miss)": int(v) for k, v in rows}
        rows = conn.execute(select(FailureMatch.recovered, occurrences).where(*where)
                            .group_by(FailureMatch.recovered))
        out["by_recovery"] = {{True: "recovered", False: "unrecovered", None: "untracked"}[k]:
                              int(v) for k, v in rows}
        ttr = conn.execute(select(func.avg(FailureMatch.time_to_recover_s),
                                  func.max(FailureMatch.time_to_recover_s))
                           .where(*where, FailureMatch.recovered.is_(True))).one()
        out["time_to_recover_s"] = {"mean": ttr[0], "max": ttr[1]}
    return out


def list_misses(engine: Engine, run_id: str | None = None, limit: int = 50
                ) -> list[dict[str, Any]]:
    """Catalogue misses grouped by normalised signature, most frequent first."""
    where: list[ColumnElement[bool]] = [FailureMatch.mode_id.is_(None)]
    if run_id:
        where.append(FailureMatch.run_id == run_id)
    stmt = (select(FailureMatch.signature, func.min(FailureMatch.error_code),
                   func.min(FailureMatch.message), func.min(FailureMatch.http_status),
                   func.sum(FailureMatch.occurrences), func.count(func.distinct(
                       FailureMatch.run_id)), func.max(FailureMatch.occurred_at))
            .where(*where).group_by(FailureMatch.signature)
            .order_by(func.sum(FailureMatch.occurrences).desc()).limit(limit))
    with engine.connect() as conn:
        return [{"signature": sig, "error_code": code, "message": msg, "http_status": status,
                 "occurrences": int(n), "runs": int(runs), "last_seen": last.isoformat()}
                for sig, code, msg, status, n, runs, last in conn.execute(stmt)]


def guess_kind(status: int | None) -> tuple[str, str, bool]:
    """(category, severity, retryable) guessed from the status class: a 4xx is the
    input's, 429 and 503 capacity or a dependency (retryable), other 5xx resilience."""
    if status is None:
        return "network", "warning", True  # no answer: a timeout or a dropped connection
    if status == 429:
        return "capacity", "warning", True
    if status in (409, 412):
        return "integrity", "warning", True
    if 400 <= status < 500:
        return "input", "info", False
    if status in (502, 503, 504):
        return "dependency", "error", True
    return "resilience", "error", False


def propose(engine: Engine, signature: str) -> str:
    """A draft catalogue entry (YAML) for one group of misses. The person who adds
    it fills in what the fleet cannot know: the title, the category, whether it
    is a defect, and how it recovers."""
    group = next((m for m in list_misses(engine, limit=10_000)
                  if m["signature"] == signature), None)
    if group is None:
        raise FailureQueryError(f"no catalogue miss with signature {signature!r} "
                                "(see `chaosfleet catalogue misses`)")
    code, message, status = group["error_code"], group["message"], group["http_status"]
    generic = re.fullmatch(r"http_\d{3}", code) is not None
    signature_doc: dict[str, Any] = {}
    if generic or not code:
        text = f"{code.lower()}: {message}" if message else code.lower()
        signature_doc["patterns"] = ["^" + re.escape(text) + "$"]
    else:
        signature_doc["codes"] = [code]
    if status is not None:
        signature_doc["statuses"] = [status]
    slug = re.sub(r"[^a-z0-9]+", "-", f"{code} {message}".lower()).strip("-")[:48] or "new-mode"
    category, severity, retryable = guess_kind(status)
    draft = {
        "id": slug if re.fullmatch(r"[a-z0-9][a-z0-9-]{1,63}", slug) else "new-mode",
        "title": f"TODO: {code}: {message}"[:120],
        "category": category,
        "severity": severity,
        "defect": status is not None and status >= 500 and status not in (502, 503, 504),
        "retryable": retryable,
        "recovery_mode": "operator",
        "mitigation": "TODO: what fixes or contains it",
        "expected_recovery": {"description": "TODO: how and how fast it recovers"},
        "signature": signature_doc,
    }
    seen = f"# seen {group['occurrences']} times in {group['runs']} runs, last {group['last_seen']}"
    return seen + "\n" + yaml.safe_dump([draft], sort_keys=False, allow_unicode=True)


def unrecovered(engine: Engine, since: datetime | None = None, limit: int = 100
                ) -> list[dict[str, Any]]:
    """Failures needing attention: recovery failed, or a defect, newest first."""
    flt = FailureFilter(status="attention", since=since or datetime.now(UTC) - timedelta(days=7),
                        limit=limit)  # filtered in SQL, so `limit` never cuts it short
    return list_failures(engine, flt)


def defects_of_run(engine: Engine, run_id: str) -> dict[str, int]:
    """Occurrences per defect mode (a broken recovery path) for one run."""
    with engine.connect() as conn:
        rows = conn.execute(select(FailureMatch.mode_id, func.sum(FailureMatch.occurrences))
                            .where(FailureMatch.run_id == run_id,
                                   FailureMatch.defect.is_(True))
                            .group_by(FailureMatch.mode_id))
        return {str(mode): int(n) for mode, n in rows}


def modes_of_run(engine: Engine, run_id: str) -> dict[str | None, int]:
    """Occurrences per matched mode (None: misses) for one run."""
    with engine.connect() as conn:
        rows = conn.execute(select(FailureMatch.mode_id, func.sum(FailureMatch.occurrences))
                            .where(FailureMatch.run_id == run_id)
                            .group_by(FailureMatch.mode_id))
        return {mode: int(n) for mode, n in rows}


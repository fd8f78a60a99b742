"""Tables of the catalogue database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.db import Base


class RunRecord(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)  # running or a verdict
    reason: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    journal_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    scenario_spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # replay: the exact scenario run
    target_spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # and the exact target


class LedgerEntry(Base):
    """One terminal outcome per synthetic operation (invariant 3)."""

    __tablename__ = "ledger"

    op_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    scenario: Mapped[str] = mapped_column(String(64), default="")
    slice_index: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)  # delivery attempt of the slice
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fault: Mapped[str | None] = mapped_column(String(120), nullable=True)
    input_hash: Mapped[str | None] = mapped_column(String(16), nullable=True)
    at: Mapped[float] = mapped_column(Float)
    # the HTTP request's path, never its query string (which may carry a secret)
    request_path: Mapped[str | None] = mapped_column(String(300), nullable=True)


class DeadLetter(Base):
    """An operation that failed permanently, with its error envelope. The payload is
    never stored: it is regenerated from the run's seed for a replay."""

    __tablename__ = "dead_letters"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    op_id: Mapped[str] = mapped_column(String(80), unique=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    scenario: Mapped[str] = mapped_column(String(64), index=True)
    operation: Mapped[str] = mapped_column(String(64))
    error_class: Mapped[str] = mapped_column(String(64), index=True)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    slice_index: Mapped[int] = mapped_column(Integer)
    op_index: Mapped[int] = mapped_column(Integer)
    replay_count: Mapped[int] = mapped_column(Integer, default=0)
    replay_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    replay_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FailureModeRecord(Base):
    """A catalogue entry as last loaded (the YAML file is the source of truth)."""

    __tablename__ = "failure_modes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    catalogue_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    defect: Mapped[bool] = mapped_column(Boolean)
    retryable: Mapped[bool] = mapped_column(Boolean)
    recovery_mode: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FailureMatch(Base):
    """One observed failure and the catalogue entry it matched (or a miss).

    The failure's own columns are written once and never changed; only the
    recovery columns are updated, by the run's recovery checks or an operator.
    The raw input is never stored: `input_hash` names it, and the message is
    normalised (literals masked)."""

    __tablename__ = "failure_matches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40))
    scenario: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    component: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_code: Mapped[str] = mapped_column(String(64))
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(String(16))
    mode_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    match_type: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[float] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(16), nullable=True)
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    defect: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    retryable: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    recovery_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    recovery_suggestion: Mapped[str | None] = mapped_column(Text, nullable=True)
    fault: Mapped[str | None] = mapped_column(String(120), nullable=True)
    input_hash: Mapped[str | None] = mapped_column(String(16), nullable=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # recovery tracking (the only columns that change)
    recovery_attempted: Mapped[bool] = mapped_column(Boolean, default=False)
    recovered: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    recovered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recovered_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    time_to_recover_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_failure_matches_run", "run_id"),
        Index("ix_failure_matches_error_code", "error_code"),
        Index("ix_failure_matches_mode", "mode_id"),
        Index("ix_failure_matches_occurred", "occurred_at"),
        Index("ix_failure_matches_category", "category"),
        Index("ix_failure_matches_severity", "severity"),
        Index("ix_failure_matches_signature", "signature"),
        Index("ix_failure_matches_unrecovered", "recovered", "occurred_at"),
    )


class EarlyWarning(Base):
    """One evaluation of one indicator of one failure mode (append-only: the trend)."""

    __tablename__ = "early_warnings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    mode_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(8))
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    action: Mapped[str] = mapped_column(Text)
    window_s: Mapped[float] = mapped_column(Float)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_early_warnings_mode_metric_at", "mode_id", "metric", "evaluated_at"),
        Index("ix_early_warnings_level", "level"),
    )


class StoredJournal(Base):
    """A run's or a suite's journal, as written: any host reads it from here, the
    controller's disk is only a copy (chaosfleet/reports/schemas.py validates it)."""

    __tablename__ = "journals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the run or suite id
    kind: Mapped[str] = mapped_column(String(8))  # run or suite
    doc: Mapped[str] = mapped_column(Text)  # the JSON document
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

"""Tables of the catalogue database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text
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
    scenario_spec: Mapped[dict] = mapped_column(JSON)  # replay: the exact scenario run
    target_spec: Mapped[dict] = mapped_column(JSON, default=dict)  # and the exact target


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
    envelope: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    slice_index: Mapped[int] = mapped_column(Integer)
    op_index: Mapped[int] = mapped_column(Integer)
    replay_count: Mapped[int] = mapped_column(Integer, default=0)
    replay_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    replay_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

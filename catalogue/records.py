"""The rows the fleet writes to the ledger and the dead-letter store, as frozen
records: each is built here and only here, and turned into a plain row (`as_row`)
only where it is written or spooled. Their tables are in catalogue/models.py.

A record says what it is; the writer (catalogue/recording.py) says where it goes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class LedgerOutcome(StrEnum):
    """The terminal outcomes of an operation in the ledger (invariant 3)."""

    OK = "ok"
    REJECTED = "rejected"
    DEAD_LETTERED = "dead_lettered"
    # a journey step never sent because an earlier step failed or a capture was
    # missing (the failure is the earlier step's)
    SKIPPED = "skipped"
    LOST = "lost"  # sent, but no terminal outcome was ever recorded


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One operation's account: exactly one per operation id."""

    op_id: str
    run_id: str
    scenario: str
    slice_index: int
    operation: str
    outcome: LedgerOutcome
    at: float
    attempt: int = 0  # delivery attempt of the slice; 0 when no slice recorded it
    latency_ms: float | None = None
    error_class: str | None = None
    fault: str | None = None
    input_hash: str | None = None
    request_path: str | None = None  # never the query string (it may carry a secret)

    def as_row(self) -> dict[str, Any]:
        return {"op_id": self.op_id, "run_id": self.run_id, "scenario": self.scenario,
                "slice_index": self.slice_index, "operation": self.operation,
                "attempt": self.attempt, "outcome": str(self.outcome),
                "latency_ms": self.latency_ms, "error_class": self.error_class,
                "fault": self.fault, "input_hash": self.input_hash, "at": self.at,
                "request_path": self.request_path}


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A permanent failure with its error envelope (DESIGN.md). The payload is never
    stored, only its hash: a replay regenerates it from the run's seed."""

    id: str
    op_id: str
    run_id: str
    scenario: str
    operation: str
    error_class: str
    envelope: dict[str, Any]
    created_at: datetime
    slice_index: int
    op_index: int

    @classmethod
    def of(cls, entry: LedgerRow, message: str, context: dict[str, Any],
           op_index: int, component: str = "traffic") -> DeadLetterRow:
        """The letter for a ledger entry that failed for good."""
        letter_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        envelope: dict[str, Any] = {
            "id": letter_id, "time": now.isoformat(), "component": component,
            "error_class": entry.error_class, "severity": "error", "message": message,
            "correlation_id": entry.op_id, "run_id": entry.run_id, "scenario": entry.scenario,
            "fault": entry.fault, "input_hash": entry.input_hash,
            "exception_type": entry.error_class, "exception_chain": [], "context": context,
        }
        return cls(id=letter_id, op_id=entry.op_id, run_id=entry.run_id,
                   scenario=entry.scenario, operation=entry.operation,
                   error_class=entry.error_class or "unknown", envelope=envelope,
                   created_at=now, slice_index=entry.slice_index, op_index=op_index)

    def as_row(self) -> dict[str, Any]:
        return {"id": self.id, "op_id": self.op_id, "run_id": self.run_id,
                "scenario": self.scenario, "operation": self.operation,
                "error_class": self.error_class, "envelope": self.envelope,
                "created_at": self.created_at, "slice_index": self.slice_index,
                "op_index": self.op_index, "replay_count": 0}

"""The ledger and the dead-letter store: batched, idempotent writes.

Inserts ignore rows whose operation id is already there, so a slice that is
redelivered after its worker died can never record an operation twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalogue.models import LedgerEntry
from catalogue.recording import write_batch

# `skipped`: a journey step never sent because an earlier step failed or a capture
# was missing (the failure is the earlier step's)
OUTCOMES = ("ok", "rejected", "dead_lettered", "skipped", "lost")


def write_entries(engine: Engine, entries: list[dict[str, Any]],
                  dead_letters: list[dict[str, Any]]) -> None:
    """One transaction, dead letters first: a ledger row saying `dead_lettered`
    always has its letter."""
    write_batch(engine, {"dead_letters": dead_letters, "ledger": entries})


def make_dead_letter(entry: dict[str, Any], scenario: str, message: str,
                     context: dict[str, Any], op_index: int) -> dict[str, Any]:
    """The error envelope (DESIGN.md): no raw input, only its hash."""
    letter_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    envelope = {
        "id": letter_id, "time": now.isoformat(), "component": "traffic",
        "error_class": entry["error_class"], "severity": "error", "message": message,
        "correlation_id": entry["op_id"], "run_id": entry["run_id"], "scenario": scenario,
        "fault": entry["fault"], "input_hash": entry["input_hash"],
        "exception_type": entry["error_class"], "exception_chain": [], "context": context,
    }
    return {"id": letter_id, "op_id": entry["op_id"], "run_id": entry["run_id"],
            "scenario": scenario, "operation": entry["operation"],
            "error_class": entry["error_class"] or "unknown", "envelope": envelope,
            "created_at": now, "slice_index": entry["slice_index"], "op_index": op_index,
            "replay_count": 0}


def recorded_op_ids(engine: Engine, run_id: str, slice_index: int) -> set[str]:
    stmt = select(LedgerEntry.op_id).where(LedgerEntry.run_id == run_id,
                                           LedgerEntry.slice_index == slice_index)
    with engine.connect() as conn:
        return set(conn.scalars(stmt))


def record_lost(engine: Engine, run_id: str, scenario: str, lost: list[tuple[int, str]],
                at: float) -> None:
    """Close the books: an operation sent without a terminal outcome is `lost`."""
    write_batch(engine, {"ledger": [
        {"op_id": op_id, "run_id": run_id, "scenario": scenario, "slice_index": index,
         "operation": "unknown",
         "attempt": 0, "outcome": "lost", "latency_ms": None, "error_class": None,
         "fault": None, "input_hash": None, "at": at}
        for index, op_id in lost
    ]})


def ledger_totals(engine: Engine, run_id: str) -> dict[str, int]:
    stmt = (select(LedgerEntry.outcome, func.count()).where(LedgerEntry.run_id == run_id)
            .group_by(LedgerEntry.outcome))
    with engine.connect() as conn:
        counts = Counter({outcome: n for outcome, n in conn.execute(stmt)})
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}


def count_ok(engine: Engine, run_id: str, operations: list[str]) -> int:
    """Operations of the run the target answered `ok`, among `operations`."""
    if not operations:
        return 0
    stmt = select(func.count()).where(LedgerEntry.run_id == run_id,
                                      LedgerEntry.outcome == "ok",
                                      LedgerEntry.operation.in_(operations))
    with engine.connect() as conn:
        return int(conn.scalar(stmt) or 0)

"""The ledger and the dead-letter store: batched, idempotent writes.

Inserts ignore rows whose operation id is already there, so a slice that is
redelivered after its worker died can never record an operation twice.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalogue.models import LedgerEntry
from catalogue.recording import write_batch
from catalogue.records import DeadLetterRow, LedgerOutcome, LedgerRow

OUTCOMES = tuple(str(o) for o in LedgerOutcome)


def write_entries(engine: Engine, entries: list[LedgerRow],
                  dead_letters: list[DeadLetterRow]) -> None:
    """One transaction, dead letters first: a ledger row saying `dead_lettered`
    always has its letter."""
    write_batch(engine, {"dead_letters": [d.as_row() for d in dead_letters],
                         "ledger": [e.as_row() for e in entries]})


def recorded_op_ids(engine: Engine, run_id: str, slice_index: int) -> set[str]:
    stmt = select(LedgerEntry.op_id).where(LedgerEntry.run_id == run_id,
                                           LedgerEntry.slice_index == slice_index)
    with engine.connect() as conn:
        return set(conn.scalars(stmt))


def record_lost(engine: Engine, run_id: str, scenario: str, lost: list[tuple[int, str]],
                at: float) -> None:
    """Close the books: an operation sent without a terminal outcome is `lost`."""
    write_batch(engine, {"ledger": [
        LedgerRow(op_id=op_id, run_id=run_id, scenario=scenario, slice_index=index,
                  operation="unknown", outcome=LedgerOutcome.LOST, at=at).as_row()
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

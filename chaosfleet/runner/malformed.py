"""Malformed inputs by field, for the report: which fields the target accepted or
crashed on, each with an input a person can send again (a crash's minimised
reproducer; an accepted input as it was sent), and a warning when the mutations
never reached more than one field."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from catalogue.models import LedgerEntry
from chaosfleet.runner.minimise import SHOWN
from chaosfleet.traffic.cursor import planned_ops
from chaosfleet.traffic.plan import SlicePlan

EXAMPLES_PER_FIELD = 3
BODY = "(body)"  # mutations that break the document, not one field


def _ok_op_ids(engine: Engine, run_id: str) -> set[str]:
    stmt = select(LedgerEntry.op_id).where(LedgerEntry.run_id == run_id,
                                           LedgerEntry.outcome == "ok")
    with engine.connect() as conn:
        return set(conn.scalars(stmt))


def _shown(body: bytes) -> str:
    text = body.decode("utf-8", "backslashreplace")
    return text[:SHOWN] + ("..." if len(text) > SHOWN else "")


def accepted_examples(engine: Engine, run_id: str, plans: list[SlicePlan]
                      ) -> dict[str, list[dict[str, Any]]]:
    """Up to EXAMPLES_PER_FIELD malformed inputs the target answered ok, by field.
    Rebuilt from the seeded plans (the ledger keeps hashes, never raw inputs)."""
    ok = _ok_op_ids(engine, run_id)
    found: dict[str, list[dict[str, Any]]] = {}
    for plan in plans:
        if not plan.malformed:
            continue
        for op in planned_ops(plan):
            mutation = op.mutation
            if mutation is None or op.op_id not in ok:
                continue
            examples = found.setdefault(mutation.field or BODY, [])
            if len(examples) < EXAMPLES_PER_FIELD:
                examples.append({"op_id": op.op_id, "operation": op.operation,
                                 "mutation": mutation.name, "detail": mutation.detail,
                                 "content_type": mutation.content_type,
                                 "reproducer": _shown(mutation.body)})
    return found


def by_field(counts: dict[str, dict[str, int]], crashes: list[dict[str, Any]],
             accepted: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every field the target did not reject cleanly, worst first (crashes, then
    acceptances), with its verdict counts and inputs to send again."""
    rows = []
    for field, verdicts in counts.items():
        if not set(verdicts) - {"rejected"}:
            continue
        rows.append({"field": field, "verdicts": verdicts,
                     "crashed": [c for c in crashes if (c.get("field") or BODY) == field],
                     "accepted": accepted.get(field, [])})
    return sorted(rows, key=lambda r: (-r["verdicts"].get("crashed", 0),
                                       -r["verdicts"].get("accepted", 0), r["field"]))


def coverage_warning(counts: dict[str, dict[str, int]]) -> str | None:
    """Mutations that all hit one field tested nothing inside it: say so."""
    fields = [f for f in counts if f != BODY]
    sent = sum(sum(v.values()) for f, v in counts.items() if f != BODY)
    if len(fields) == 1 and sent >= 10:
        return (f"all {sent} field-level malformed inputs hit one field, {fields[0]}: the "
                "payload has no other leaf to break; give its recipe the fields the real "
                "requests carry (at any depth) so the mutations reach them")
    return None

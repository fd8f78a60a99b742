"""Shrink a malformed input that crashed the target to the smallest payload that
still crashes it, so a report names a reproducer a person can read.

Greedy and bounded: halve the broken string, then drop the other fields the
crash does not need, keeping each step only if the target still answers 5xx. Runs after the
faults are reverted, against the run's own target, with its own idempotency
keys (never counted as the run's partial writes).
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from catalogue.models import DeadLetter
from chaosfleet.core.config import HttpTarget
from chaosfleet.core.recipes import MissingValue
from chaosfleet.targets.http import HttpClient, build_request
from chaosfleet.traffic.cursor import PlannedOp, planned_ops
from chaosfleet.traffic.plan import SlicePlan
from faults.malformed import Path, drop_at, get_at, leaves, set_at

MAX_CRASHES = 5  # distinct (operation, mutation) pairs minimised per run
MAX_SENDS = 40  # per crash
SHOWN = 500  # characters of the reproducer kept in the journal


def _crash_letters(engine: Engine, run_id: str) -> list[DeadLetter]:
    """The first dead letter of each (operation, mutation) that crashed the target."""
    stmt = (select(DeadLetter).where(DeadLetter.run_id == run_id)
            .order_by(DeadLetter.slice_index, DeadLetter.op_index))
    firsts: dict[tuple[str, str], DeadLetter] = {}
    with Session(engine) as session:
        for letter in session.scalars(stmt):
            context = (letter.envelope or {}).get("context") or {}
            mutation = context.get("mutation")
            if mutation and letter.error_class.startswith("http_5"):
                firsts.setdefault((letter.operation, mutation), letter)
    return list(firsts.values())[:MAX_CRASHES]


def _planned(plan: SlicePlan, n: int) -> PlannedOp:
    return next(islice(planned_ops(plan), n, None))


class _Prober:
    """Sends candidate bodies as the traffic would (the target's auth, templates
    and correlation headers), each with an idempotency key of its own."""

    def __init__(self, target: HttpTarget, operation: str, key_prefix: str,
                 payload: dict[str, Any]):
        self.target = target
        self.operation = operation
        self.payload = payload  # fills the request's templates (path, query)
        # a fresh connection per probe: a crashing server often drops its keep-alives
        self.http = HttpClient(target, fresh=True)
        self.key_prefix = key_prefix
        self.sends = 0

    def crashes(self, body: bytes, content_type: str) -> bool:
        self.sends += 1
        key = f"{self.key_prefix}{self.sends}"
        try:
            request = build_request(self.target, self.operation, self.payload, key,
                                    idempotency_key=key, raw=(body, content_type))
            status = self.http.send(request).status_code
        except (httpx.HTTPError, MissingValue):
            return False  # no answer is not the crash we are shrinking
        return status >= 500


def _shrink(prober: _Prober, doc: dict[str, Any], path: Path, original: dict[str, Any],
            content_type: str) -> dict[str, Any]:
    """Halve the broken string (at `path`, any depth) while it still crashes; then
    drop each other leaf that is not needed, i.e. whose absence alone (in the
    unmutated payload) does not crash the target either, so the reproducer keeps
    the one cause it shows."""
    def crashes(candidate: dict[str, Any]) -> bool:
        return (prober.sends < MAX_SENDS
                and prober.crashes(json.dumps(candidate).encode(), content_type))

    broken = _value(doc, path)
    while path and isinstance(broken, str) and len(broken) > 1:
        candidate = set_at(doc, path, broken[: len(broken) // 2])
        if not crashes(candidate):
            break
        doc, broken = candidate, broken[: len(broken) // 2]
    others = [p for p, _ in leaves(doc) if p != path and p[: len(path)] != path]
    for other in sorted(others, key=len, reverse=True):  # indices stay valid: deepest first
        if not _has(doc, other) or not _has(original, other):
            continue
        without, alone = drop_at(doc, other), drop_at(original, other)
        if not crashes(alone) and crashes(without):
            doc = without
    return doc


def _value(doc: Any, path: Path) -> Any:
    try:
        return get_at(doc, path) if path else None
    except (KeyError, IndexError, TypeError):
        return None


def _has(doc: Any, path: Path) -> bool:
    try:
        get_at(doc, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def minimise_crashes(engine: Engine, run_id: str, plans: list[SlicePlan]) -> list[dict[str, Any]]:
    by_index = {plan.index: plan for plan in plans}
    found = []
    for letter in _crash_letters(engine, run_id):
        plan = by_index.get(letter.slice_index)
        if plan is None:
            continue
        op = _planned(plan, letter.op_index)
        mutation = op.mutation
        if mutation is None:
            continue
        report: dict[str, Any] = {"op_id": letter.op_id, "operation": letter.operation,
                                  "mutation": mutation.name, "detail": mutation.detail,
                                  "field": mutation.field, "status": letter.error_class,
                                  "minimised": False}
        body = mutation.body
        if isinstance(plan.target, HttpTarget) and isinstance(mutation.payload, dict):
            prober = _Prober(plan.target, letter.operation, f"{run_id}-mxmin-{letter.op_index}-",
                             op.payload)
            if prober.crashes(body, mutation.content_type):
                small = _shrink(prober, mutation.payload, mutation.path, op.payload,
                                mutation.content_type)
                body = json.dumps(small).encode()
                report["minimised"] = True
            report["sends"] = prober.sends
        text = body.decode("utf-8", "backslashreplace")
        report["reproducer"] = text[:SHOWN] + ("..." if len(text) > SHOWN else "")
        report["reproducer_bytes"] = len(body)
        report["content_type"] = mutation.content_type
        found.append(report)
    return found

"""Which operations a slice attempt still has to send, and the high-water mark that
makes a redelivered slice finish what an earlier attempt started.

- Operations already in the ledger are skipped (the seeded payload source still
  advances, so every payload stays the same on every attempt).
- Before an operation past the high-water mark is sent, the mark is raised (in
  chunks) in Redis. A later attempt re-sends every unrecorded operation below the
  mark even after the slice's window has closed: with the same idempotency key,
  the target applies it once.
- An operation is `lost` only if it was sent and no attempt ever recorded it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chaosfleet.traffic.payloads import PayloadSource, input_hash
from chaosfleet.traffic.plan import SlicePlan


@dataclass(frozen=True)
class SliceProgress:
    """What earlier attempts of this slice left behind."""

    recorded: set[str] = field(default_factory=set)
    high_water: int = 0
    reserve: Callable[[int], None] = lambda _: None


@dataclass(frozen=True)
class PlannedOp:
    n: int
    op_id: str
    operation: str
    payload: dict[str, Any]
    input_hash: str
    due: float
    owed: bool  # reserved by an earlier attempt: send it even after the window closed


class SliceCursor:
    def __init__(self, plan: SlicePlan, progress: SliceProgress):
        self.plan = plan
        self.progress = progress
        self.window_end = plan.starts_at + plan.duration
        self.reserved = progress.high_water
        self.chunk = max(1, int(plan.rate))  # about one Redis write per second of traffic
        self.issued = 0  # operations 0..issued-1 were sent by this or an earlier attempt

    def ops(self) -> Iterator[PlannedOp]:
        source = PayloadSource(self.plan.operations, self.plan.seed, self.plan.index)
        for n in range(self.plan.op_count):
            name, payload = source.next()
            op_id = self.plan.op_id(n)
            if op_id in self.progress.recorded:
                self.issued = n + 1
                continue
            yield PlannedOp(n, op_id, name, payload, input_hash(payload),
                            self.plan.starts_at + n / self.plan.rate,
                            owed=n < self.progress.high_water)

    def wait_budget(self, op: PlannedOp) -> float | None:
        """How long the op may wait for a free slot: owed ops wait as long as it takes."""
        return None if op.owed else max(0.0, self.window_end - time.time())

    def mark_sending(self, op: PlannedOp) -> None:
        if op.n >= self.reserved:
            self.reserved = op.n + self.chunk
            self.progress.reserve(self.reserved)
        self.issued = op.n + 1

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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from chaosfleet.core import clock
from chaosfleet.core.config import PythonTarget
from chaosfleet.core.recipes import has_pending
from chaosfleet.traffic.payloads import PayloadSource, derive_seed
from chaosfleet.traffic.plan import SlicePlan
from faults.malformed import Mutation, draw
from scenarios.model import JourneyStep


@dataclass(frozen=True)
class SliceProgress:
    """What earlier attempts of this slice left behind."""

    recorded: set[str] = field(default_factory=set)
    high_water: int = 0
    reserve: Callable[[int], None] = lambda _: None
    reserved: int = 0  # where this attempt already raised the mark as it began


def reservation_chunk(plan: SlicePlan) -> int:
    """How far the mark is raised at a time: about one Redis write per second of traffic."""
    return max(1, int(plan.rate))


def first_reservation(plan: SlicePlan, now: float) -> int:
    """How far a first attempt may raise the mark in the round trip that begins it,
    saving the one before its first send: its first chunk, and only when its first
    operation is due now (a slice taken off a backlog). A slice that is early waits
    for its start and reserves when it sends, so an attempt lost before its first
    operation is due has reserved nothing."""
    due_now = plan.starts_at <= now < plan.starts_at + plan.duration
    return reservation_chunk(plan) if due_now else 0


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
class PlannedStep:
    """One step of a journey: one ledger operation, with an id of its own."""

    k: int
    op_id: str
    operation: str
    payload: Any  # seeded; may hold Pending templates (filled at send time)
    input_hash: str
    step: JourneyStep
    mutation: Mutation | None = None


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
class PlannedOp:
    """Unit n of a slice: one operation of the mix, or one journey (`steps`)."""

    n: int
    op_id: str
    operation: str  # the operation, or the journey's name
    payload: dict[str, Any]
    input_hash: str
    due: float
    owed: bool  # reserved by an earlier attempt: send it even after the window closed
    mutation: Mutation | None = None  # a malformed-input fault's version of the payload
    steps: tuple[PlannedStep, ...] = ()
    done_steps: frozenset[str] = frozenset()  # steps an earlier attempt recorded

    @property
    def op_ids(self) -> list[str]:
        """Every ledger id this unit owes."""
        return [s.op_id for s in self.steps] if self.steps else [self.op_id]


class SliceCursor:
    def __init__(self, plan: SlicePlan, progress: SliceProgress):
        self.plan = plan
        self.progress = progress
        self.window_end = plan.starts_at + plan.duration
        self.reserved = max(progress.high_water, progress.reserved)
        self.chunk = reservation_chunk(plan)
        self.issued = 0  # operations 0..issued-1 were sent by this or an earlier attempt

    def ops(self) -> Iterator[PlannedOp]:
        recorded = self.progress.recorded
        if not recorded and not self.progress.high_water:  # a first attempt: all of them
            yield from planned_ops(self.plan)
            return
        for op in planned_ops(self.plan):
            done = [i for i in op.op_ids if i in recorded]
            if len(done) == len(op.op_ids):
                self.issued = op.n + 1
                continue
            if op.n < self.progress.high_water:
                op = replace(op, owed=True, done_steps=frozenset(done))
            yield op

    def wait_budget(self, op: PlannedOp) -> float | None:
        """How long the op may wait for a free slot: owed ops wait as long as it takes."""
        return None if op.owed else max(0.0, self.window_end - clock.now())

    def too_late(self, op: PlannedOp, now: float) -> bool:
        """The window has closed at `now`: the op is not sent late (an owed op always
        is). Checked before every send, not only when the slice is at its concurrency
        limit, so a slice that falls behind a fast target still ends on time."""
        return not op.owed and now >= self.window_end

    def mark_sending(self, op: PlannedOp) -> None:
        if op.n >= self.reserved:
            self.reserved = op.n + self.chunk
            self.progress.reserve(self.reserved)
        self.issued = op.n + 1


def _mutation(plan: SlicePlan, n: int, due: float, operation: str, payload: Any,
              salt: int = 0) -> Mutation | None:
    """A malformed-input window's version of this payload, if one covers it."""
    if not plan.malformed or not isinstance(payload, dict) or has_pending(payload):
        return None  # a payload that reads captures is only known at send time
    in_process = isinstance(plan.target, PythonTarget)
    for window in plan.malformed:
        if window.start <= due < window.end and operation in window.spec.operations:
            return draw(plan.seed, plan.index, n * 64 + salt if salt else n, window.spec,
                        in_process, payload, derive_seed)
    return None


def planned_ops(plan: SlicePlan) -> Iterator[PlannedOp]:
    """Every unit of a slice, in order, exactly as any attempt sends it."""
    source = PayloadSource(plan.operations, plan.seed, plan.index, plan.journeys,
                           plan.run_id)
    if plan.journeys:
        yield from _planned_journeys(plan, source)
        return
    # one operation per unit: the loop every operation of a slice passes through,
    # kept to what each needs (about 1.5 us per operation)
    starts_at, rate, malformed = plan.starts_at, plan.rate, bool(plan.malformed)
    prefix = plan.op_id_prefix
    next_operation = source.next_operation
    for n in range(plan.op_count):
        name, payload, digest = next_operation()
        due = starts_at + n / rate
        mutation = _mutation(plan, n, due, name, payload) if malformed else None
        yield PlannedOp(n, f"{prefix}{n}", name, payload,
                        mutation.input_hash if mutation else digest, due, False, mutation)


def _planned_journeys(plan: SlicePlan, source: PayloadSource) -> Iterator[PlannedOp]:
    starts_at, rate = plan.starts_at, plan.rate
    for n in range(plan.op_count):
        unit = source.next()
        due = starts_at + n / rate
        op_id = plan.op_id(n)
        steps = []
        for k, draw_ in enumerate(unit.steps):
            assert draw_.step is not None
            mutation = _mutation(plan, n, due, draw_.operation, draw_.payload, k + 1)
            digest = mutation.input_hash if mutation else draw_.input_hash
            steps.append(PlannedStep(k, f"{op_id}.{k}", draw_.operation,
                                     draw_.payload, digest, draw_.step, mutation))
        yield PlannedOp(n, op_id, unit.name, {}, steps[0].input_hash, due,
                        owed=False, steps=tuple(steps))

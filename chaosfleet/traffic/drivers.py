"""Drive one slice against a target: an event loop for HTTP, threads for Python callables.

Pacing is open-loop: operation n is due at `starts_at + n / rate` whatever the
target's latency, so a slow target meets the same load a real one would. At most
`concurrency` operations are in flight; one that cannot start before the slice's
window closes is counted as not sent rather than sent late, so a slice always
ends within its window plus the target's timeout (owed operations of a
redelivered slice excepted: see cursor.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from redis.client import Pipeline

from chaosfleet.core import clock
from chaosfleet.core.config import HttpTarget, PythonTarget, degraded_code
from chaosfleet.core.outcomes import Outcome
from chaosfleet.core.recipes import MissingValue, resolve
from chaosfleet.targets.http import (
    BACKOFF_STATUSES,
    Reply,
    build_request,
    read_answer,
    says_when_to_retry,
    shape_of,
)
from chaosfleet.targets.python import import_callable
from chaosfleet.traffic import http_client
from chaosfleet.traffic.cursor import PlannedOp, SliceCursor, SliceProgress
from chaosfleet.traffic.journeys import (
    INTERRUPTED,
    SKIPPED_AFTER_FAILURE,
    SKIPPED_CAPTURE,
    capture_values,
    credentials,
    reads_body,
    step_headers,
)
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder, Seen
from faults.malformed import Mutation, names_field

FLUSH_EVERY = 1.0


def judge_mutation(mutation: Mutation, outcome: Outcome, text: str) -> str:
    """How the target took a malformed input: rejected (naming the field), unnamed
    (rejected without naming it), accepted, crashed (5xx / unexpected exception),
    timeout or unreachable."""
    if outcome is Outcome.REJECTED:
        return "rejected" if names_field(mutation, text) else "unnamed"
    if outcome is Outcome.OK:
        return "accepted"
    if outcome is Outcome.TIMEOUT:
        return "timeout"
    return "crashed"


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
class Exchange:
    """One request and its answer, as the recorder needs them."""

    reply: Reply
    started: float
    latency_ms: float
    text: str = ""  # the answer's text, kept only to judge a malformed input
    path: str | None = None  # the request's path, for the ledger (never the query)


class HttpSlice:
    """One slice against an HTTP target: the process's client (traffic/http_client.py),
    requests built and answers read by the target kind (chaosfleet/targets/http.py)."""

    def __init__(self, plan: SlicePlan, target: HttpTarget, recorder: Recorder,
                 client: http_client.Client):
        self.plan = plan
        self.target = target
        self.recorder = recorder
        self.client = client
        self.shapes = {name: shape_of(target, name) for name in target.operations}

    async def exchange(self, operation: str, payload: Any, op_id: str, key: str,
                       mutation: Mutation | None = None, reads_body: bool = False,
                       **kwargs: Any) -> Exchange:
        """One request and its answer; a successful answer's JSON is parsed only when
        something reads it (`reads_body`: a capture; or a degraded rule)."""
        started, began = clock.now(), time.monotonic()
        target = self.target
        spec = target.operations[operation]
        raw_body = (mutation.body, mutation.content_type) if mutation else None
        text = ""
        path = None
        try:
            request = build_request(target, operation, payload, op_id, idempotency_key=key,
                                    raw=raw_body, shape=self.shapes[operation], **kwargs)
            path = request.path
            answer = await http_client.send(self.client, request)
            reply = read_answer(target, spec, answer.status, answer.body, answer.headers,
                                body=reads_body or bool(spec.degraded))
            if mutation:
                text = answer.body.decode(errors="replace")
        except http_client.TransportError as exc:
            reply = http_client.transport_reply(exc)
        return Exchange(reply, started, (time.monotonic() - began) * 1000, text, path)

    def record(self, op_id: str, operation: str, digest: str, n: int, ex: Exchange,
               payload: Any, mutation: Mutation | None = None) -> None:
        reply = ex.reply
        seen: Seen | None = None  # a clean success says nothing more
        if reply.outcome is not Outcome.OK or mutation:
            seen = Seen(reply.code, reply.message, reply.status)
        elif rules := self.target.operations[operation].degraded:
            seen = Seen(degraded_code(rules, payload, reply.body) or "", "", reply.status)
        if mutation:
            self.recorder.record_mutation(mutation,
                                          judge_mutation(mutation, reply.outcome, ex.text))
        elif reply.status in BACKOFF_STATUSES:
            self.recorder.record_backoff(reply.status,
                                         says_when_to_retry(reply.headers.get("Retry-After")))
        self.recorder.record(op_id, operation, ex.started, reply.outcome, ex.latency_ms,
                             reply.error, digest, n, mutation, seen, ex.path)

    async def single(self, op: PlannedOp) -> None:
        mutation = op.mutation
        key = self.plan.mutated_key(op.n) if mutation else op.op_id
        ex = await self.exchange(op.operation, op.payload, op.op_id, key, mutation)
        self.record(op.op_id, op.operation, op.input_hash, op.n, ex, op.payload, mutation)

    async def journey(self, op: PlannedOp) -> None:
        """The steps in order; once one fails (or a capture is missing) the rest
        are recorded `skipped` with the reason, never sent and never `ok`."""
        if op.done_steps:  # an earlier attempt died mid-journey: its captures are gone
            for st in op.steps:
                if st.op_id not in op.done_steps:
                    self.recorder.record_interrupted(st.op_id, st.operation, st.input_hash,
                                                     op.n, INTERRUPTED)
            return
        names: dict[str, Any] = {}
        auth: dict[str, str] | None = None
        stopped: tuple[str, str] | None = None  # (error class, why)
        for st in op.steps:
            if stopped is not None:
                self.recorder.record_skipped(st.op_id, st.operation, st.input_hash, op.n,
                                             *stopped)
                continue
            try:
                payload = resolve(st.payload, names)
                headers = step_headers(st.step, names)
                key = (f"{self.plan.mutated_key(op.n)}.{st.k}" if st.mutation else st.op_id)
                ex = await self.exchange(st.operation, payload, st.op_id, key, st.mutation,
                                         reads_body(st.step), names=names, headers=headers,
                                         auth=auth)
            except MissingValue as exc:
                stopped = (SKIPPED_CAPTURE, str(exc))
                self.recorder.record_skipped(st.op_id, st.operation, st.input_hash, op.n,
                                             *stopped)
                continue
            self.record(st.op_id, st.operation, st.input_hash, op.n, ex, payload, st.mutation)
            reply = ex.reply
            if reply.outcome is not Outcome.OK:
                stopped = (SKIPPED_AFTER_FAILURE,
                           f"step {st.k} ({st.operation}) ended {reply.error or reply.outcome}")
                continue
            try:
                names.update(capture_values(st.step, reply.status or 0, reply.body,
                                            reply.headers, payload))
                auth = credentials(st.step, names, self.target) or auth
            except MissingValue as exc:
                stopped = (SKIPPED_CAPTURE, str(exc))


_NOT_YET = object()  # the next operation must wait: for its due time, or for a flush


class HttpPacer:
    """Hands a slice's operations to its senders in order, each at its due time.

    One sender at a time holds the turn: it takes the next operation, sleeps until
    that operation is due, and leaves with it, so operations start in order and
    only one timer is armed however many senders wait. While nobody holds the turn,
    an operation already due is handed out at once, without taking it (the common
    case of a busy slice). A sender only asks for an operation once its last one is
    done, so at most `concurrency` are in flight, and an operation that waits for a
    free sender past the window is not sent."""

    def __init__(self, plan: SlicePlan, cursor: SliceCursor, recorder: Recorder,
                 should_stop: Callable[[], bool]):
        self.plan = plan
        self.cursor = cursor
        self.recorder = recorder
        self.should_stop = should_stop
        self.ops = cursor.ops()
        self.turn = asyncio.Lock()
        self.over = False
        self.last_flush = time.monotonic()
        self._ahead: PlannedOp | None = None  # taken from `ops`, not yet handed out

    async def next(self) -> PlannedOp | None:
        """The next operation to send now, or None once the slice is over."""
        if not self.turn.locked() and (op := self._due_now()) is not _NOT_YET:
            return op  # type: ignore[return-value]
        async with self.turn:
            return await self._next_in_turn()

    def _due_now(self) -> PlannedOp | object | None:
        """The next operation if it may go without waiting, else `_NOT_YET`."""
        if self.over:
            return None
        if time.monotonic() - self.last_flush >= FLUSH_EVERY:
            return _NOT_YET
        op = self._peek()
        if op is None:
            return self._end()
        now = clock.now()
        return _NOT_YET if op.due > now else self._hand_out(op, now)

    async def _next_in_turn(self) -> PlannedOp | None:
        if self.over:
            return None
        if time.monotonic() - self.last_flush >= FLUSH_EVERY:
            await asyncio.to_thread(self.recorder.flush)
            self.last_flush = time.monotonic()
            if self.should_stop():
                return self._end()
        op = self._peek()
        if op is None:
            return self._end()
        now = clock.now()
        if (delay := op.due - now) > 0:
            await asyncio.sleep(delay)
            now = clock.now()
            self.recorder.record_lag(now - op.due)  # the harness's own oversleep
        return self._hand_out(op, now)

    def _peek(self) -> PlannedOp | None:
        if self._ahead is None:
            self._ahead = next(self.ops, None)
        return self._ahead

    def _hand_out(self, op: PlannedOp, now: float) -> PlannedOp | None:
        self._ahead = None
        if self.cursor.too_late(op, now):
            self.recorder.record_not_sent(self.plan.op_count - op.n)
            return self._end()
        self.cursor.mark_sending(op)
        return op

    def _end(self) -> PlannedOp | None:
        """The slice is over: no sender gets another operation."""
        self.over = True
        return None


async def _run_http(plan: SlicePlan, target: HttpTarget, recorder: Recorder,
                    cursor: SliceCursor, should_stop: Callable[[], bool]) -> None:
    # the target's timeout is the fleet's deadline per operation
    client = http_client.client_for(target.timeout, plan.concurrency)
    driver = HttpSlice(plan, target, recorder, client)
    pacer = HttpPacer(plan, cursor, recorder, should_stop)

    async def sender() -> None:  # one per slot: no task, no semaphore per operation
        while (op := await pacer.next()) is not None:
            await (driver.journey(op) if op.steps else driver.single(op))

    await asyncio.gather(*(sender() for _ in range(plan.concurrency)))


def _run_python(plan: SlicePlan, target: PythonTarget, recorder: Recorder,
                cursor: SliceCursor, should_stop: Callable[[], bool]) -> None:
    """Call the target's own code in-process. A call cannot be interrupted, so one
    that returns after the deadline is recorded as a timeout."""
    calls = {name: import_callable(op.call) for name, op in target.operations.items()}
    degraded = {name: op.degraded for name, op in target.operations.items()}
    rejects = set(target.rejects)
    gate = threading.Semaphore(plan.concurrency)

    def one(op: PlannedOp) -> None:
        started, began = clock.now(), time.monotonic()
        error: str | None = None
        mutation = op.mutation
        text = ""
        seen: Seen | None = None  # a clean success says nothing
        try:
            if mutation:
                calls[op.operation](mutation.payload, operation_id=plan.mutated_key(op.n))
            else:
                result = calls[op.operation](op.payload, operation_id=op.op_id)
                if rules := degraded[op.operation]:
                    seen = Seen(degraded_code(rules, op.payload, result) or "")
            outcome = Outcome.OK
        except SoftTimeLimitExceeded:
            raise  # the slice's limit, not the target's failure: the task settles the op
        except Exception as exc:
            error, text = type(exc).__name__, str(exc)
            outcome = Outcome.REJECTED if error in rejects else Outcome.ERROR
            seen = Seen(error, text[:300])
        elapsed = time.monotonic() - began
        if elapsed > target.timeout:
            outcome, error = Outcome.TIMEOUT, "deadline_exceeded"
            seen = Seen(error, f"call took {elapsed:.1f}s")
        if mutation:
            recorder.record_mutation(mutation, judge_mutation(mutation, outcome, text))
        recorder.record(op.op_id, op.operation, started, outcome, elapsed * 1000, error,
                        op.input_hash, op.n, mutation, seen)

    def one_in_pool(op: PlannedOp) -> None:
        try:
            one(op)
        finally:
            gate.release()

    # one at a time: calls run inline on the slice's thread, as a pool would only add
    # two thread switches per operation, and a semaphore that is always free
    inline = plan.concurrency == 1
    last_flush = clock.now()
    running: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=plan.concurrency) as pool:
        for op in cursor.ops():
            now = clock.now()
            if (delay := op.due - now) > 0:
                time.sleep(delay)
                now = clock.now()
                recorder.record_lag(now - op.due)
            if now - last_flush >= FLUSH_EVERY:
                recorder.flush()
                last_flush = clock.now()
                if should_stop():
                    break
            if cursor.too_late(op, now) or not (
                    inline or gate.acquire(timeout=cursor.wait_budget(op))):
                recorder.record_not_sent(plan.op_count - op.n)
                break
            cursor.mark_sending(op)
            if inline:
                one(op)
            else:
                running.append(pool.submit(one_in_pool, op))
                if len(running) > 4 * plan.concurrency:
                    running = _unfinished(running)
    _unfinished(running)


def _unfinished(futures: list[Future[None]]) -> list[Future[None]]:
    """The calls still running. A call that raised past its own handling (the
    recorder broke) raises here, on the slice's thread, so the slice fails at once
    and says why, instead of its operation turning up later as `lost`."""
    pending = []
    for future in futures:
        if future.done():
            future.result()
        else:
            pending.append(future)
    return pending


def run_slice(plan: SlicePlan, recorder: Recorder, should_stop: Callable[[], bool],
              progress: SliceProgress | None = None,
              on_done: Callable[[int, Pipeline], None] | None = None) -> int:
    """Run one attempt of a slice; returns how many operations (from the first)
    have now been sent by this or an earlier attempt. `on_done` gets that number
    and the Redis round trip of the last counts, once every row is written."""
    cursor = SliceCursor(plan, progress or SliceProgress())
    target = plan.target
    if isinstance(target, HttpTarget):
        http_client.run_loop(_run_http(plan, target, recorder, cursor, should_stop))
    elif isinstance(target, PythonTarget):
        _run_python(plan, target, recorder, cursor, should_stop)
    recorder.flush(final=True, also=None if on_done is None
                   else lambda pipe: on_done(cursor.issued, pipe))
    return cursor.issued

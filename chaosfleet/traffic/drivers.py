"""Drive one slice against a target: asyncio for HTTP, threads for Python callables.

Pacing is open-loop: operation n is due at `starts_at + n / rate` whatever the
target's latency, so a slow target meets the same load a real one would. At most
`concurrency` operations are in flight; one that cannot start before the slice's
window closes is counted as not sent rather than sent late, so a slice always
ends within its window plus the target's timeout (owed operations of a
redelivered slice excepted: see cursor.py).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from celery.exceptions import SoftTimeLimitExceeded

from chaosfleet.config import HttpTarget, PythonTarget, degraded_code
from chaosfleet.traffic.cursor import PlannedOp, SliceCursor, SliceProgress
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder, Seen
from chaosfleet.traffic.stats import Outcome
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


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def describe_error_body(raw: bytes) -> tuple[str | None, str]:
    """The target's own error code and message from a JSON error body
    (`{"error": ..., "reason"|"message"|"detail": ...}`, field lists named by
    field), or (None, first line of a text body)."""
    body = parse_json(raw)
    if body is None:
        text = raw.decode(errors="replace").strip()
        return None, text.splitlines()[0][:200] if text else ""
    if not isinstance(body, dict):
        return None, ""
    code = next((body[k] for k in ("error", "code") if isinstance(body.get(k), str)), None)
    message = next((body[k] for k in ("reason", "message", "detail")
                    if isinstance(body.get(k), str)), "")
    fields = body.get("fields")
    if not message and isinstance(fields, list):
        message = "; ".join(f"{f.get('field')}: {f.get('message')}" for f in fields
                            if isinstance(f, dict))
    return code, message[:300]


def classify_status(status: int) -> tuple[Outcome, str | None]:
    if status < 400:
        return Outcome.OK, None
    if status < 500:
        return Outcome.REJECTED, f"http_{status}"
    return Outcome.ERROR, f"http_{status}"


async def _run_http(plan: SlicePlan, target: HttpTarget, recorder: Recorder,
                    cursor: SliceCursor, should_stop: Callable[[], bool]) -> None:
    """aiohttp, one session per slice: it costs a fraction of httpx's CPU per request
    (bench/RESULTS.md), and a slice is CPU-bound long before nginx is."""
    headers = target.auth.resolve() if target.auth else {}
    base = target.base_url.rstrip("/")
    gate = asyncio.Semaphore(plan.concurrency)
    connector = aiohttp.TCPConnector(limit=plan.concurrency, limit_per_host=plan.concurrency)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers,
        timeout=aiohttp.ClientTimeout(total=target.timeout),  # the fleet's deadline per op
    ) as session:

        async def one(op: PlannedOp) -> None:
            spec = target.operations[op.operation]
            mutation = op.mutation
            key = plan.mutated_key(op.n) if mutation else op.op_id
            extra = {spec.idempotency_header: key} if spec.idempotency_header else {}
            if mutation:
                extra["content-type"] = mutation.content_type
                sent: dict[str, Any] = {"data": mutation.body}
            else:
                sent = {"json": op.payload}
            started = time.time()
            text = ""
            seen = Seen()
            try:
                async with session.request(spec.method, base + spec.path, headers=extra,
                                           **sent) as response:
                    raw = await response.read()
                status = response.status
                if mutation:
                    text = raw.decode(errors="replace")
                outcome, error = classify_status(status)
                if outcome is not Outcome.OK:
                    code, message = describe_error_body(raw)
                    seen = Seen(code or error or "", message, status)
                elif spec.degraded and not mutation:
                    seen = Seen(degraded_code(spec.degraded, op.payload, parse_json(raw)) or "",
                                "", status)
            except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors
                outcome, error = Outcome.TIMEOUT, "client_timeout"
                seen = Seen(error, type(exc).__name__)
            except aiohttp.ClientError as exc:
                outcome, error = Outcome.ERROR, type(exc).__name__
                seen = Seen(error, str(exc))
            finally:
                gate.release()
            if mutation:
                recorder.record_mutation(mutation, judge_mutation(mutation, outcome, text))
            recorder.record(op.op_id, op.operation, started, outcome,
                            (time.time() - started) * 1000, error, op.input_hash, op.n,
                            mutation, seen)

        tasks: set[asyncio.Task[None]] = set()
        last_flush = time.time()
        for op in cursor.ops():
            if (delay := op.due - time.time()) > 0:
                await asyncio.sleep(delay)
            if time.time() - last_flush >= FLUSH_EVERY:
                await asyncio.to_thread(recorder.flush)
                last_flush = time.time()
                if should_stop():
                    break
            if cursor.too_late(op):
                recorder.record_not_sent(plan.op_count - op.n)
                break
            if gate.locked():  # wait for a slot, within the window
                try:
                    await asyncio.wait_for(gate.acquire(), cursor.wait_budget(op))
                except TimeoutError:
                    recorder.record_not_sent(plan.op_count - op.n)
                    break
            else:
                await gate.acquire()
            cursor.mark_sending(op)
            task = asyncio.create_task(one(op))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


def import_callable(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path} is not callable")
    return obj


def _run_python(plan: SlicePlan, target: PythonTarget, recorder: Recorder,
                cursor: SliceCursor, should_stop: Callable[[], bool]) -> None:
    """Call the target's own code in-process. A call cannot be interrupted, so one
    that returns after the deadline is recorded as a timeout."""
    calls = {name: import_callable(op.call) for name, op in target.operations.items()}
    rejects = set(target.rejects)
    gate = threading.Semaphore(plan.concurrency)

    def one(op: PlannedOp) -> None:
        started = time.time()
        error: str | None = None
        mutation = op.mutation
        text = ""
        seen = Seen()
        try:
            if mutation:
                calls[op.operation](mutation.payload, operation_id=plan.mutated_key(op.n))
            else:
                result = calls[op.operation](op.payload, operation_id=op.op_id)
                rules = target.operations[op.operation].degraded
                if rules:
                    seen = Seen(degraded_code(rules, op.payload, result) or "")
            outcome = Outcome.OK
        except SoftTimeLimitExceeded:
            raise  # the slice's limit, not the target's failure: the task settles the op
        except Exception as exc:
            error, text = type(exc).__name__, str(exc)
            outcome = Outcome.REJECTED if error in rejects else Outcome.ERROR
            seen = Seen(error, text[:300])
        finally:
            gate.release()
        elapsed = time.time() - started
        if elapsed > target.timeout:
            outcome, error = Outcome.TIMEOUT, "deadline_exceeded"
            seen = Seen(error, f"call took {elapsed:.1f}s")
        if mutation:
            recorder.record_mutation(mutation, judge_mutation(mutation, outcome, text))
        recorder.record(op.op_id, op.operation, started, outcome, elapsed * 1000, error,
                        op.input_hash, op.n, mutation, seen)

    last_flush = time.time()
    with ThreadPoolExecutor(max_workers=plan.concurrency) as pool:
        for op in cursor.ops():
            if (delay := op.due - time.time()) > 0:
                time.sleep(delay)
            if time.time() - last_flush >= FLUSH_EVERY:
                recorder.flush()
                last_flush = time.time()
                if should_stop():
                    break
            if cursor.too_late(op) or not gate.acquire(timeout=cursor.wait_budget(op)):
                recorder.record_not_sent(plan.op_count - op.n)
                break
            cursor.mark_sending(op)
            if plan.concurrency == 1:  # one at a time: a pool would only add two thread
                one(op)                # switches per operation (bench/RESULTS.md)
            else:
                pool.submit(one, op)


def run_slice(plan: SlicePlan, recorder: Recorder, should_stop: Callable[[], bool],
              progress: SliceProgress | None = None) -> int:
    """Run one attempt of a slice; returns how many operations (from the first)
    have now been sent by this or an earlier attempt."""
    cursor = SliceCursor(plan, progress or SliceProgress())
    target = plan.target
    if isinstance(target, HttpTarget):
        asyncio.run(_run_http(plan, target, recorder, cursor, should_stop))
    elif isinstance(target, PythonTarget):
        _run_python(plan, target, recorder, cursor, should_stop)
    recorder.flush(final=True)
    return cursor.issued

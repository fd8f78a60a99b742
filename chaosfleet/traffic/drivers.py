"""Drive one slice against a target: asyncio for HTTP, threads for Python callables.

Pacing is open-loop: operation n is due at `starts_at + n / rate` whatever the
target's latency, so a slow target meets the same load a real one would. At most
`concurrency` operations are in flight; one that cannot start before the slice's
window closes is counted as not sent rather than sent late, so a slice always
ends within its window plus the target's timeout.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from chaosfleet.config import HttpTarget, PythonTarget
from chaosfleet.traffic.payloads import PayloadSource
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.stats import Outcome, StatsBatch

FLUSH_EVERY = 1.0


def classify_status(status: int) -> tuple[Outcome, str | None]:
    if status < 400:
        return Outcome.OK, None
    if status < 500:
        return Outcome.REJECTED, f"http_{status}"
    return Outcome.ERROR, f"http_{status}"


async def _run_http(
    plan: SlicePlan, target: HttpTarget, batch: StatsBatch, should_stop: Callable[[], bool]
) -> None:
    source = PayloadSource(plan.operations, plan.seed, plan.index)
    headers = target.auth.resolve() if target.auth else {}
    limits = httpx.Limits(
        max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency
    )
    gate = asyncio.Semaphore(plan.concurrency)
    async with httpx.AsyncClient(
        base_url=target.base_url, timeout=target.timeout, limits=limits, headers=headers
    ) as client:

        async def one(n: int, name: str, payload: dict[str, Any]) -> None:
            op = target.operations[name]
            extra = {op.idempotency_header: plan.op_id(n)} if op.idempotency_header else {}
            started = time.time()
            try:
                response = await client.request(op.method, op.path, json=payload, headers=extra)
                outcome, error = classify_status(response.status_code)
            except httpx.TimeoutException:
                outcome, error = Outcome.TIMEOUT, "client_timeout"
            except httpx.HTTPError as exc:
                outcome, error = Outcome.ERROR, type(exc).__name__
            finally:
                gate.release()
            batch.record(started, outcome, (time.time() - started) * 1000, error)

        tasks: set[asyncio.Task[None]] = set()
        last_flush = time.time()
        window_end = plan.starts_at + plan.duration
        for n in range(plan.op_count):
            due = plan.starts_at + n / plan.rate
            if (delay := due - time.time()) > 0:
                await asyncio.sleep(delay)
            if time.time() - last_flush >= FLUSH_EVERY:
                batch.flush()
                last_flush = time.time()
                if should_stop():
                    break
            try:
                await asyncio.wait_for(gate.acquire(), max(0.0, window_end - time.time()))
            except TimeoutError:
                batch.record_not_sent(plan.op_count - n)
                break
            name, payload = source.next()
            task = asyncio.create_task(one(n, name, payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


def run_http_slice(
    plan: SlicePlan, target: HttpTarget, batch: StatsBatch, should_stop: Callable[[], bool]
) -> None:
    asyncio.run(_run_http(plan, target, batch, should_stop))


def import_callable(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path} is not callable")
    return obj


def run_python_slice(
    plan: SlicePlan, target: PythonTarget, batch: StatsBatch, should_stop: Callable[[], bool]
) -> None:
    """Call the target's own code in-process. A call cannot be interrupted, so one
    that returns after the deadline is recorded as a timeout."""
    source = PayloadSource(plan.operations, plan.seed, plan.index)
    calls = {name: import_callable(op.call) for name, op in target.operations.items()}
    rejects = set(target.rejects)

    gate = threading.Semaphore(plan.concurrency)

    def one(n: int, name: str, payload: dict[str, Any]) -> None:
        started = time.time()
        error: str | None = None
        try:
            calls[name](payload, operation_id=plan.op_id(n))
            outcome = Outcome.OK
        except Exception as exc:
            error = type(exc).__name__
            outcome = Outcome.REJECTED if error in rejects else Outcome.ERROR
        finally:
            gate.release()
        elapsed = time.time() - started
        if elapsed > target.timeout:
            outcome, error = Outcome.TIMEOUT, "deadline_exceeded"
        batch.record(started, outcome, elapsed * 1000, error)

    last_flush = time.time()
    window_end = plan.starts_at + plan.duration
    with ThreadPoolExecutor(max_workers=plan.concurrency) as pool:
        for n in range(plan.op_count):
            due = plan.starts_at + n / plan.rate
            if (delay := due - time.time()) > 0:
                time.sleep(delay)
            if time.time() - last_flush >= FLUSH_EVERY:
                batch.flush()
                last_flush = time.time()
                if should_stop():
                    break
            if not gate.acquire(timeout=max(0.0, window_end - time.time())):
                batch.record_not_sent(plan.op_count - n)
                break
            name, payload = source.next()
            pool.submit(one, n, name, payload)


def run_slice(plan: SlicePlan, batch: StatsBatch, should_stop: Callable[[], bool]) -> None:
    target = plan.target
    if isinstance(target, HttpTarget):
        run_http_slice(plan, target, batch, should_stop)
    elif isinstance(target, PythonTarget):
        run_python_slice(plan, target, batch, should_stop)
    batch.flush(final=True)

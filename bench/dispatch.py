"""Dispatch cost: traffic slices through Celery against raw Celery no-op tasks, on
the same broker and the same traffic worker. A slice here sends one operation (to
nginx), so its figure is Celery's cost plus the fleet's per-slice setup and one
request; the no-op (`chaosfleet.noop`) only counts itself in Redis."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

import redis

from chaosfleet.core.config import HttpTarget
from chaosfleet.core.settings import get_settings
from chaosfleet.runner.state import RunState
from chaosfleet.traffic.plan import SlicePlan
from scenarios.model import OperationMix


def _wait(done: Callable[[], int], n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while done() < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done()} of {n} tasks finished in {timeout:g}s")
        time.sleep(0.005)


def noop_rate(client: redis.Redis, n: int) -> float:
    from workers.app import app

    counter = f"cfbench:noop:{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    for _ in range(n):
        app.send_task("chaosfleet.noop", args=[counter], queue="traffic")
    _wait(lambda: int(client.get(counter) or 0), n, 120)
    return n / (time.perf_counter() - started)


def slice_rate(client: redis.Redis, target: HttpTarget, n: int) -> float:
    from workers.app import app

    run_id = f"bench{uuid.uuid4().hex[:8]}"
    state = RunState(client, get_settings().key_prefix, run_id)
    now = time.time()
    plans = [SlicePlan(run_id=run_id, scenario="bench", index=i, run_started_at=now,
                       offset=0, duration=0.001, rate=1.0, concurrency=1, seed=1,
                       operations=[OperationMix(name="get")], target=target)
             for i in range(n)]
    started = time.perf_counter()
    for plan in plans:
        app.send_task("chaosfleet.run_slice", args=[plan.model_dump_json()], queue="traffic")
    _wait(state.count_slices, n, 120)  # as cheap a poll as the no-op's counter
    return n / (time.perf_counter() - started)


def measure(client: redis.Redis, target: HttpTarget, rounds: int = 3,
            n: int = 300) -> dict[str, float]:
    noop, slices = [], []
    for _ in range(rounds):
        noop.append(noop_rate(client, n))
        slices.append(slice_rate(client, target, n))
    return {"noop_per_s": statistics.median(noop), "slice_per_s": statistics.median(slices),
            "noop_ms": 1000 / statistics.median(noop),
            "slice_ms": 1000 / statistics.median(slices)}

"""Dispatch cost: traffic slices through Celery against raw Celery no-op tasks, on
the same broker and the same traffic worker. A slice here sends one operation (to
nginx), so its figure is Celery's cost plus the fleet's per-slice setup and one
request; the no-op (`chaosfleet.noop`) only counts itself in Redis."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy import text

from chaosfleet.core.config import HttpTarget
from chaosfleet.core.settings import get_settings
from chaosfleet.runner.state import RunState
from chaosfleet.traffic.plan import SlicePlan
from scenarios.model import OperationMix

# one operation due at once in a window long enough that a slice still queued when it
# runs sends it (a window of a millisecond closed before any worker took the slice,
# which then sent nothing and wrote no ledger row)
ONE_OP_WINDOW = 600.0


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
                       offset=0, duration=ONE_OP_WINDOW, rate=1 / ONE_OP_WINDOW,
                       concurrency=1, seed=1, operations=[OperationMix(name="get")],
                       target=target)
             for i in range(n)]
    started = time.perf_counter()
    for plan in plans:
        app.send_task("chaosfleet.run_slice", args=[plan.model_dump_json()], queue="traffic")
    _wait(state.count_slices, n, 120)  # as cheap a poll as the no-op's counter
    rate = n / (time.perf_counter() - started)
    _check_each_sent_one(run_id, n)
    return rate


def _check_each_sent_one(run_id: str, n: int) -> None:
    """Every slice sent its operation and recorded it (the figure is a slice's real
    cost, not that of a slice that found its window closed)."""
    from catalogue.db import get_engine

    with get_engine(get_settings().catalogue_url).connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM ledger WHERE run_id = :r "
                                 "AND outcome = 'ok'"), {"r": run_id}).scalar_one()
    if rows != n:
        raise RuntimeError(f"dispatch bench: {rows} of {n} one-operation slices recorded "
                           "an ok operation")


def measure(client: redis.Redis, target: HttpTarget, rounds: int = 6,
            n: int = 300) -> dict[str, Any]:
    """Rounds of no-ops then slices, each round's ratio taken on its own: the figure
    is the median of those paired ratios, as everywhere in `bench.perf` (the machine's
    speed moves within a minute; the ratio of two medians mixed its moments)."""
    noop_ms, slice_ms = [], []
    noop_rate(client, 100)  # warm both: the first slices build the client and the loop
    slice_rate(client, target, 100)
    for _ in range(rounds):
        noop_ms.append(1000 / noop_rate(client, n))
        slice_ms.append(1000 / slice_rate(client, target, n))
    ratios = [s / r for s, r in zip(slice_ms, noop_ms, strict=True)]
    return {"noop_ms": statistics.median(noop_ms), "slice_ms": statistics.median(slice_ms),
            "ratio": statistics.median(ratios), "rounds": [round(r, 2) for r in ratios]}

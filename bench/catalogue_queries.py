"""Catalogue query benchmark (run with `make bench`): the failure queries the CLI
and the API answer, over 10,000 and 100,000 recorded failures on PostgreSQL, and
the batched export of the larger range. Each figure is the median of 5 runs.

Uses the database `chaosfleet_bench` (created if missing); its failures are
replaced on every invocation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete

from bench.ledger_dlq import prepare
from catalogue.failures import (
    FailureFilter,
    failure_stats,
    iter_failures,
    list_failures,
    list_misses,
    match_batch,
    observed,
    unrecovered,
)
from catalogue.matching import Matcher
from catalogue.models import FailureMatch
from catalogue.modes import load_catalogue
from catalogue.recording import write_batch

KINDS = [("unavailable", "database pool exhausted", 503),
         ("unavailable", "circuit breaker open", 503),
         ("client_timeout", "ReadTimeout", None),
         ("http_500", "Internal Server Error", 500),
         ("validation", "sku: must be at most 32 characters", 422)]


def fill(engine: Any, n: int) -> float:
    """Record n failures over 100 runs; returns failures matched and written per second."""
    with engine.begin() as conn:
        conn.execute(delete(FailureMatch))
    matcher = Matcher(load_catalogue())
    now = time.time()
    started = time.perf_counter()
    for start in range(0, n, 2000):
        raw = [observed(run_id=f"run{i % 100}", scenario="bench", code=c, message=m, status=s,
                        correlation_id=f"op{i}", at=now - i * 0.01)
               for i in range(start, min(n, start + 2000))
               for c, m, s in [KINDS[i % len(KINDS)]]]
        write_batch(engine, match_batch({"failures": raw}, matcher))
    return n / (time.perf_counter() - started)


def timed(fn: Callable[[], Any], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    engine = prepare()
    rows = []
    for n in (10_000, 100_000):
        rate = fill(engine, n)
        rows.append((f"match and write {n:,} failures", f"{rate:,.0f} /s"))
        for name, fn in [
            ("list, newest 100", lambda: list_failures(engine, FailureFilter())),
            ("list, one run", lambda: list_failures(engine, FailureFilter(run_id="run7"))),
            ("list, one mode, 1,000", lambda: list_failures(
                engine, FailureFilter(mode_id="circuit-open", limit=1000))),
            ("stats, everything", lambda: failure_stats(engine, FailureFilter())),
            ("unrecovered", lambda: unrecovered(engine)),
            ("misses", lambda: list_misses(engine)),
        ]:
            rows.append((f"{n:,} failures: {name}", f"{timed(fn):.1f} ms"))
    started = time.perf_counter()
    exported = sum(1 for _ in iter_failures(engine, FailureFilter(), batch=5000))
    rows.append((f"export {exported:,} failures in batches of 5,000",
                 f"{(time.perf_counter() - started):.2f} s"))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  result")
    for name, result in rows:
        print(f"{name:<{width}}  {result}")


if __name__ == "__main__":
    main()

"""Ledger and dead-letter benchmarks (run with `make bench`).

- dead-letter writes per second (with their ledger rows), in batches as slices write;
- dead-letter replays per second (payload regenerated from the seed, re-sent, recorded);
- the ledger's cost per operation: the same in-process traffic with the ledger on and
  off, alternating, several rounds; the median ratio is reported.

Needs PostgreSQL and Redis on 127.0.0.1 (scripts/services.sh). Uses the database
`chaosfleet_bench` (dropped and created afresh) and Redis database 12.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import redis
from sqlalchemy import create_engine, text

from catalogue.db import create_schema, get_engine
from catalogue.dlq import parse_filter, purge_dead_letters
from catalogue.ledger import write_entries
from catalogue.records import DeadLetterRow, LedgerOutcome, LedgerRow
from catalogue.runs import record_run_started
from chaosfleet.core.config import PythonTarget
from chaosfleet.runner.replay import replay_dead_letters
from chaosfleet.traffic.plan import SlicePlan
from scenarios.model import Scenario

URL = "postgresql+psycopg://chaosfleet:chaosfleet@127.0.0.1:5432/chaosfleet_bench"
TARGET = PythonTarget.model_validate(
    {"kind": "python", "operations": {"accept": {"call": "bench.noop_target:accept"}}})
SCENARIO = Scenario.model_validate({
    "name": "bench", "target": "bench", "seed": 1,
    "traffic": {"rate": 1, "duration": 1, "operations": [{"name": "accept", "payload": {
        "customer": {"faker": "name"}, "quantity": {"faker": "pyint"}}}]},
    "steady_state": {"probes": ["healthy"]}, "recovery": {"within": 1},
})
ROUNDS = 3


def prepare() -> Any:
    admin = create_engine("postgresql+psycopg://chaosfleet:chaosfleet@127.0.0.1:5432/chaosfleet",
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # a fresh database each time: figures from a known state
        # not DROP ... WITH (FORCE): it refuses when autovacuum (a superuser's process)
        # works in the database after a big benchmark; a plain DROP stops autovacuum
        # itself, once this role's own sessions are gone
        conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "'chaosfleet_bench' AND usename = current_user AND pid <> pg_backend_pid()"))
        conn.execute(text("DROP DATABASE IF EXISTS chaosfleet_bench"))
        conn.execute(text("CREATE DATABASE chaosfleet_bench"))
    admin.dispose()
    engine = get_engine(URL)
    create_schema(engine)
    return engine


def new_run(engine: Any) -> str:
    run_id = f"bench{uuid.uuid4().hex[:8]}"
    record_run_started(engine, run_id, "bench", "bench", 1, "bench",
                       SCENARIO.model_dump(mode="json"), TARGET.model_dump(mode="json"))
    return run_id


def letters_for(run_id: str, n: int) -> tuple[list[LedgerRow], list[DeadLetterRow]]:
    entries, letters = [], []
    for i in range(n):
        entry = LedgerRow(op_id=f"{run_id}-s0-o{i}", run_id=run_id, scenario="bench",
                          slice_index=0, operation="accept", attempt=1,
                          outcome=LedgerOutcome.DEAD_LETTERED, latency_ms=1.0,
                          error_class="http_503", fault="bench", input_hash="0" * 16,
                          at=time.time())
        entries.append(entry)
        letters.append(DeadLetterRow.of(entry, "accept failed: http_503", {"slice": 0}, i))
    return entries, letters


def bench_dead_letter_writes(engine: Any, n: int = 5000, batch: int = 500) -> float:
    rates = []
    for _ in range(ROUNDS):
        run_id = new_run(engine)
        entries, letters = letters_for(run_id, n)
        started = time.perf_counter()
        for i in range(0, n, batch):
            write_entries(engine, entries[i:i + batch], letters[i:i + batch])
        rates.append(n / (time.perf_counter() - started))
        purge_dead_letters(engine, parse_filter(run_id=run_id), dry_run=False)
    return statistics.median(rates)


def bench_replays(engine: Any, n: int = 1000) -> float:
    rates = []
    for _ in range(ROUNDS):
        run_id = new_run(engine)
        write_entries(engine, *letters_for(run_id, n))
        started = time.perf_counter()
        summary = replay_dead_letters(engine, parse_filter(run_id=run_id))
        assert summary.ok == n, summary
        rates.append(n / (time.perf_counter() - started))
        purge_dead_letters(engine, parse_filter(run_id=run_id), dry_run=False)
    return statistics.median(rates)


def slice_rate(engine: Any | None, client: redis.Redis, seconds: float = 2.0) -> float:
    """A slice offered 10^6 ops/s for `seconds` against a no-op: what it sends in its
    window, per second."""
    from bench.python_overhead import run_measured

    plan = SlicePlan(run_id=f"bench{uuid.uuid4().hex[:8]}", scenario="bench", index=0,
                     run_started_at=time.time(), offset=0, duration=seconds,
                     rate=1_000_000, concurrency=4, seed=1,
                     operations=SCENARIO.traffic.operations, target=TARGET)
    return run_measured(plan, engine, client)


def bench_ledger_cost(engine: Any) -> tuple[float, float, float]:
    client = redis.Redis(db=12)
    on, off = [], []
    for _ in range(ROUNDS):  # alternate, so a noisy moment hits both sides
        off.append(slice_rate(None, client))
        on.append(slice_rate(engine, client))
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    return statistics.median(on), statistics.median(off), statistics.median(ratios)


def main() -> None:
    from bench.env import use_bench_environment
    from chaosfleet.core.settings import reset_settings

    use_bench_environment()  # the record writer writes to the bench database too
    reset_settings()
    engine = prepare()
    writes = bench_dead_letter_writes(engine)
    replays = bench_replays(engine)
    on, off, ratio = bench_ledger_cost(engine)
    print(f"{'benchmark':44} {'result':>14}")
    print(f"{'dead-letter writes (with ledger rows)':44} {writes:>10.0f} /s")
    print(f"{'dead-letter replays (in-process target)':44} {replays:>10.0f} /s")
    print(f"{'slice ops/s, ledger off':44} {off:>10.0f} /s")
    print(f"{'slice ops/s, ledger on':44} {on:>10.0f} /s")
    print(f"{'ledger on / off (median of paired rounds)':44} {ratio:>12.2f}")


if __name__ == "__main__":
    main()

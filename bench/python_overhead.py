"""The fleet's own cost per operation on a Python target, the ledger on. Three
callables, each in a traffic slice and in a bare loop over the same payloads (made
first), rounds alternating, medians of the paired figures reported:

- `bench.noop_target:accept` (does nothing): the fleet's overhead per operation is
  the slice's time per operation minus the bare loop's;
- `bench.noop_target:work_20us` (a 20 µs spin): the slice's rate over the loop's;
- `reftarget.pytarget:validate_order` (the reference target's input checks).

The payload is the same seeded Faker order (a name, a SKU, a quantity) for all three:
the overhead includes making it."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import redis

from chaosfleet.core.config import PythonTarget
from chaosfleet.targets.python import import_callable
from chaosfleet.traffic.cursor import planned_ops
from chaosfleet.traffic.drivers import run_slice
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch
from scenarios.model import OperationMix

CALLABLES = {"noop": "bench.noop_target:accept", "work_20us": "bench.noop_target:work_20us",
             "validate_order": "reftarget.pytarget:validate_order"}
TARGET = PythonTarget.model_validate({
    "kind": "python", "rejects": ["ValidationFailed"],
    "operations": {name: {"call": call} for name, call in CALLABLES.items()}})
MIX = [OperationMix.model_validate({"name": "validate_order", "payload": {
    "customer": {"faker": "name"}, "sku": {"faker": "bothify", "args": ["SKU-####"]},
    "quantity": {"faker": "pyint", "kwargs": {"min_value": 1, "max_value": 20}}}})]


def plan_of(seconds: float, concurrency: int, operation: str = "validate_order") -> SlicePlan:
    """A slice offered far more than it can send (10^6 ops/s) for `seconds`: it sends
    as many as it can in its window and counts the rest as not sent."""
    mix = [m.model_copy(update={"name": operation}) for m in MIX]
    return SlicePlan(run_id=f"bench{uuid.uuid4().hex[:8]}", scenario="bench", index=0,
                     run_started_at=time.time(), offset=0, duration=seconds, rate=1_000_000,
                     concurrency=concurrency, seed=1, operations=mix, target=TARGET)


def slice_rate(engine: Any, client: redis.Redis, seconds: float, concurrency: int,
               operation: str = "validate_order") -> float:
    """Operations per second through `run_slice` against one of CALLABLES."""
    return run_measured(plan_of(seconds, concurrency, operation), engine, client)


def run_measured(plan: SlicePlan, engine: Any, client: redis.Redis) -> float:
    """Run one slice in this process, recorded as in a traffic worker (the process's
    record writer writes the ledger when `engine` is given); operations per second."""
    from chaosfleet.cli.common import fleet as clients

    recorder = Recorder(plan, StatsBatch(client, f"bench:{plan.run_id}", plan.run_started_at),
                        engine, writer=clients().record_writer if engine is not None else None)
    started = time.perf_counter()
    sent = run_slice(plan, recorder, lambda: False)
    elapsed = time.perf_counter() - started
    client.delete(f"bench:{plan.run_id}")
    return sent / elapsed


def bare_rate(ops: int, operation: str = "validate_order") -> float:
    """The same callable on the same payloads in a plain loop (payloads made first)."""
    call = import_callable(CALLABLES[operation])
    plan = plan_of(1, 1, operation)
    calls = [(op.payload, op.op_id) for _, op in zip(range(ops), planned_ops(plan),
                                                     strict=False)]
    started = time.perf_counter()
    for payload, op_id in calls:
        call(payload, operation_id=op_id)
    return len(calls) / (time.perf_counter() - started)


def measure(engine: Any, client: redis.Redis, rounds: int = 3, seconds: float = 3.0,
            concurrency: int = 1) -> dict[str, Any]:
    """Per callable: slice and bare rates and their ratio; for the no-op, the
    overhead in µs per operation."""
    out: dict[str, Any] = {}
    for operation in CALLABLES:
        fleet, bare = [], []
        for _ in range(rounds):
            bare.append(bare_rate(20_000, operation))
            fleet.append(slice_rate(engine, client, seconds, concurrency, operation))
        out[operation] = {
            "fleet": statistics.median(fleet), "bare": statistics.median(bare),
            "ratio": statistics.median(f / b for f, b in zip(fleet, bare, strict=True)),
            "overhead_us": statistics.median(1e6 / f - 1e6 / b
                                             for f, b in zip(fleet, bare, strict=True))}
    return out


def main() -> None:
    from bench.env import use_bench_environment

    use_bench_environment()
    from bench.ledger_dlq import prepare
    from chaosfleet.core.settings import get_settings

    engine = prepare()
    result = measure(engine, redis.Redis.from_url(get_settings().redis_url))
    print(f"{'callable (ledger on)':22} {'slice ops/s':>12} {'bare ops/s':>12} {'ratio':>6} "
          f"{'overhead us/op':>15}")
    for name, row in result.items():
        print(f"{name:22} {row['fleet']:>12,.0f} {row['bare']:>12,.0f} {row['ratio']:>6.2f} "
              f"{row['overhead_us']:>15.1f}")


if __name__ == "__main__":
    main()

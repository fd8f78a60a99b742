"""The fleet's own cost per operation: a traffic slice calling a cheap real callable
of the reference target's service layer (`reftarget.pytarget:validate_order`, input
checks only) with the ledger on, against a bare loop calling the same callable with
the same payloads. Rounds alternate; the median of the paired ratios is reported."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import redis

from chaosfleet.core.config import PythonTarget
from chaosfleet.traffic.cursor import planned_ops
from chaosfleet.traffic.drivers import run_slice
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch
from reftarget.pytarget import validate_order
from scenarios.model import OperationMix

TARGET = PythonTarget.model_validate({
    "kind": "python", "rejects": ["ValidationFailed"],
    "operations": {"validate_order": {"call": "reftarget.pytarget:validate_order"}}})
MIX = [OperationMix.model_validate({"name": "validate_order", "payload": {
    "customer": {"faker": "name"}, "sku": {"faker": "bothify", "args": ["SKU-####"]},
    "quantity": {"faker": "pyint", "kwargs": {"min_value": 1, "max_value": 20}}}})]


def plan_of(seconds: float, concurrency: int) -> SlicePlan:
    """A slice offered far more than it can send (10^6 ops/s) for `seconds`: it sends
    as many as it can in its window and counts the rest as not sent."""
    return SlicePlan(run_id=f"bench{uuid.uuid4().hex[:8]}", scenario="bench", index=0,
                     run_started_at=time.time(), offset=0, duration=seconds, rate=1_000_000,
                     concurrency=concurrency, seed=1, operations=MIX, target=TARGET)


def slice_rate(engine: Any, client: redis.Redis, seconds: float, concurrency: int) -> float:
    """Operations per second through `run_slice` against validate_order."""
    return run_measured(plan_of(seconds, concurrency), engine, client)


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


def bare_rate(ops: int) -> float:
    """The same callable on the same payloads in a plain loop (payloads made first)."""
    plan = plan_of(1, 1)
    calls = [(op.payload, op.op_id) for _, op in zip(range(ops), planned_ops(plan),
                                                     strict=False)]
    started = time.perf_counter()
    for payload, op_id in calls:
        validate_order(payload, operation_id=op_id)
    return len(calls) / (time.perf_counter() - started)


def measure(engine: Any, client: redis.Redis, rounds: int = 3, seconds: float = 3.0,
            concurrency: int = 1) -> dict[str, float]:
    fleet, bare = [], []
    for _ in range(rounds):
        bare.append(bare_rate(20_000))
        fleet.append(slice_rate(engine, client, seconds, concurrency))
    ratios = [f / b for f, b in zip(fleet, bare, strict=True)]
    return {"fleet": statistics.median(fleet), "bare": statistics.median(bare),
            "ratio": statistics.median(ratios)}

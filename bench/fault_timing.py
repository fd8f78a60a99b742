"""Fault timing through the fleet: from a fault's scheduled start to its toxic being
active (the faults worker's applied_at, stamped after Toxiproxy answered), from its
scheduled end to the controller seeing it reverted (polled every 0.1 s, so an upper
bound), and from a lease's expiry to its revert after the applying worker was
SIGKILLed (the control worker's janitor, period 0.2 s here, does it)."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis

from bench.fleet_side import LOG_DIR, http_scenario, run_scenario
from chaosfleet.cli.procs import start_workers
from chaosfleet.core.config import HttpTarget
from chaosfleet.core.settings import get_settings
from faults.leases import Lease, LeaseStore
from faults.specs import LatencySpec


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def scheduled_faults(count: int) -> tuple[str, int]:
    """`count` latency faults of 0.5 s, one per second, on the nginx proxy."""
    faults = ", ".join(
        f"{{type: latency, proxy: bench-nginx-proxy, latency_ms: 5, start: {1 + i}s, "
        f"duration: 0.5s}}" for i in range(count))
    return f"[{faults}]", count + 3


def apply_and_revert(count: int = 30) -> dict[str, float]:
    faults, seconds = scheduled_faults(count)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as folder:
        journal = run_scenario(http_scenario(Path(folder), 5, seconds, 4, faults))
    t0 = journal["started_at"]
    applied = [(f["applied_at"] - (t0 + f["start"])) * 1000 for f in journal["faults"]]
    reverted = [(f["reverted_at"] - (t0 + f["end"])) * 1000 for f in journal["faults"]]
    return {"apply_p50_ms": percentile(applied, 0.5), "apply_p99_ms": percentile(applied, 0.99),
            "revert_p50_ms": percentile(reverted, 0.5),
            "revert_p99_ms": percentile(reverted, 0.99), "faults": len(applied)}


def expiry_to_revert_after_sigkill(target: HttpTarget, rounds: int = 5) -> dict[str, float]:
    """Apply a fault with a short lease, SIGKILL the faults worker, time the janitor."""
    from workers.app import app

    settings = get_settings()
    leases = LeaseStore(redis.Redis.from_url(settings.redis_url), settings.key_prefix)
    delays = []
    for i in range(rounds):
        (worker,) = start_workers(["faults"], f"kill{i}{uuid.uuid4().hex[:4]}", LOG_DIR)
        lease = Lease(id=f"benchkill-{uuid.uuid4().hex[:8]}", run_id="benchkill",
                      spec=LatencySpec(type="latency", proxy="bench-nginx-proxy", start=0,
                                       duration=1, latency_ms=5),
                      expires_at=time.time() + 1.5, target=target)
        app.send_task("chaosfleet.apply_fault", args=[lease.model_dump_json()], queue="faults")
        deadline = time.monotonic() + 5
        while not ((held := leases.get(lease.id)) and held.applied_at):
            if time.monotonic() > deadline:
                raise TimeoutError("the fault was not applied within 5 s")
            time.sleep(0.005)
        worker.kill()
        while leases.get(lease.id) is not None:
            if time.time() > lease.expires_at + 10:
                raise TimeoutError("the expired lease was not reverted within 10 s")
            time.sleep(0.005)
        delays.append((time.time() - lease.expires_at) * 1000)
    return {"median_ms": statistics.median(delays), "max_ms": max(delays), "rounds": rounds}

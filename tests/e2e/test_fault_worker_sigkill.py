"""Invariant 1 under repeated crashes: the fault worker is killed with SIGKILL mid-fault
ten times in a row, each time holding a different family's fault. After each, once
the lease plus one janitor period has passed, nothing remains: no toxic, no held
connection, no proxy down, no storm running."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from chaosfleet.cli.procs import start_worker, stop_all
from chaosfleet.core.settings import get_settings
from chaosfleet.dispatch import CeleryDispatcher
from faults.base import FaultContext
from faults.control import FaultControl, fault_of
from faults.leases import Lease
from faults.specs import (
    LatencySpec,
    PoolExhaustionSpec,
    ProxyDownSpec,
    WorkerHaltStormSpec,
)
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import target_sessions
from tests.e2e.conftest import start_fleet, wait_for
from workers.app import app

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 3.0
SPECS = [
    LatencySpec(type="latency", proxy="reference-db", latency_ms=500, start=0, duration=3),
    ProxyDownSpec(type="proxy_down", proxy="reference-redis", start=0, duration=3),
    PoolExhaustionSpec(type="pool_exhaustion", proxy="reference-db", connections=6,
                       database="reftarget", user="reftarget",
                       password_env="REFTARGET_DB_PASSWORD", evict=False, start=0,
                       duration=3),
    WorkerHaltStormSpec(type="worker_halt_storm", every=0.5, start=0, duration=3),
]


def test_sigkill_of_the_fault_worker_ten_times_leaves_nothing_behind(e2e_dir, capsys):
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    toxiproxy = ToxiproxyClient(settings.toxiproxy_url)
    for name, listen, upstream in [("reference-db", "127.0.0.1:25432", "127.0.0.1:5432"),
                                   ("reference-redis", "127.0.0.1:26379", "127.0.0.1:6379")]:
        toxiproxy.ensure_proxy(name, listen, upstream)
    control = FaultControl(client, settings.key_prefix, FaultContext(toxiproxy=toxiproxy))
    fleet = start_fleet(e2e_dir, roles=("control",))  # its janitor is the one left alive
    expiry_to_revert: list[float] = []
    try:
        for i in range(10):
            spec = SPECS[i % len(SPECS)]
            faults = start_worker("faults", f"kill{i}-{uuid.uuid4().hex[:4]}", e2e_dir / "logs")
            lease = Lease(id=f"kill{i}-{spec.type}", run_id=f"kill{i}", spec=spec,
                          expires_at=time.time() + LEASE_SECONDS)
            CeleryDispatcher(app).send_apply(lease)
            wait_for(lambda lease=lease: (found := control.leases.get(lease.id)) is not None
                     and found.applied_at, 10, f"round {i}: {spec.type} applied")
            fault = fault_of(lease)
            if spec.type == "pool_exhaustion":
                assert target_sessions("chaosfleet-%") == 6
            else:
                assert fault.inspect(control.ctx).residue, f"round {i}: nothing was applied"

            faults.kill()  # mid-fault: the worker that applied it is gone

            bound = lease.expires_at + settings.janitor_period + 1.0
            reverted_at = wait_for(
                lambda lease=lease: time.time() if control.leases.get(lease.id) is None
                else None, bound - time.time() + 5, f"round {i}: lease reverted")
            assert reverted_at >= lease.expires_at - 0.05, "reverted before expiry?"
            assert reverted_at <= bound, f"round {i}: {reverted_at - lease.expires_at:.2f}s"
            expiry_to_revert.append(reverted_at - lease.expires_at)
            assert fault.inspect(control.ctx).residue == [], f"round {i}"
            assert target_sessions("chaosfleet-%") == 0
    finally:
        stop_all(fleet.values())
        toxiproxy.set_enabled("reference-redis", True)
    with capsys.disabled():
        ordered = sorted(expiry_to_revert)
        print(f"\nlease expiry -> revert after SIGKILL, 10 rounds: median "
              f"{ordered[4]:.2f}s, max {ordered[-1]:.2f}s")

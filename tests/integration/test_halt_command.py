"""`chaosfleet halt`: the kill switch from the command line, on real services."""

import subprocess
import sys
import time

import pytest
import redis

from chaosfleet.core.settings import get_settings
from faults.base import FaultContext
from faults.control import FaultControl
from faults.leases import Lease
from faults.specs import LatencySpec
from tests.conftest import REPO, target_sessions, toxics_seen_independently

pytestmark = pytest.mark.integration


def chaosfleet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosfleet.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO)


def test_halt_reverts_every_fault_within_seconds_and_refuses_new_ones(toxiproxy):
    settings = get_settings()
    control = FaultControl(redis.Redis.from_url(settings.redis_url), settings.key_prefix,
                           FaultContext(toxiproxy=toxiproxy))
    control.release_kill_switch()
    for i, proxy in enumerate(["reference-db", "reference-redis", "reference-db"]):
        spec = LatencySpec(type="latency", proxy=proxy, latency_ms=100, start=0, duration=60)
        control.apply(Lease(id=f"chaosfleet-halt{i}", run_id="r", spec=spec,
                            expires_at=time.time() + 60))
    try:
        started = time.monotonic()
        result = chaosfleet("halt", "--reason", "test")
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stdout + result.stderr
        assert "3 fault(s) reverted" in result.stdout
        assert elapsed < 5
        assert toxics_seen_independently("reference-db") == []
        assert toxics_seen_independently("reference-redis") == []
        assert control.kill_switch_engaged()
    finally:
        assert chaosfleet("halt", "--release").returncode == 0
    assert not control.kill_switch_engaged()


def test_halt_reverts_a_proxy_down_and_held_connections_of_another_process(toxiproxy):
    """The held connections live in this process; `chaosfleet halt` runs in another,
    so it can only ask the holder to let go, and must confirm it in PostgreSQL."""
    from faults.specs import PoolExhaustionSpec, ProxyDownSpec

    settings = get_settings()
    control = FaultControl(redis.Redis.from_url(settings.redis_url), settings.key_prefix,
                           FaultContext(toxiproxy=toxiproxy))
    control.release_kill_switch()
    down = ProxyDownSpec(type="proxy_down", proxy="reference-redis", start=0, duration=60)
    pool = PoolExhaustionSpec(type="pool_exhaustion", proxy="reference-db", connections=8,
                              database="reftarget", user="reftarget",
                              password_env="REFTARGET_DB_PASSWORD", start=0, duration=60)
    for i, spec in enumerate([down, pool]):
        control.apply(Lease(id=f"chaosfleet-halt-x{i}", run_id="rx", spec=spec,
                            expires_at=time.time() + 60))

    assert target_sessions("chaosfleet-chaosfleet-halt-x1") == 8
    try:
        started = time.monotonic()
        result = chaosfleet("halt", "--reason", "test")
        assert result.returncode == 0, result.stdout + result.stderr
        assert time.monotonic() - started < 5
        assert target_sessions("chaosfleet-chaosfleet-halt-x1") == 0
        assert toxiproxy.get_proxy("reference-redis")["enabled"]
        assert control.leases.active() == []
    finally:
        assert chaosfleet("halt", "--release").returncode == 0
        toxiproxy.set_enabled("reference-redis", True)

"""`chaosfleet halt`: the kill switch from the command line, on real services."""

import subprocess
import sys
import time

import pytest
import redis

from chaosfleet.settings import get_settings
from faults.base import FaultContext
from faults.control import FaultControl
from faults.leases import Lease
from faults.specs import LatencySpec
from tests.conftest import REPO, toxics_seen_independently

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

"""Fault families against real Toxiproxy, PostgreSQL and Redis: each applies what
it says, reverts without residue, and refuses what it must."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from chaosfleet.core.settings import get_settings
from faults.base import FaultContext
from faults.control import FaultConflict, FaultControl, KillSwitchIncomplete, fault_of
from faults.leases import Lease
from faults.specs import (
    BandwidthSpec,
    LatencySpec,
    LimitDataSpec,
    PoolExhaustionSpec,
    ProxyDownSpec,
    SlicerSpec,
    SlowCloseSpec,
)
from faults.toxiproxy import ToxiproxyClient, ToxiproxyUnavailable
from tests.conftest import port_open, require, target_sessions, toxics_seen_independently

pytestmark = pytest.mark.integration

PROXIED_DSN = "host=127.0.0.1 port=25432 dbname=reftarget user=reftarget password=reftarget"


@pytest.fixture
def control(toxiproxy, redis_client) -> Iterator[FaultControl]:
    """Fault control on the test's own Redis database (redis_client: empty before
    and after), so no lease of another test or of a running fleet is seen."""
    ctl = FaultControl(redis_client, get_settings().key_prefix,
                       FaultContext(toxiproxy=toxiproxy))
    ctl.release_kill_switch()
    yield ctl
    for lease in ctl.leases.active():
        ctl.revert(lease)
    toxiproxy.set_enabled("reference-db", True)


def lease_for(spec, run: str = "r1", lease_id: str | None = None, ttl: float = 60) -> Lease:
    return Lease(id=lease_id or f"{run}-{spec.type}", run_id=run, spec=spec,
                 expires_at=time.time() + ttl)


@pytest.mark.parametrize("spec, attributes", [
    (BandwidthSpec(type="bandwidth", proxy="reference-db", rate_kbps=5, start=0, duration=9),
     {"rate": 5}),
    (SlicerSpec(type="slicer", proxy="reference-db", average_size=8, size_variation=2,
                delay_us=100, start=0, duration=9),
     {"average_size": 8, "size_variation": 2, "delay": 100}),
    (LimitDataSpec(type="limit_data", proxy="reference-db", bytes=4096, start=0, duration=9),
     {"bytes": 4096}),
    (SlowCloseSpec(type="slow_close", proxy="reference-db", delay_ms=250, stream="upstream",
                   toxicity=0.5, start=0, duration=9),
     {"delay": 250}),
])
def test_each_toxic_is_applied_as_declared_and_reverted(control, spec, attributes):
    from toxiproxy import Toxiproxy

    lease = lease_for(spec)
    assert control.apply(lease)
    (toxic,) = Toxiproxy().get_proxy("reference-db").toxics().values()  # independent client
    assert toxic.type == spec.type and toxic.stream == spec.stream
    assert toxic.toxicity == spec.toxicity
    assert toxic.attributes == attributes
    assert control.revert(lease)
    assert toxics_seen_independently("reference-db") == []
    assert fault_of(lease).inspect(control.ctx).residue == []


def test_proxy_down_refuses_connections_until_reverted(control):
    lease = lease_for(ProxyDownSpec(type="proxy_down", proxy="reference-db", start=0,
                                    duration=9))
    assert control.apply(lease)
    assert not port_open(25432)
    assert fault_of(lease).inspect(control.ctx).residue == ["proxy reference-db still down"]
    control.revert(lease)
    assert port_open(25432)
    assert fault_of(lease).inspect(control.ctx).residue == []


def test_a_second_run_cannot_fault_a_proxy_another_run_holds(control):
    first = LatencySpec(type="latency", proxy="reference-db", latency_ms=10, start=0,
                        duration=9)
    control.apply(lease_for(first, run="r1"))
    other = BandwidthSpec(type="bandwidth", proxy="reference-db", rate_kbps=1, start=0,
                          duration=9)
    with pytest.raises(FaultConflict, match="already carries latency 10ms"):
        control.apply(lease_for(other, run="r2"))
    assert control.leases.get("r2-bandwidth") is None  # refused before any lease
    # the same run composing two kinds of toxic on it is fine
    assert control.apply(lease_for(other, run="r1"))


def pool_spec(connections: int = 40) -> PoolExhaustionSpec:
    return PoolExhaustionSpec(type="pool_exhaustion", proxy="reference-db",
                              connections=connections, database="reftarget", user="reftarget",
                              password_env="REFTARGET_DB_PASSWORD", start=0, duration=9)


def test_pool_exhaustion_takes_every_slot_of_the_role_and_gives_them_back(control):
    victim = psycopg.connect(PROXIED_DSN, application_name="reftarget", autocommit=True)
    lease = lease_for(pool_spec())
    try:
        assert control.apply(lease)
        held = target_sessions(f"chaosfleet-{lease.id}")
        assert held >= 35  # the role's limit is 40, a few may be in use elsewhere
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            psycopg.connect(PROXIED_DSN, connect_timeout=2)
        with pytest.raises(psycopg.OperationalError):  # the idle session was evicted
            victim.execute("SELECT 1")
        assert int(control.client.get(f"{control.prefix}:fault:{lease.id}:held")) == held
    finally:
        victim.close()
        control.revert(lease)
    assert target_sessions(f"chaosfleet-{lease.id}") == 0
    psycopg.connect(PROXIED_DSN, connect_timeout=2).close()  # slots are free again
    assert fault_of(lease).inspect(control.ctx).residue == []


def test_pool_exhaustion_releases_by_itself_when_its_lease_expires(control):
    lease = lease_for(pool_spec(5), ttl=1.5)
    assert control.apply(lease)
    assert target_sessions(f"chaosfleet-{lease.id}") == 5
    # nobody reverts: the holder's watchdog lets go once the lease expires
    deadline = time.monotonic() + 5
    while target_sessions(f"chaosfleet-{lease.id}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert target_sessions(f"chaosfleet-{lease.id}") == 0
    assert control.revert_expired() == 1


# -- Toxiproxy made unresponsive (SIGSTOP) while faults are active


def toxiproxy_binary() -> Path:
    folder = Path(os.environ.get("CHAOSFLEET_GOBIN", "/usr/local/lib/chaosfleet/bin"))
    found = sorted(folder.glob("toxiproxy-server-*"))
    if not found:
        require("toxiproxy-binary")  # skips, or fails under CI, with the reason
    return found[-1]


@pytest.fixture
def private_toxiproxy() -> Iterator[tuple[subprocess.Popen[bytes], ToxiproxyClient]]:
    """A Toxiproxy of this test's own, so stopping it disturbs nothing else."""
    require("toxiproxy")
    port = 18474
    proc = subprocess.Popen([str(toxiproxy_binary()), "-host", "127.0.0.1", "-port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # stopped whatever fails below: a leaked one would answer for the next run's
        deadline = time.monotonic() + 10
        while not port_open(port):
            assert time.monotonic() < deadline, "private toxiproxy did not start"
            time.sleep(0.05)
        client = ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=0.5, quiet=1.0)
        client.ensure_proxy("private-db", "127.0.0.1:25433", "127.0.0.1:5432")
        yield proc, client
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=10)


def test_hung_toxiproxy_stalls_neither_janitor_nor_kill_switch(private_toxiproxy):
    proc, client = private_toxiproxy
    settings = get_settings()
    ctl = FaultControl(redis.Redis.from_url(settings.redis_url), settings.key_prefix + "-hung",
                       FaultContext(toxiproxy=client))
    ctl.release_kill_switch()
    leases = [lease_for(LatencySpec(type="latency", proxy="private-db", latency_ms=50 + i,
                                    start=0, duration=9), lease_id=f"hung-{i}", ttl=0.5)
              for i in range(5)]
    for lease in leases:
        ctl.check_conflicts(lease)
        ctl.apply(lease)
    deadline = time.monotonic() + 5
    while len(ctl.leases.expired()) < 5:  # wait for every lease to expire
        assert time.monotonic() < deadline, "leases did not expire"
        time.sleep(0.05)
    proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert ctl.revert_expired() == 0  # nothing could be reverted...
        janitor_took = time.monotonic() - started
        assert janitor_took < 2.0  # ...but one bounded wait, not one per lease
        assert len(ctl.leases.active()) == 5  # kept for the next pass

        started = time.monotonic()
        with pytest.raises(KillSwitchIncomplete, match="not yet"):
            ctl.engage_kill_switch("test", ["private-db"])
        assert time.monotonic() - started < 3.0
        assert ctl.kill_switch_engaged()
    finally:
        proc.send_signal(signal.SIGCONT)
    reverted, deadline = 0, time.monotonic() + 10
    while reverted < 5:  # later passes finish the job once the client's quiet period ends
        assert time.monotonic() < deadline, f"only {reverted} of 5 reverted"
        reverted += ctl.revert_expired()
        time.sleep(0.1)
    assert client.toxics("private-db") == []
    ctl.release_kill_switch()
    with pytest.raises(ToxiproxyUnavailable):
        proc.kill()
        proc.wait(timeout=5)
        client.toxics("private-db")

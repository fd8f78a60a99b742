"""Faults under leases on the real Toxiproxy; checked with toxiproxy-python."""

import socket
import time

import pytest

from chaosfleet.core import clock
from chaosfleet.core.errors import KillSwitchEngaged
from faults.base import FaultContext
from faults.control import FaultControl
from faults.leases import Lease
from faults.specs import LatencySpec, TimeoutSpec
from faults.toxiproxy import ToxiproxyClient, ToxiproxyUnavailable
from tests.conftest import toxics_seen_independently

pytestmark = pytest.mark.integration


def latency(proxy="reference-db") -> LatencySpec:
    return LatencySpec(type="latency", proxy=proxy, latency_ms=700, start=0, duration=1)


@pytest.fixture
def control(redis_client, toxiproxy) -> FaultControl:
    return FaultControl(redis_client, "t", FaultContext(toxiproxy=toxiproxy))


def lease(lease_id: str, expires_in: float, spec=None) -> Lease:
    return Lease(id=lease_id, run_id="run1", spec=spec or latency(),
                 expires_at=time.time() + expires_in)


def test_apply_and_revert_are_seen_by_an_independent_client(control):
    assert control.apply(lease("chaosfleet-a", 30))
    assert toxics_seen_independently("reference-db") == ["chaosfleet-a"]
    assert control.leases.get("chaosfleet-a").applied_at is not None
    assert control.revert_by_id("chaosfleet-a")
    assert toxics_seen_independently("reference-db") == []
    assert control.leases.active() == []


def test_apply_and_revert_are_idempotent(control):
    held = lease("chaosfleet-b", 30, TimeoutSpec(type="timeout", proxy="reference-db",
                                                  timeout_ms=0, start=0, duration=1))
    assert control.apply(held) and control.apply(held)
    assert toxics_seen_independently("reference-db") == ["chaosfleet-b"]
    assert control.revert(held)
    assert not control.revert(held)


def test_janitor_reverts_only_expired_leases(control):
    control.apply(lease("chaosfleet-short", 0.5))
    control.apply(lease("chaosfleet-long", 60))
    deadline = time.time() + 5
    while time.time() < deadline and control.revert_expired() == 0:
        time.sleep(0.1)
    assert toxics_seen_independently("reference-db") == ["chaosfleet-long"]
    assert [lease.id for lease in control.leases.active()] == ["chaosfleet-long"]


def test_a_lease_already_expired_is_never_applied(control):
    assert control.apply(lease("chaosfleet-late", -1)) is False
    assert toxics_seen_independently("reference-db") == []


def test_kill_switch_reverts_everything_and_refuses_new_faults(control, toxiproxy):
    control.apply(lease("chaosfleet-k1", 60))
    control.apply(lease("chaosfleet-k2", 60, latency("reference-redis")))
    # a chaosfleet toxic with no lease at all (a lease store wiped by hand)
    toxiproxy.add_toxic("reference-db", "chaosfleet-orphan", "latency", {"latency": 5})
    reverted = control.engage_kill_switch("test", ["reference-db", "reference-redis"])
    assert reverted == 3
    assert toxics_seen_independently("reference-db") == []
    assert toxics_seen_independently("reference-redis") == []
    with pytest.raises(KillSwitchEngaged):
        control.apply(lease("chaosfleet-k3", 60))
    control.release_kill_switch()
    assert control.apply(lease("chaosfleet-k3", 60))


def test_a_fault_whose_lease_vanishes_during_apply_is_reverted(control, monkeypatch):
    original = control.leases.mark_applied

    def janitor_got_there_first(lease_id, at):
        control.leases.release(lease_id)
        return original(lease_id, at)

    monkeypatch.setattr(control.leases, "mark_applied", janitor_got_there_first)
    assert control.apply(lease("chaosfleet-race", 30)) is False
    assert toxics_seen_independently("reference-db") == []


def test_a_hung_toxiproxy_api_is_bounded(hung_listener):
    """A listener that accepts and never answers: every call gives up in time."""
    client = ToxiproxyClient(f"http://127.0.0.1:{hung_listener}", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ToxiproxyUnavailable):
        client.remove_toxic("reference-db", "chaosfleet-x")
    with pytest.raises(ToxiproxyUnavailable):
        client.toxics("reference-db")
    assert time.monotonic() - started < 3


def test_unreachable_toxiproxy_is_a_harness_error_not_a_hang():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=0.5)
    with pytest.raises(ToxiproxyUnavailable, match="unreachable"):
        client.version()


def test_ensure_proxy_is_idempotent(toxiproxy):
    first = toxiproxy.ensure_proxy("reference-db", "127.0.0.1:25432", "127.0.0.1:5432")
    again = toxiproxy.ensure_proxy("reference-db", "127.0.0.1:25432", "127.0.0.1:5432")
    assert first["listen"] == again["listen"] == "127.0.0.1:25432"
    assert again["enabled"] is True


def test_orphan_toxics_are_removed_and_nothing_else(control, toxiproxy):
    """A lease lost with Redis leaves its toxic behind: the janitor's sweep removes the
    fleet's prefixed toxics with no lease, and leaves leased and foreign toxics alone."""
    control.apply(lease("chaosfleet-leased", 60))
    toxiproxy.add_toxic("reference-db", "chaosfleet-orphan", "latency", {"latency": 5})
    toxiproxy.add_toxic("reference-db", "someone-elses", "latency", {"latency": 5})
    try:
        assert control.revert_orphans(["reference-db"]) == 1
        assert toxics_seen_independently("reference-db") == ["chaosfleet-leased",
                                                            "someone-elses"]
    finally:
        toxiproxy.remove_toxic("reference-db", "someone-elses")


def test_every_toxic_carries_the_fleet_prefix(control):
    assert control.apply(lease("run1-f0", 30))
    assert toxics_seen_independently("reference-db") == ["chaosfleet-run1-f0"]
    control.engage_kill_switch("test", ["reference-db"])
    assert toxics_seen_independently("reference-db") == []
    control.release_kill_switch()


@pytest.fixture
def host_clock_ahead(redis_client):
    """This process as a host whose own clock runs 5 s ahead, on the fleet clock."""
    clock.install(redis_client.time, offset=5.0)
    yield
    clock.install(None)


def test_a_host_five_seconds_ahead_never_reverts_a_fault_early(control, host_clock_ahead):
    expires_at = clock.now() + 2.5
    held = Lease(id="chaosfleet-skew", run_id="run1", spec=latency(), expires_at=expires_at)
    assert control.apply(held)
    # by this host's own clock the lease is already over; by the fleet's it is not
    assert clock.local() > expires_at and clock.skew() == pytest.approx(5.0, abs=0.2)
    assert control.revert_expired() == 0 and control.leases.alive(held.id)
    assert toxics_seen_independently("reference-db") == ["chaosfleet-skew"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and control.revert_expired() == 0:
        time.sleep(0.1)
    assert clock.now() >= expires_at  # reverted at its expiry, not 5 s before
    assert toxics_seen_independently("reference-db") == []

"""Invariant 1: a fault outlives its lease by at most the janitor period, even when
the worker that applied it and the run's controller are killed with SIGKILL."""

import time

import pytest
import redis

from chaosfleet.cli.procs import stop_all
from chaosfleet.core.settings import get_settings
from faults.leases import LeaseStore
from tests.conftest import toxics_seen_independently
from tests.e2e.conftest import start_fleet, submit, wait_for, write_scenario

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: long-latency
target: reference
traffic:
  rate: 20
  duration: 24s
  operations: [{name: create_order, payload: {customer: x, sku: SKU-0001, quantity: 1}}]
faults:
  - {type: latency, proxy: reference-db, latency_ms: 1500, start: 2s, duration: 10s}
steady_state: {probes: [healthy]}
recovery: {within: 10s}
"""



def test_sigkill_mid_fault_leaves_no_toxic_once_the_lease_expires(e2e_dir, reference_target,
                                                                  tmp_path):
    base_url = reference_target("")
    fleet = start_fleet(e2e_dir)
    try:
        submit(write_scenario(tmp_path, "long-latency", SCENARIO), base_url)

        wait_for(lambda: toxics_seen_independently("reference-db"), 20, "fault applied")
        fleet["faults"].kill()
        fleet["control"].kill()
        killed_at = time.time()

        settings = get_settings()
        leases = LeaseStore(redis.Redis.from_url(settings.redis_url), settings.key_prefix)
        (lease,) = leases.active()
        assert lease.expires_at > killed_at + 5, "the kill must land well inside the window"
        # nobody reverted it yet
        assert toxics_seen_independently("reference-db") == [f"chaosfleet-{lease.id}"]

        gone_at = wait_for(
            lambda: time.time() if not toxics_seen_independently("reference-db") else None,
            lease.expires_at - time.time() + settings.janitor_period + 10,
            "toxic reverted after lease expiry",
        )
        assert gone_at >= lease.expires_at - 0.1, "reverted before expiry: not the janitor"
        assert gone_at <= lease.expires_at + settings.janitor_period + 1.0
        assert leases.active() == []
    finally:
        stop_all(fleet.values())

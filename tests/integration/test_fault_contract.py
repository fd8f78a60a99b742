"""The `Fault` contract, run against every registered fault type on the real
services: revert before apply is harmless, apply twice is one fault, a revert
from another process (holding only the lease, as the janitor does) ends it, and
nothing is left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from pydantic import TypeAdapter

from chaosfleet.core.config import HttpTarget
from faults.base import FaultContext
from faults.control import FaultControl, fault_of
from faults.leases import Lease
from faults.registry import FAULT_TYPES, FaultSpec
from tests.conftest import REPO, target_sessions, toxics_seen_independently

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WINDOW = {"start": 0, "duration": 9}
TOXIC = {"proxy": "reference-db", **WINDOW}
# one example of every built-in fault type: a new family adds its own here
EXAMPLES: dict[str, dict[str, object]] = {
    "latency": {"latency_ms": 300, **TOXIC},
    "timeout": {"timeout_ms": 0, **TOXIC},
    "reset_peer": {"timeout_ms": 10, **TOXIC},
    "bandwidth": {"rate_kbps": 5, **TOXIC},
    "slicer": {"average_size": 8, "delay_us": 100, **TOXIC},
    "limit_data": {"bytes": 4096, **TOXIC},
    "slow_close": {"delay_ms": 250, **TOXIC},
    "proxy_down": {"proxy": "reference-db", **WINDOW},
    "pool_exhaustion": {"proxy": "reference-db", "connections": 4, "database": "reftarget",
                        "user": "reftarget", "password_env": "REFTARGET_DB_PASSWORD", **WINDOW},
    "worker_halt_storm": {"signal": "SIGKILL", "every": 0.5, **WINDOW},
    "halt_signal_storm": {"rate": 5, "expect": {"max_accepted": 1, "per": 1}, **WINDOW},
    "malformed_input": {"operations": ["create_order"], **WINDOW},
}
SPECS: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)
# the halt signal storm needs a target declaring `halt`; nothing listens on port 9
HALT_TARGET = HttpTarget(kind="http", base_url="http://127.0.0.1:9",
                         operations={"halt": {"method": "POST", "path": "/halt"}})

REVERT_ELSEWHERE = """
import sys, redis
from chaosfleet.core.settings import get_settings
from faults.base import FaultContext
from faults.control import FaultControl
from faults.toxiproxy import ToxiproxyClient

url, prefix, lease_id = sys.argv[1:]
control = FaultControl(redis.Redis.from_url(url), prefix,
                       FaultContext(toxiproxy=ToxiproxyClient(get_settings().toxiproxy_url)))
print(control.revert_by_id(lease_id))
"""


def spec_of(fault_type: str) -> FaultSpec:
    return SPECS.validate_python({"type": fault_type, **EXAMPLES[fault_type]})


def lease_for(fault_type: str) -> Lease:
    spec = spec_of(fault_type)
    return Lease(id=f"chaosfleet-contract-{fault_type}", run_id="contract", spec=spec,
                 target=HALT_TARGET if fault_type == "halt_signal_storm" else None,
                 expires_at=time.time() + 60)


def world_effects(control: FaultControl, lease: Lease) -> list[str]:
    """What an independent observer sees of the fault: the family's own inspection,
    and for the proxy families what Toxiproxy and PostgreSQL say themselves."""
    seen = list(fault_of(lease).inspect(control.ctx).residue)
    seen += [f"toxiproxy lists {t}" for t in toxics_seen_independently("reference-db")]
    if lease.spec.type == "pool_exhaustion":
        held = target_sessions(f"chaosfleet-{lease.id}")
        seen += [f"{held} held sessions"] if held else []
    return seen


@pytest.fixture
def control(toxiproxy, redis_client) -> Iterator[FaultControl]:
    ctl = FaultControl(redis_client, "contract", FaultContext(toxiproxy=toxiproxy))
    yield ctl
    for lease in ctl.leases.active():
        ctl.revert(lease)
    toxiproxy.set_enabled("reference-db", True)


def test_every_registered_fault_type_has_a_contract_example():
    assert set(EXAMPLES) == set(FAULT_TYPES)
    for fault_type in EXAMPLES:  # and each example is a valid spec of its type
        assert spec_of(fault_type).type == fault_type


@pytest.mark.parametrize("fault_type", sorted(EXAMPLES))
def test_the_fault_contract_holds(control, fault_type):
    lease = lease_for(fault_type)
    fault = fault_of(lease)

    fault.revert(control.ctx)  # revert before apply: the janitor does this for dead runs
    assert world_effects(control, lease) == []

    assert control.apply(lease) and control.apply(lease)  # applied twice: one fault
    if fault_type not in ("malformed_input", "worker_halt_storm", "halt_signal_storm"):
        effects = world_effects(control, lease)
        assert len(effects) >= 1, f"{fault_type} applied but nothing is seen"
        assert len(toxics_seen_independently("reference-db")) <= 1  # never two toxics

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    url = control.client.connection_pool.connection_kwargs
    other = subprocess.run([sys.executable, "-c", REVERT_ELSEWHERE,
                            f"redis://{url['host']}:{url['port']}/{url['db']}", control.prefix,
                            lease.id],
                           capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert other.returncode == 0 and other.stdout.strip() == "True", other.stderr

    deadline = time.monotonic() + 10  # a storm sees its lease gone within a tick or two
    while (left := world_effects(control, lease)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []
    assert control.leases.active() == []
    assert not control.client.exists(f"{control.prefix}:fault:{lease.id}:beat")

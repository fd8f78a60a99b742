"""Apply and revert faults under leases; the janitor and the kill switch.

Ordering is what makes invariant 1 hold: lease first, then apply; revert first,
then release. A fault whose lease vanished while it was being applied (the
janitor reverted it) is reverted again at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import redis

from chaosfleet.errors import ChaosfleetError, KillSwitchEngaged
from faults.base import TOXIC_PREFIX, FaultContext
from faults.leases import Lease, LeaseStore
from faults.registry import build_fault

log = logging.getLogger("chaosfleet.faults")


@dataclass
class FaultControl:
    client: redis.Redis
    prefix: str
    ctx: FaultContext
    leases: LeaseStore = field(init=False)

    def __post_init__(self) -> None:
        self.leases = LeaseStore(self.client, self.prefix)

    # -- kill switch

    @property
    def _kill_key(self) -> str:
        return f"{self.prefix}:killswitch"

    def kill_switch_engaged(self) -> bool:
        return bool(self.client.exists(self._kill_key))

    def engage_kill_switch(self, reason: str, proxies: list[str]) -> int:
        """Stop all chaos: refuse new faults, revert every lease and strip any
        chaosfleet toxic left on the allowlisted proxies. Returns faults reverted."""
        self.client.set(self._kill_key, reason)
        reverted = sum(1 for lease in self.leases.active() if self.revert(lease))
        return reverted + self._strip_toxics(proxies)

    def revert_orphans(self, proxies: list[str]) -> int:
        """Remove the fleet's toxics that no lease accounts for (their lease was lost
        with Redis). Toxics are read before leases: a fault is applied only after its
        lease is written, so a live fault can never look like an orphan."""
        seen = {proxy: self.ctx.toxiproxy.toxics(proxy) for proxy in proxies}
        leased = {build_fault(lease.spec, lease.id).name for lease in self.leases.active()}
        removed = 0
        for proxy, toxics in seen.items():
            for toxic in toxics:
                name = toxic["name"]
                if name.startswith(TOXIC_PREFIX) and name not in leased:
                    removed += self.ctx.toxiproxy.remove_toxic(proxy, name)
                    log.warning("removed orphan toxic %s on %s (no lease)", name, proxy)
        return removed

    def _strip_toxics(self, proxies: list[str]) -> int:
        removed = 0
        for proxy in proxies:
            for toxic in self.ctx.toxiproxy.toxics(proxy):
                if toxic["name"].startswith(TOXIC_PREFIX):
                    removed += self.ctx.toxiproxy.remove_toxic(proxy, toxic["name"])
        return removed

    def release_kill_switch(self) -> None:
        self.client.delete(self._kill_key)

    # -- apply / revert

    def apply(self, lease: Lease) -> bool:
        """Apply the lease's fault; False when it was skipped (already expired)."""
        if self.kill_switch_engaged():
            raise KillSwitchEngaged("kill switch is engaged; fault not applied")
        if lease.expires_at <= time.time():
            log.warning("lease %s expired before its fault was applied; skipped", lease.id)
            return False
        fault = build_fault(lease.spec, lease.id)
        self.leases.acquire(lease)
        try:
            fault.apply(self.ctx)
        except BaseException:
            self.revert(lease)
            raise
        if not self.leases.mark_applied(lease.id, time.time()):
            fault.revert(self.ctx)  # the janitor released it while we applied
            return False
        log.info("applied %s under lease %s", fault.describe(), lease.id)
        return True

    def revert(self, lease: Lease) -> bool:
        """Revert and release; idempotent. False when the lease was already gone."""
        build_fault(lease.spec, lease.id).revert(self.ctx)
        released = self.leases.release(lease.id)
        if released:
            log.info("reverted lease %s", lease.id)
        return released

    def revert_by_id(self, lease_id: str) -> bool:
        lease = self.leases.get(lease_id)
        return self.revert(lease) if lease else False

    def revert_expired(self, now: float | None = None) -> int:
        """The janitor's pass: revert every fault whose lease has expired."""
        reverted = 0
        for lease in self.leases.expired(now):
            try:
                reverted += self.revert(lease)
            except ChaosfleetError as exc:  # keep the lease; the next pass retries
                log.error("janitor could not revert lease %s: %s", lease.id, exc)
        return reverted

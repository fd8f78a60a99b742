"""Apply and revert faults under leases; the janitor and the kill switch.

Ordering is what makes invariant 1 hold: lease first, then apply; revert first,
then release. A fault whose lease vanished while it was being applied (the
janitor reverted it) is reverted again at once.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import redis

from chaosfleet.core import clock
from chaosfleet.core.errors import ChaosfleetError, KillSwitchEngaged
from faults.base import TOXIC_PREFIX, Fault, FaultContext, FaultError
from faults.leases import Lease, LeaseStore
from faults.registry import build_fault

log = logging.getLogger("chaosfleet.faults")


class FaultConflict(FaultError):
    """Another run's fault holds the same proxy."""


class KillSwitchIncomplete(ChaosfleetError):
    """The kill switch is engaged but some faults could not be reverted yet; their
    leases stay, so the janitor keeps trying."""


def fault_of(lease: Lease) -> Fault:
    return build_fault(lease.spec, lease.id, lease.target)


def kill_switch_key(prefix: str) -> str:
    return f"{prefix}:killswitch"


@dataclass
class FaultControl:
    client: redis.Redis
    prefix: str
    ctx: FaultContext
    leases: LeaseStore = field(init=False)

    def __post_init__(self) -> None:
        self.leases = LeaseStore(self.client, self.prefix)
        self.ctx = dataclasses.replace(self.ctx, redis=self.client, key_prefix=self.prefix,
                                       lease_alive=self.leases.alive)

    # -- kill switch

    @property
    def _kill_key(self) -> str:
        return kill_switch_key(self.prefix)

    def kill_switch_engaged(self) -> bool:
        return bool(self.client.exists(self._kill_key))

    def engage_kill_switch(self, reason: str, proxies: list[str]) -> int:
        """Stop all chaos: refuse new faults, revert every lease, strip any chaosfleet
        toxic left on the allowlisted proxies and bring back any that is down.
        Returns what was reverted; raises KillSwitchIncomplete (after trying
        everything) when something could not be, e.g. Toxiproxy hangs."""
        self.client.set(self._kill_key, reason)
        reverted, problems = 0, []
        for lease in self.leases.active():
            try:
                reverted += self.revert(lease)
            except ChaosfleetError as exc:
                problems.append(f"lease {lease.id}: {exc}")
        try:
            reverted += self._strip_toxics(proxies)
        except ChaosfleetError as exc:
            problems.append(f"sweeping toxics: {exc}")
        if problems:
            raise KillSwitchIncomplete(
                f"{reverted} fault(s) reverted; not yet ({len(problems)}): "
                + "; ".join(problems[:5]))
        return reverted

    def revert_orphans(self, proxies: list[str]) -> int:
        """Remove the fleet's toxics that no lease accounts for (their lease was lost
        with Redis). Toxics are read before leases: a fault is applied only after its
        lease is written, so a live fault can never look like an orphan."""
        seen = {proxy: self.ctx.toxiproxy.toxics(proxy) for proxy in proxies}
        leased = {fault_of(lease).name for lease in self.leases.active()}
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
            current = self.ctx.toxiproxy.get_proxy(proxy)
            if current is None:
                continue
            for toxic in current.get("toxics", []):
                if toxic["name"].startswith(TOXIC_PREFIX):
                    removed += self.ctx.toxiproxy.remove_toxic(proxy, toxic["name"])
            if not current.get("enabled", True):  # only the fleet takes allowlisted proxies down
                self.ctx.toxiproxy.set_enabled(proxy, True)
                removed += 1
        return removed

    def release_kill_switch(self) -> None:
        self.client.delete(self._kill_key)

    # -- apply / revert

    def check_conflicts(self, lease: Lease) -> None:
        """Two runs never fault the same proxy at once: their faults would compose
        in ways neither scenario declared."""
        proxy = lease.spec.proxy_name
        if proxy is None:
            return
        for other in self.leases.active():
            if other.run_id != lease.run_id and other.spec.proxy_name == proxy:
                raise FaultConflict(
                    f"proxy {proxy!r} already carries {fault_of(other).describe()} of run "
                    f"{other.run_id} (lease {other.id}); refusing to add "
                    f"{fault_of(lease).describe()}")

    def apply(self, lease: Lease) -> bool:
        """Apply the lease's fault; False when it was skipped (already expired)."""
        if self.kill_switch_engaged():
            raise KillSwitchEngaged("kill switch is engaged; fault not applied")
        if lease.expires_at <= clock.now():
            log.warning("lease %s expired before its fault was applied; skipped", lease.id)
            return False
        self.check_conflicts(lease)
        fault = fault_of(lease)
        self.leases.acquire(lease)
        try:
            fault.apply(self.ctx)
        except BaseException:
            self.revert(lease)
            raise
        if not self.leases.mark_applied(lease.id, clock.now()):
            fault.revert(self.ctx)  # the janitor released it while we applied
            return False
        log.info("applied %s under lease %s", fault.describe(), lease.id)
        return True

    def revert(self, lease: Lease) -> bool:
        """Revert and release; idempotent. False when the lease was already gone."""
        self.leases.mark_releasing(lease.id)
        fault_of(lease).revert(self.ctx)
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

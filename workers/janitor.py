"""The lease janitor, as a worker bootstep: every fleet worker's main process
reverts expired leases every `janitor_period` seconds, so a fault outlives a
killed controller or fault worker by at most that period (invariant 1), and
removes the fleet's toxics whose lease was lost (Redis restarted empty)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import bootsteps

from chaosfleet.core.errors import ChaosfleetError
from chaosfleet.core.settings import get_settings
from chaosfleet.fleet import Fleet
from workers.runtime import fleet

log = logging.getLogger("chaosfleet.janitor")


def revert_expired_once(fleet: Fleet) -> int:
    """One pass: expired leases, then the fleet's toxics that no lease accounts for."""
    try:
        control = fleet.faults
        reverted = control.revert_expired()
        reverted += control.revert_orphans(fleet.config.allowlist.proxies)
    except (ChaosfleetError, redis.RedisError) as exc:
        log.error("janitor pass failed (will retry): %s", exc)
        return 0
    if reverted:
        log.warning("janitor reverted %d fault(s)", reverted)
    return reverted


def run_janitor(fleet: Fleet, stop: threading.Event, period: float) -> None:
    while not stop.wait(period):
        revert_expired_once(fleet)


class JanitorStep(bootsteps.StartStopStep):
    def __init__(self, parent: Any, **kwargs: Any):
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()

    def start(self, parent: Any) -> None:
        # One pass in the main thread first: every lazy import the janitor needs
        # (httpx imports httpcore on first use) happens before the thread exists.
        # A prefork child forked while a thread holds an import lock deadlocks on
        # its own next import of that module.
        revert_expired_once(fleet())
        threading.Thread(
            target=run_janitor, args=(fleet(), self._stop, get_settings().janitor_period),
            name="lease-janitor", daemon=True,
        ).start()

    def stop(self, parent: Any) -> None:
        self._stop.set()

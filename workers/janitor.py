"""The lease janitor, as a worker bootstep: every fleet worker's main process
reverts expired leases every `janitor_period` seconds, so a fault outlives a
killed controller or fault worker by at most that period (invariant 1)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import bootsteps

from chaosfleet.errors import ChaosfleetError
from chaosfleet.settings import get_settings

log = logging.getLogger("chaosfleet.janitor")


def run_janitor(stop: threading.Event, period: float) -> None:
    from workers.runtime import fault_control

    while not stop.wait(period):
        try:
            reverted = fault_control().revert_expired()
            if reverted:
                log.warning("janitor reverted %d expired fault(s)", reverted)
        except (ChaosfleetError, redis.RedisError) as exc:
            log.error("janitor pass failed (will retry): %s", exc)


class JanitorStep(bootsteps.StartStopStep):
    def __init__(self, parent: Any, **kwargs: Any):
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent: Any) -> None:
        self._thread = threading.Thread(
            target=run_janitor, args=(self._stop, get_settings().janitor_period),
            name="lease-janitor", daemon=True,
        )
        self._thread.start()

    def stop(self, parent: Any) -> None:
        self._stop.set()

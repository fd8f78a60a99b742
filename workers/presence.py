"""The presence bootstep: each worker's main process announces itself in Redis
every second (chaosfleet/core/presence.py) and withdraws on a clean shutdown.

What it announces comes from the running worker, not from its command line: the
queues it really consumes (`-Q traffic`, `--queues=traffic` or no flag at all),
its pool's process ids and the hash of the fleet config this process loaded.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import bootsteps

from chaosfleet.core import clock
from chaosfleet.core.presence import (
    ANNOUNCE_EVERY,
    WorkerPresence,
    announce,
    config_hash,
    withdraw,
)
from workers.runtime import fleet

log = logging.getLogger("chaosfleet.presence")


def describe_worker(worker: Any) -> WorkerPresence:
    """This worker as it runs now: its queues, its pool and its config."""
    info = worker.pool.info if worker.pool is not None else {}
    pool = tuple(pid for pid in info.get("processes", ()) if pid)
    try:
        digest = config_hash(fleet().config)
    except Exception as exc:  # announced, so a run names this worker instead of hanging
        digest = f"unreadable: {exc}"[:200]
    seen_at = clock.now()  # first: it measures the clock, so the skew below is known
    return WorkerPresence(
        node=worker.hostname, host=socket.gethostname(), pid=os.getpid(),
        queues=tuple(sorted(worker.app.amqp.queues.consume_from)),
        concurrency=int(worker.concurrency or len(pool) or 1), pool=pool,
        config_hash=digest, skew=clock.skew(), seen_at=seen_at)


class PresenceStep(bootsteps.StartStopStep):
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any):
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()

    def start(self, parent: Any) -> None:
        self._announce(parent)  # in the main thread first: its imports happen before forks
        threading.Thread(target=self._loop, args=(parent,), name="presence",
                         daemon=True).start()

    def _loop(self, worker: Any) -> None:
        while not self._stop.wait(ANNOUNCE_EVERY):
            self._announce(worker)

    def _announce(self, worker: Any) -> None:
        try:
            f = fleet()
            announce(f.redis, f.settings.key_prefix, describe_worker(worker))
        except Exception as exc:  # Redis down: the worker drops out until it is back
            log.warning("could not announce this worker: %s", exc)

    def stop(self, parent: Any) -> None:
        self._stop.set()
        try:
            f = fleet()
            withdraw(f.redis, f.settings.key_prefix, parent.hostname)
        except Exception as exc:
            log.warning("could not withdraw this worker: %s", exc)

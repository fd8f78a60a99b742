"""One clock for the whole fleet: wall time as the Redis server tells it.

Leases expire, slices start and per-second stats are bucketed by wall time that
crosses hosts: the controller plans a slice's send times, a traffic worker on
another host keeps them, and a janitor anywhere reverts a lease at its expiry.
Each host's own clock would let a host that runs ahead revert faults early, so
every such time comes from `now()`: this host's clock plus the correction to the
Redis server's `TIME`, measured when a time is first asked for after `install`
and again every `RESYNC` seconds.
`skew()` is how far this host's own clock is from Redis (positive: ahead); the
workers announce it, and a run's journal names any host past `SKEW_WARN`.

Durations (a request's latency, a wait) use `time.monotonic`, never this clock.
`CHAOSFLEET_CLOCK_OFFSET` shifts this host's own clock view, so a test can run a
host with a clock that is wrong by a known amount.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("chaosfleet.clock")

RESYNC = 30.0  # seconds between two measurements of the correction
RETRY = 5.0  # seconds before measuring again after Redis did not answer
SKEW_WARN = 0.5  # seconds of skew a run's journal reports

RedisTime = Callable[[], tuple[int, int]]  # redis.Redis.time: (seconds, microseconds)


class _Clock:
    def __init__(self) -> None:
        self.source: RedisTime | None = None
        self.offset = 0.0  # this host's simulated error (CHAOSFLEET_CLOCK_OFFSET)
        self.correction: float | None = None  # Redis time minus this host's clock
        self.shift = 0.0  # offset + correction: what `now` adds to time.time()
        self.next_sync = float("inf")
        self.lock = threading.Lock()

    def local(self) -> float:
        return time.time() + self.offset

    def sync(self) -> float | None:
        """Measure the correction: Redis time against the middle of the round trip."""
        if not self.lock.acquire(blocking=False):  # another thread is measuring
            return self.correction
        try:
            if self.source is None:
                return None
            before = self.local()
            seconds, micros = self.source()
            after = self.local()
            self.correction = seconds + micros / 1e6 - (before + after) / 2
            self.shift = self.offset + self.correction
            self.next_sync = time.monotonic() + RESYNC
        except Exception as exc:  # Redis down: keep the last correction, try again soon
            self.next_sync = time.monotonic() + RETRY
            log.warning("could not read Redis time (%s); the clock keeps its last "
                        "correction", exc)
        finally:
            self.lock.release()
        return self.correction


_clock = _Clock()


def install(source: RedisTime | None, offset: float = 0.0) -> None:
    """Make `source` (a Redis client's `time`) this process's reference; it is first
    read by the next `now()`, so a command that never asks the time never connects.
    Called once per process by whoever builds its clients."""
    _clock.source, _clock.offset = source, offset
    _clock.correction = None
    _clock.shift = offset
    _clock.next_sync = float("inf") if source is None else 0.0


def now() -> float:
    """Fleet time in seconds since the epoch: comparable across hosts."""
    c = _clock  # a slice reads the time twice per operation: kept to two attribute reads
    if time.monotonic() >= c.next_sync:
        c.sync()
    return time.time() + c.shift


def local() -> float:
    """This host's own clock (with its configured offset): for display only."""
    return _clock.local()


def skew() -> float | None:
    """How far this host's clock is ahead of Redis, in seconds; None until measured."""
    return None if _clock.correction is None else -_clock.correction

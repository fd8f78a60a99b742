"""Load shedding for events and the aggregate halt guard."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import redis

from reftarget.errors import RateLimited, Unavailable


class LoadShedder:
    """Admits every critical event; sheds telemetry once `capacity` are in flight.
    Without `priority`, critical events are shed like telemetry (the defect the
    chaos suite must catch)."""

    def __init__(self, capacity: int, enabled: bool = True, priority: bool = True):
        self.capacity = capacity
        self.enabled = enabled
        self.priority = priority
        self._in_flight = 0
        self._lock = threading.Lock()

    def try_enter(self, critical: bool) -> bool:
        with self._lock:
            exempt = critical and self.priority
            if self.enabled and not exempt and self._in_flight >= self.capacity:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


class HaltGuard:
    """A fixed-window limit on halts shared by every instance through Redis, so a
    storm of halts cannot cascade. Redis down means halts are refused (fail closed)."""

    def __init__(
        self,
        client: redis.Redis,
        limit: int,
        window: float,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        aggregate: bool = True,
    ):
        self.client = client
        self.limit = limit
        self.window = window
        self.enabled = enabled
        self.aggregate = aggregate  # off: the regression of a limit kept per process
        self._local: dict[int, int] = {}
        self._clock = clock

    def admit(self) -> None:
        if not self.enabled:
            return
        now = self._clock()
        slot = math.floor(now / self.window)
        key = f"reftarget:halts:{slot}"
        if not self.aggregate:
            self._local = {slot: self._local.get(slot, 0) + 1}
            count = self._local[slot]
            if count > self.limit:
                raise RateLimited(f"halt limit {self.limit} per {self.window:g}s reached",
                                  (slot + 1) * self.window - now)
            return
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, math.ceil(self.window) + 1)
            count = int(pipe.execute()[0])
        except redis.RedisError as exc:
            raise Unavailable(f"halt guard cannot reach redis: {type(exc).__name__}") from None
        if count > self.limit:
            retry_after = (slot + 1) * self.window - now
            raise RateLimited(f"halt limit {self.limit} per {self.window:g}s reached", retry_after)

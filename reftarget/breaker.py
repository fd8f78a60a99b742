"""A circuit breaker (closed, open, half-open) guarding the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from reftarget.errors import Unavailable

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one trial call through
    after `reset_after` seconds; closes on the trial's success."""

    def __init__(
        self,
        threshold: int,
        reset_after: float,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ):
        self.threshold = threshold
        self.reset_after = reset_after
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._reset_due():
                return BreakerState.HALF_OPEN
            return self._state

    def _reset_due(self) -> bool:
        return self._clock() - self._opened_at >= self.reset_after

    def retry_after(self) -> float:
        return max(0.1, self.reset_after - (self._clock() - self._opened_at))

    def _admit(self) -> bool:
        """Decide whether a call may proceed; True marks it as the half-open trial."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return False
            if self._state is BreakerState.OPEN and self._reset_due():
                self._state = BreakerState.HALF_OPEN
            if self._state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            raise Unavailable(f"circuit breaker {self._state}", self.retry_after())

    def _record(self, ok: bool, trial: bool) -> None:
        with self._lock:
            if trial:
                self._trial_in_flight = False
            if ok:
                self._failures = 0
                self._state = BreakerState.CLOSED
                return
            self._failures += 1
            if trial or self._failures >= self.threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()

    def call(self, fn: Callable[[], T]) -> T:
        if not self.enabled:
            return fn()
        trial = self._admit()
        try:
            result = fn()
        except Unavailable:
            self._record(False, trial)
            raise
        except BaseException:
            # not a dependency failure (e.g. a unique-key conflict): leaves state alone
            with self._lock:
                if trial:
                    self._trial_in_flight = False
            raise
        self._record(True, trial)
        return result

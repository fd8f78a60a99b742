"""A run's live state in Redis: progress, slice and fault status, stop requests."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
from redis.client import Pipeline

from chaosfleet.traffic.stats import run_stats_key

TTL = 7 * 86400

# raise a hash field to a value, never lower it (one round trip, atomic)
_RAISE_TO = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
"""


# an attempt begins: its slice's status and high-water mark, and on a first attempt
# (no status, no mark) the mark raised to ARGV[2] when that is above 0
_BEGIN_ATTEMPT = """
local status = redis.call('HGET', KEYS[1], ARGV[1])
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not status and not current and tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return {status, current}
"""


def text_of(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class SliceStatus:
    """How a slice ended: done, having issued `issued` operations, or failed with
    `error`. Stored as "done:N" or "error: ..." (the format the fleet has always
    written, so a worker of the previous release reads the same)."""

    done: bool
    issued: int = 0
    error: str = ""

    @classmethod
    def finished(cls, issued: int) -> SliceStatus:
        return cls(True, issued=issued)

    @classmethod
    def failed(cls, error: str) -> SliceStatus:
        return cls(False, error=error)

    def encode(self) -> str:
        return f"done:{self.issued}" if self.done else f"error: {self.error}"

    @classmethod
    def decode(cls, raw: str) -> SliceStatus:
        if raw.startswith("done:") and raw[5:].isdigit():
            return cls.finished(int(raw[5:]))
        return cls.failed(raw.removeprefix("error:").strip() or raw)

    def __str__(self) -> str:
        return self.encode()


class FaultPhase(StrEnum):
    """Where a fault's apply is: the controller marks it sent, a faults worker
    received, then applied, or an error."""

    SENT = "sent"
    RECEIVED = "received"
    APPLIED = "applied"
    ERROR = "error"


@dataclass(frozen=True)
class FaultStatus:
    phase: FaultPhase
    error: str = ""

    def encode(self) -> str:
        return f"error: {self.error}" if self.phase is FaultPhase.ERROR else str(self.phase)

    @classmethod
    def decode(cls, raw: str) -> FaultStatus:
        if raw in (FaultPhase.SENT, FaultPhase.RECEIVED, FaultPhase.APPLIED):
            return cls(FaultPhase(raw))
        return cls(FaultPhase.ERROR, raw.removeprefix("error:").strip() or raw)

    def __str__(self) -> str:
        return self.encode()


class RunState:
    def __init__(self, client: redis.Redis, prefix: str, run_id: str):
        self.client = client
        self.prefix = prefix
        self.run_id = run_id
        base = f"{prefix}:run:{run_id}"
        self._progress = f"{base}:progress"
        self._slices = f"{base}:slices"
        self._faults = f"{base}:faults"
        self._high_water = f"{base}:high_water"
        self._stop = f"{base}:stop"
        self.stats_key = run_stats_key(prefix, run_id)

    def set_progress(self, **fields: Any) -> None:
        self.client.hset(self._progress, mapping={k: str(v) for k, v in fields.items()})
        self.client.expire(self._progress, TTL)

    def progress(self) -> dict[str, str]:
        return {text_of(k): text_of(v) for k, v in self.client.hgetall(self._progress).items()}

    def claim(self) -> bool:
        """True the first time a controller takes this run; False on a redelivery."""
        claimed = self.client.hsetnx(self._progress, "claimed", "1")
        self.client.expire(self._progress, TTL)
        return bool(claimed)

    def mark_slice(self, index: int, status: SliceStatus, pipe: Pipeline | None = None) -> None:
        """In one round trip: its own, or `pipe`'s (the caller executes it)."""
        own = pipe is None
        pipe = self.client.pipeline(transaction=False) if pipe is None else pipe
        pipe.hset(self._slices, str(index), status.encode())
        pipe.expire(self._slices, TTL)
        if own:
            pipe.execute()

    def reserve(self, index: int, n: int) -> None:
        """Record, before sending, that operations below n of this slice may be sent."""
        self.client.eval(_RAISE_TO, 1, self._high_water, str(index), str(n), str(TTL))

    def high_water(self, index: int) -> int:
        raw = self.client.hget(self._high_water, str(index))
        return int(raw) if raw else 0

    def begin_attempt(self, index: int, reserve: int = 0) -> tuple[SliceStatus | None, int]:
        """What a worker reads before an attempt of its slice, in one round trip: the
        slice's status (is it done already?) and how far earlier attempts got. Only its
        own: reading every slice would cost a run of many slices more than the slice.
        A first attempt (neither yet) also raises the mark to `reserve` in that trip."""
        status, high_water = self.client.eval(
            _BEGIN_ATTEMPT, 2, self._slices, self._high_water, str(index), str(reserve),
            str(TTL))
        return (None if status is None else SliceStatus.decode(text_of(status)),
                int(high_water) if high_water else 0)

    def count_slices(self) -> int:
        """How many slices have a status (one command, whatever their number)."""
        return int(self.client.hlen(self._slices))

    def slices(self) -> dict[int, SliceStatus]:
        return {int(k): SliceStatus.decode(text_of(v))
                for k, v in self.client.hgetall(self._slices).items()}

    def mark_fault(self, lease_id: str, status: FaultStatus) -> None:
        self.client.hset(self._faults, lease_id, status.encode())
        self.client.expire(self._faults, TTL)

    def fault_status(self, lease_id: str) -> FaultStatus | None:
        raw = self.client.hget(self._faults, lease_id)
        return FaultStatus.decode(text_of(raw)) if raw else None

    def request_stop(self, reason: str) -> None:
        self.client.set(self._stop, reason, ex=TTL)

    def stop_reason(self) -> str | None:
        raw = self.client.get(self._stop)
        return text_of(raw) if raw else None

    def stats(self) -> dict[str, int]:
        return {text_of(k): int(v) for k, v in self.client.hgetall(self.stats_key).items()}

"""Leases: the durable record of every active fault, with an expiry, in Redis.

A lease is written before its fault is applied and deleted after its fault is
reverted, so a fault is never active without one. A sorted set by expiry lets
any janitor find what has outlived its lease.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, TypeAdapter

from chaosfleet.core import clock
from chaosfleet.core.config import TargetSpec
from faults.registry import FaultSpec

_spec_adapter: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)


class Lease(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    run_id: str
    spec: FaultSpec
    expires_at: float
    applied_at: float | None = None
    target: TargetSpec | None = None  # the run's resolved target (faults that call it)


class LeaseStore:
    def __init__(self, client: redis.Redis, prefix: str):
        self.client = client
        self._index = f"{prefix}:leases"
        self._prefix = f"{prefix}:lease:"

    def acquire(self, lease: Lease) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self._prefix + lease.id, lease.model_dump_json())
        pipe.delete(self._prefix + lease.id + ":releasing")  # a reused id starts afresh
        pipe.zadd(self._index, {lease.id: lease.expires_at})
        pipe.execute()

    def mark_applied(self, lease_id: str, at: float) -> bool:
        """Record the apply time; False when the lease is gone (reverted meanwhile)."""
        lease = self.get(lease_id)
        if lease is None:
            return False
        updated = lease.model_copy(update={"applied_at": at})
        return bool(self.client.set(self._prefix + lease_id, updated.model_dump_json(), xx=True))

    def get(self, lease_id: str) -> Lease | None:
        raw = self.client.get(self._prefix + lease_id)
        return Lease.model_validate_json(raw) if raw else None

    def mark_releasing(self, lease_id: str) -> None:
        """Tell the process holding the fault (connections, a storm thread) to let go:
        a revert may run anywhere, the holder only polls."""
        self.client.set(self._prefix + lease_id + ":releasing", 1, ex=3600)

    def alive(self, lease_id: str, now: float | None = None) -> bool:
        """Standing: recorded, not expired and not being released."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zscore(self._index, lease_id)
        pipe.exists(self._prefix + lease_id + ":releasing")
        expires_at, releasing = pipe.execute()
        now = clock.now() if now is None else now
        return expires_at is not None and float(expires_at) > now and not releasing

    def release(self, lease_id: str) -> bool:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self._index, lease_id)
        pipe.delete(self._prefix + lease_id)
        removed, _ = pipe.execute()
        return bool(removed)

    def expired(self, now: float | None = None) -> list[Lease]:
        ids = self.client.zrangebyscore(self._index, 0, now if now is not None else clock.now())
        return self._load(ids)

    def active(self) -> list[Lease]:
        return self._load(self.client.zrange(self._index, 0, -1))

    def _load(self, ids: Iterable[Any]) -> list[Lease]:
        leases = []
        for raw_id in ids:
            lease_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            lease = self.get(lease_id)
            if lease is None:  # index entry without a record: drop the stale entry
                self.client.zrem(self._index, lease_id)
                continue
            leases.append(lease)
        return leases

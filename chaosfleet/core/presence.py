"""Who is in the fleet: every worker announces itself in Redis, from any host.

Each worker's main process writes one record every `ANNOUNCE_EVERY` seconds with
a time to live, so a worker that dies (its host with it) drops out within
`ANNOUNCE_TTL`. The record says where the worker runs (its host name, as its own
UTS namespace sees it), which queues it consumes, its pool's process ids and
size, the hash of the fleet config it loaded and its clock's skew. A run reads
the records to size its slices, to refuse a fleet that disagrees on its config,
and to reach traffic processes on every host (worker halt storms).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from chaosfleet.core import clock

ANNOUNCE_EVERY = 1.0
ANNOUNCE_TTL = 3.5


class WorkerPresence(BaseModel):
    """One worker as it announced itself."""

    model_config = ConfigDict(frozen=True)

    node: str  # the Celery node name, the destination of a control command
    host: str
    pid: int  # the worker's main process
    queues: tuple[str, ...]
    concurrency: int  # tasks it runs at once
    pool: tuple[int, ...] = ()  # its prefork pool's processes (none for solo/threads)
    config_hash: str
    skew: float | None = None  # seconds its clock is ahead of Redis
    seen_at: float = 0.0  # fleet time of the announcement

    @property
    def serves_traffic(self) -> bool:
        return "traffic" in self.queues


class PoolProcess(NamedTuple):
    """One traffic process, and the worker (node) that may signal it."""

    node: str
    host: str
    pid: int


def config_hash(config: BaseModel) -> str:
    """A short fingerprint of a loaded fleet config: equal configs, equal hashes."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _keys(prefix: str) -> tuple[str, str]:
    return f"{prefix}:workers", f"{prefix}:worker:"


def announce(client: Any, prefix: str, presence: WorkerPresence) -> None:
    index, record = _keys(prefix)
    pipe = client.pipeline(transaction=False)
    pipe.set(record + presence.node, presence.model_dump_json(), px=int(ANNOUNCE_TTL * 1000))
    pipe.zadd(index, {presence.node: clock.now() + ANNOUNCE_TTL})
    pipe.execute()


def withdraw(client: Any, prefix: str, node: str) -> None:
    """A worker shutting down cleanly leaves at once, not after its TTL."""
    index, record = _keys(prefix)
    pipe = client.pipeline(transaction=False)
    pipe.delete(record + node)
    pipe.zrem(index, node)
    pipe.execute()


def read_presence(client: Any, prefix: str) -> list[WorkerPresence]:
    """Every worker that announced itself within its TTL, by node name."""
    index, record = _keys(prefix)
    client.zremrangebyscore(index, 0, clock.now())
    nodes = [n.decode() if isinstance(n, bytes) else str(n) for n in client.zrange(index, 0, -1)]
    if not nodes:
        return []
    found = []
    for raw in client.mget([record + node for node in nodes]):
        if raw is None:
            continue
        try:
            found.append(WorkerPresence.model_validate_json(raw))
        except ValidationError:  # a record from another version: not this fleet's worker
            continue
    return sorted(found, key=lambda w: w.node)


def traffic_processes(workers: list[WorkerPresence]) -> int:
    """How many traffic tasks the fleet runs at once, on every host."""
    return sum(w.concurrency for w in workers if w.serves_traffic)


def pool_processes(workers: list[WorkerPresence]) -> list[PoolProcess]:
    """Every pool process of the traffic workers, on every host."""
    return [PoolProcess(w.node, w.host, pid) for w in workers if w.serves_traffic
            for pid in w.pool]

"""Beat that fires each entry exactly once per slot, with any number of beat processes.

Two guards. celery-redbeat's lock lets one beat process schedule at a time (the
others wait for the lock and take over when its holder dies). On top of it, every
firing claims its (entry, slot) in Redis before publishing: a second scheduler that
fires the same slot, or an older one, anyway (lock expired mid-tick, a restored
schedule) publishes nothing. Slots are ordered, so one hash field per entry (its
latest slot) is the whole claim state: the number of keys does not grow with time.
Every published firing is appended to the entry's own stream,
`<prefix>:beat:fired:<entry>`, capped per entry, so the nightly suite's firings are
kept for years however often the janitor fires.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import datetime
from typing import Any

import redis
from celery.schedules import crontab
from redbeat import RedBeatScheduler

from chaosfleet.core.settings import Settings, get_settings

log = logging.getLogger("chaosfleet.beat")
FIRINGS_KEPT = 1_000  # per entry: the nightly suite's last 1,000 nights
# claim `slot` for `entry` only if it is later than the last claimed one (slots sort
# in time order: minutes as ISO text, then "after-<epoch>.<ms>" periods)
_CLAIM = """
local last = redis.call('HGET', KEYS[1], ARGV[1])
if last and last >= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def slot_of(schedule: Any, last_run_at: datetime | None, now: float) -> str:
    """The slot a firing belongs to. Crontab entries: the scheduled minute (their
    resolution). Interval entries: the period after the last recorded run, which
    every scheduler sharing redbeat's state computes alike."""
    if isinstance(schedule, crontab) or last_run_at is None:
        return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(now))
    return f"after-{last_run_at.timestamp():014.3f}"  # fixed width: sorts as text


def _client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)


def claim_slot(client: redis.Redis, prefix: str, entry: str, slot: str) -> bool:
    """True for the first claim of (entry, slot); False for it again or an earlier slot."""
    return bool(client.eval(_CLAIM, 1, f"{prefix}:beat:slots", entry, slot))


def log_firing(client: redis.Redis, prefix: str, entry: str, slot: str, task_id: str,
               how: str) -> None:
    client.xadd(f"{prefix}:beat:fired:{entry}",
                {"entry": entry, "slot": slot, "task_id": task_id, "pid": str(os.getpid()),
                 "how": how}, maxlen=FIRINGS_KEPT, approximate=True)


class DedupScheduler(RedBeatScheduler):
    """redbeat's scheduler, deduplicating each firing by (entry, slot)."""

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        settings = get_settings()
        client = _client(settings)
        slot = slot_of(entry.schedule, entry.last_run_at, time.time())
        if not claim_slot(client, settings.key_prefix, entry.name, slot):
            log.warning("beat: %s slot %s already fired; not firing again", entry.name, slot)
            if advance:  # move the entry on, as a firing would
                self.reserve(entry)
            return None
        result = super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        log_firing(client, settings.key_prefix, entry.name, slot,
                   getattr(result, "id", "") or "", "schedule")
        return result


def fire_entry_now(name: str, schedule: dict[str, dict[str, Any]], settings: Settings) -> str:
    """Publish a beat entry's task now, on demand (its own slot, never deduplicated
    against the schedule). Raises KeyError for an unknown entry."""
    from workers.app import app

    spec = schedule[name]
    options = dict(spec.get("options", {}))
    task_id = f"manual-{name}-{uuid.uuid4().hex[:8]}"
    app.send_task(spec["task"], args=spec.get("args", ()), kwargs=spec.get("kwargs", {}),
                  task_id=task_id, **options)
    log_firing(_client(settings), settings.key_prefix, name, f"manual-{time.time():.3f}",
               task_id, "trigger")
    return task_id


def read_firings(client: redis.Redis, prefix: str) -> list[dict[str, str]]:
    """Every entry's kept firings, oldest first."""
    found: list[tuple[tuple[int, int], dict[str, str]]] = []
    for key in client.scan_iter(f"{prefix}:beat:fired:*", count=100):
        entries: list[tuple[Any, dict[bytes, bytes]]] = client.xrange(key)  # type: ignore[assignment]
        for stream_id, fields in entries:
            ms, seq = (stream_id.decode() if isinstance(stream_id, bytes) else stream_id).split("-")
            found.append(((int(ms), int(seq)), {k.decode(): v.decode() for k, v in fields.items()}))
    return [fields for _, fields in sorted(found, key=lambda f: f[0])]

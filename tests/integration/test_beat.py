"""Two beat processes side by side on real Redis, for several schedule periods:
each entry fires exactly once per slot, with redbeat's lock (and a SIGKILLed
leader handing over) and, with the lock off, by the (entry, slot) dedup alone."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest
import redis

from chaosfleet.cli.procs import Proc, spawn
from tests.conftest import require, wait_for
from workers.beat import read_firings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REDIS_URL = "redis://127.0.0.1:6379/12"  # a database of its own: its queues are counted
PREFIX = "cfbeat"
ENV = {"CHAOSFLEET_REDIS_URL": REDIS_URL, "CHAOSFLEET_KEY_PREFIX": PREFIX,
       "CHAOSFLEET_JANITOR_PERIOD": "1", "CHAOSFLEET_WARNING_PERIOD": "2",
       "CHAOSFLEET_NIGHTLY_CRON": "* * * * *", "CHAOSFLEET_BEAT_LOCK_TIMEOUT": "3"}
QUEUE_OF = {"revert-expired-leases": "faults", "evaluate-early-warnings": "control",
            "nightly-suite": "control"}


@pytest.fixture
def broker():
    require("redis")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def start_beat(tmp_path: Path, name: str, app: str = "workers") -> Proc:
    cmd = [sys.executable, "-m", "celery", "-A", app, "beat", "-l", "INFO",
           f"--pidfile={tmp_path / f'{name}.pid'}"]
    return spawn(name, cmd, tmp_path, ENV)


def assert_once_per_slot(client: redis.Redis) -> list[dict[str, str]]:
    """Every (entry, slot) in the firing log once, and every published task is in
    the log: what sits in the queues is exactly what the log says was fired."""
    firings = read_firings(client, PREFIX)
    per_slot = collections.Counter((f["entry"], f["slot"]) for f in firings)
    assert per_slot and max(per_slot.values()) == 1, per_slot.most_common(3)
    per_queue = collections.Counter(QUEUE_OF[f["entry"]] for f in firings)
    assert {q: client.llen(q) for q in ("faults", "control")} == \
        {q: per_queue.get(q, 0) for q in ("faults", "control")}
    return firings


def fired(client: redis.Redis, entry: str) -> int:
    return sum(f["entry"] == entry for f in read_firings(client, PREFIX))


def test_two_beats_fire_each_slot_once_and_hand_over_when_the_leader_dies(broker, tmp_path):
    first = start_beat(tmp_path, "beat-a")
    second = start_beat(tmp_path, "beat-b")
    try:
        wait_for(lambda: fired(broker, "revert-expired-leases") >= 6, 30, "six janitor slots")
        assert first.popen.poll() is None and second.popen.poll() is None
        firings = assert_once_per_slot(broker)
        (leader,) = {f["pid"] for f in firings}  # one scheduler at a time
        assert fired(broker, "evaluate-early-warnings") >= 2
        dead = first if str(first.popen.pid) == leader else second
        alive = second if dead is first else first
        before = len(firings)
        dead.kill()
        # the survivor takes the lock once the dead leader's expires (3 s) and goes on
        wait_for(lambda: any(f["pid"] == str(alive.popen.pid)
                             for f in read_firings(broker, PREFIX)), 20, "the handover")
        wait_for(lambda: len(read_firings(broker, PREFIX)) >= before + 5, 20, "more slots")
        firings = assert_once_per_slot(broker)
        assert {f["pid"] for f in firings} == {leader, str(alive.popen.pid)}
    finally:
        for proc in (first, second):
            proc.stop(timeout=5)


def test_without_the_lock_the_slot_dedup_alone_keeps_each_slot_to_one_firing(broker, tmp_path):
    app = "tests.integration.beat_without_lock"
    first = start_beat(tmp_path, "nolock-a", app)
    second = start_beat(tmp_path, "nolock-b", app)
    try:
        wait_for(lambda: fired(broker, "revert-expired-leases") >= 8, 30, "eight janitor slots")
        firings = assert_once_per_slot(broker)
        assert len({f["pid"] for f in firings}) == 2, "both beats must have been scheduling"
        logs = first.log_path.read_text() + second.log_path.read_text()
        assert "already fired; not firing again" in logs  # the dedup did the work
    finally:
        for proc in (first, second):
            proc.stop(timeout=5)


def test_a_day_of_firings_keeps_a_bounded_number_of_keys_and_the_nightly_record(broker):
    """A simulated day at the default periods (janitor every second, warnings every
    minute, the nightly suite once): the claim state is one hash, each entry's log is
    capped, and the 02:00 nightly firing is still there at the end of the day."""
    from datetime import UTC, datetime

    from celery.schedules import crontab, schedule

    from workers.beat import FIRINGS_KEPT, claim_slot, log_firing, slot_of

    day = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    entries = {"revert-expired-leases": (schedule(1.0), 1),
               "evaluate-early-warnings": (schedule(60.0), 60),
               "nightly-suite": (crontab(minute=0, hour=2), 86400)}
    claimed: collections.Counter[str] = collections.Counter()
    batch = 1_000  # seconds per round trip: the same Lua claim, pipelined
    for first in range(0, 86400, batch):
        due = []
        for second in range(first, min(first + batch, 86400)):
            now = day + second
            for name, (sched, period) in entries.items():
                if (second != 2 * 3600) if name == "nightly-suite" else second % period:
                    continue
                last = datetime.fromtimestamp(now - period, UTC) if second else None
                due.append((name, slot_of(sched, last, now), second))
        pipe = broker.pipeline(transaction=False)
        for name, slot, _ in due:
            claim_slot(pipe, PREFIX, name, slot)
        won = pipe.execute()
        pipe = broker.pipeline(transaction=False)
        for (name, slot, second), first_claim in zip(due, won, strict=True):
            if first_claim:
                claimed[name] += 1
                log_firing(pipe, PREFIX, name, slot, f"t{second}", "schedule")
            claim_slot(pipe, PREFIX, name, slot)  # the same slot again
        again = [r for r in pipe.execute() if isinstance(r, int)]
        assert again == [0] * len(due)  # the same slot: refused
        assert len(broker.keys(f"{PREFIX}:beat:*")) <= 1 + len(entries)
    assert claimed == {"revert-expired-leases": 86400, "evaluate-early-warnings": 1440,
                       "nightly-suite": 1}
    keys = sorted(k.decode() for k in broker.keys(f"{PREFIX}:beat:*"))
    assert keys == [f"{PREFIX}:beat:fired:{n}" for n in sorted(entries)] + [
        f"{PREFIX}:beat:slots"]
    assert broker.xlen(f"{PREFIX}:beat:fired:revert-expired-leases") <= FIRINGS_KEPT * 1.2
    nightly = [f for f in read_firings(broker, PREFIX) if f["entry"] == "nightly-suite"]
    assert [f["slot"] for f in nightly] == ["2026-12-01T02:00Z"]
    # an older slot (a scheduler with stale state) is refused too
    assert not claim_slot(broker, PREFIX, "evaluate-early-warnings",
                          slot_of(schedule(60.0), datetime.fromtimestamp(day, UTC), day))

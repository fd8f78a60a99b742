"""The fleet clock's arithmetic, against an in-memory stand-in for Redis TIME."""

import time

import pytest

from chaosfleet.core import clock


@pytest.fixture(autouse=True)
def restore():
    yield
    clock.install(None)


def redis_time(ahead: float):
    """A Redis whose clock is `ahead` seconds past this machine's."""
    def read() -> tuple[int, int]:
        t = time.time() + ahead
        return int(t), int((t % 1) * 1e6)
    return read


def test_without_a_source_the_clock_is_the_hosts_own():
    clock.install(None, offset=3.0)
    assert clock.now() == pytest.approx(time.time() + 3.0, abs=0.05)
    assert clock.skew() is None


@pytest.mark.parametrize("offset", [-5.0, 0.0, 5.0])
def test_the_fleet_clock_follows_redis_whatever_the_hosts_offset(offset):
    clock.install(redis_time(ahead=1.5), offset=offset)
    assert clock.now() == pytest.approx(time.time() + 1.5, abs=0.05)
    assert clock.skew() == pytest.approx(offset - 1.5, abs=0.05)


def test_redis_going_away_keeps_the_last_correction(monkeypatch):
    state = {"up": True}
    good = redis_time(ahead=2.0)

    def flaky() -> tuple[int, int]:
        if not state["up"]:
            raise ConnectionError("redis down")
        return good()

    clock.install(flaky)
    assert clock.now() == pytest.approx(time.time() + 2.0, abs=0.05)
    state["up"] = False
    monkeypatch.setattr(clock, "RESYNC", 0.0)
    clock._clock.next_sync = 0.0  # due now: the measurement fails
    assert clock.now() == pytest.approx(time.time() + 2.0, abs=0.05)
    assert clock._clock.next_sync > time.monotonic()  # and is retried later, not per call


def test_a_workers_first_announcement_already_carries_its_skew():
    """The run that starts right after a worker comes up reads its first record:
    the skew in it must be measured, not None (a +5 s host went unnamed)."""
    from types import SimpleNamespace

    from workers.presence import describe_worker
    from workers.runtime import fleet, forget_fleet

    fleet()  # built first, as in a worker: building it installs the real clock
    clock.install(redis_time(ahead=0.0), offset=5.0)
    worker = SimpleNamespace(
        pool=None, hostname="w@h", concurrency=1,
        app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from={}))))
    try:
        assert describe_worker(worker).skew == pytest.approx(5.0, abs=0.05)
    finally:
        forget_fleet()

"""The reference target's breaker and load shedder, as pure state machines."""

import pytest

from reftarget.breaker import BreakerState, CircuitBreaker
from reftarget.errors import Unavailable
from reftarget.guards import LoadShedder


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def failing():
    raise Unavailable("db down")


def test_breaker_opens_after_threshold_and_fails_fast():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, reset_after=2.0, clock=clock)
    calls = []
    for _ in range(3):
        with pytest.raises(Unavailable):
            breaker.call(failing)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(Unavailable, match="circuit breaker open") as info:
        breaker.call(lambda: calls.append(1))
    assert calls == [] and 0 < info.value.retry_after <= 2.0


def test_half_open_trial_success_closes_and_failure_reopens():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, reset_after=2.0, clock=clock)
    with pytest.raises(Unavailable):
        breaker.call(failing)
    clock.now = 2.5
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(Unavailable):
        breaker.call(failing)  # the trial fails: open again, for a full reset period
    clock.now = 3.0
    assert breaker.state is BreakerState.OPEN
    clock.now = 5.0
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_only_one_trial_at_a_time_in_half_open():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, reset_after=1.0, clock=clock)
    with pytest.raises(Unavailable):
        breaker.call(failing)
    clock.now = 1.5

    def nested():
        with pytest.raises(Unavailable, match="half_open"):
            breaker.call(lambda: None)
        return "trial"

    assert breaker.call(nested) == "trial"


def test_errors_that_are_not_outages_leave_the_breaker_closed():
    breaker = CircuitBreaker(threshold=1, reset_after=1.0, clock=Clock())
    with pytest.raises(KeyError):
        breaker.call(lambda: {}["x"])
    assert breaker.state is BreakerState.CLOSED


def test_disabled_breaker_never_opens():
    breaker = CircuitBreaker(threshold=1, reset_after=1.0, clock=Clock(), enabled=False)
    for _ in range(3):
        with pytest.raises(Unavailable, match="db down"):
            breaker.call(failing)
    assert breaker.state is BreakerState.CLOSED


def test_shedder_drops_telemetry_but_never_critical():
    shedder = LoadShedder(capacity=2)
    assert shedder.try_enter(critical=False) and shedder.try_enter(critical=False)
    assert not shedder.try_enter(critical=False)
    assert shedder.try_enter(critical=True)
    shedder.leave()
    shedder.leave()
    assert shedder.try_enter(critical=False)


def test_disabled_shedder_admits_everything():
    shedder = LoadShedder(capacity=0, enabled=False)
    assert shedder.try_enter(critical=False)

"""The reference target's recovery mechanisms, on real PostgreSQL and Redis reached
through real Toxiproxy proxies."""

import contextlib
import time

import pytest
from sqlalchemy import create_engine, func, select, text

from reftarget import db
from reftarget.breaker import BreakerState
from reftarget.errors import RateLimited, Unavailable, ValidationFailed
from reftarget.service import Service
from reftarget.settings import TargetSettings
from tests.conftest import require

pytestmark = pytest.mark.integration

ORDER = {"customer": "Ada", "sku": "SKU-0042", "quantity": 2}


@pytest.fixture
def make_service(toxiproxy, redis_client):
    require("postgresql")
    made = []

    def make(**overrides) -> Service:
        settings = TargetSettings(redis_url="redis://127.0.0.1:26379/13", breaker_reset=1.0,
                                  **overrides)
        service = Service(settings)
        service.create_schema()
        made.append(service)
        return service

    yield make
    for service in made:
        service.engine.dispose()


@pytest.fixture
def service(make_service) -> Service:
    svc = make_service()
    with svc.engine.begin() as conn:
        conn.execute(text("TRUNCATE orders, events, halts"))
    return svc


def count(svc: Service, table) -> int:
    with svc.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def add_latency(toxiproxy, ms=1500, proxy="reference-db"):
    toxiproxy.add_toxic(proxy, "chaosfleet-test", "latency", {"latency": ms})


def test_idempotency_key_gives_one_effect(service):
    first = service.create_order(ORDER, idempotency_key="op-1")
    again = service.create_order(ORDER, idempotency_key="op-1")
    assert first.created and not again.created and first.id == again.id
    assert count(service, db.orders) == 1


def test_without_idempotency_a_redelivery_is_applied_twice(make_service, service):
    careless = make_service(disable="idempotency")
    careless.create_order(ORDER, idempotency_key="op-1")
    careless.create_order(ORDER, idempotency_key="op-1")
    assert count(service, db.orders) == 2


def test_malformed_input_is_refused_without_a_write(service):
    with pytest.raises(ValidationFailed) as info:
        service.create_order({**ORDER, "quantity": -3}, idempotency_key="op-2")
    assert [p.field for p in info.value.problems] == ["quantity"]
    assert count(service, db.orders) == 0


def test_slow_database_fails_fast_and_the_breaker_opens_then_closes(service, toxiproxy):
    service.create_order(ORDER, idempotency_key="warm")
    add_latency(toxiproxy)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        service.create_order(ORDER, idempotency_key="slow-1")
    assert time.monotonic() - started < service.settings.request_budget + 0.5
    for i in range(service.settings.breaker_threshold):
        with contextlib.suppress(Unavailable):
            service.create_order(ORDER, idempotency_key=f"slow-{i + 2}")
    assert service.breaker.state is BreakerState.OPEN
    started = time.monotonic()
    with pytest.raises(Unavailable, match="circuit breaker"):
        service.create_order(ORDER, idempotency_key="fast-fail")
    assert time.monotonic() - started < 0.1
    toxiproxy.remove_toxic("reference-db", "chaosfleet-test")
    deadline = time.monotonic() + 10
    while service.health()["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert service.breaker.state is BreakerState.CLOSED
    assert service.create_order(ORDER, idempotency_key="after").created
    assert service.engine.pool.checkedout() == 0  # no connection leaked by the fault


def test_blackholed_database_does_not_leak_pool_connections(service, toxiproxy):
    service.create_order(ORDER, idempotency_key="warm")
    toxiproxy.add_toxic("reference-db", "chaosfleet-test", "timeout", {"timeout": 0})
    for i in range(3):
        with pytest.raises(Unavailable):
            service.create_order(ORDER, idempotency_key=f"bh-{i}")
    toxiproxy.remove_toxic("reference-db", "chaosfleet-test")
    assert service.engine.pool.checkedout() == 0
    service.breaker = type(service.breaker)(5, 1.0)  # a fresh breaker: test the pool alone
    assert service.create_order(ORDER, idempotency_key="after-bh").created


def test_pool_exhaustion_fails_fast_with_retry_after(service):
    held = [service.engine.connect() for _ in range(service.settings.pool_size)]
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable, match="pool exhausted") as info:
            service.create_order(ORDER, idempotency_key="starved")
        assert time.monotonic() - started < 1.5
        assert info.value.retry_after > 0
    finally:
        for conn in held:
            conn.close()


def test_halt_guard_limits_halts_across_instances(make_service, service):
    other = make_service()  # a second instance sharing the same Redis window
    limit = service.settings.halt_limit
    for i in range(limit):
        (service if i % 2 else other).halt({"component": "ingest", "reason": f"storm {i}"})
    with pytest.raises(RateLimited) as info:
        service.halt({"component": "ingest", "reason": "one too many"})
    assert 0 < info.value.retry_after <= service.settings.halt_window
    assert count(service, db.halts) == limit


def test_halt_guard_fails_closed_when_redis_is_unreachable(service, toxiproxy):
    toxiproxy.add_toxic("reference-redis", "chaosfleet-test", "timeout", {"timeout": 0})
    with pytest.raises(Unavailable, match="halt guard"):
        service.halt({"component": "ingest", "reason": "during outage"})
    assert count(service, db.halts) == 0


def test_critical_events_are_never_shed(make_service):
    svc = make_service(shed_capacity=0)
    assert svc.record_event({"kind": "telemetry", "name": "cpu", "value": 1}).shed
    stored = svc.record_event({"kind": "critical", "name": "payment-failed", "value": 1})
    assert stored.stored and not stored.shed


def terminate_backends(service: Service) -> int:
    """Kill the service's pooled PostgreSQL connections from the server side: the
    next use of each fails, a transient error only a retry gets past."""
    admin = create_engine("postgresql+psycopg://reftarget:reftarget@127.0.0.1:5432/reftarget")
    try:
        with admin.begin() as conn:
            return conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE usename = 'reftarget' AND pid <> pg_backend_pid()")).scalar_one()
    finally:
        admin.dispose()


@pytest.mark.parametrize("retries", [True, False])
def test_a_dropped_connection_is_retried_transparently(make_service, retries):
    service = make_service(disable="" if retries else "retries")
    service.create_order(ORDER, idempotency_key=f"warm-{retries}")
    assert terminate_backends(service) >= 1
    if retries:
        assert service.create_order(ORDER, idempotency_key=f"after-kill-{retries}").created
    else:
        with pytest.raises(Unavailable, match="database unavailable"):
            service.create_order(ORDER, idempotency_key=f"after-kill-{retries}")

"""Traffic slices against the real reference target code, and the ways a run stops."""

import time

import pytest
from sqlalchemy import create_engine, func, select, text

from chaosfleet.config import load_config
from chaosfleet.runner.analysis import Verdict, count_not_sent, parse_stats
from chaosfleet.runner.controller import Aborted
from chaosfleet.settings import BUNDLED_CONFIG
from chaosfleet.traffic.drivers import run_slice
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.stats import StatsBatch
from reftarget import db
from scenarios.model import OperationMix
from tests.conftest import require

pytestmark = pytest.mark.integration

ORDER_MIX = [OperationMix.model_validate({"name": "create_order", "payload": {
    "customer": {"faker": "name"}, "sku": {"faker": "bothify", "args": ["SKU-####"]},
    "quantity": {"faker": "pyint", "kwargs": {"min_value": 1, "max_value": 9}}}})]


def test_a_python_target_slice_drives_the_real_service_layer(redis_client, toxiproxy):
    require("postgresql")
    target = load_config(BUNDLED_CONFIG).target("reference-python")
    engine = create_engine("postgresql+psycopg://reftarget:reftarget@127.0.0.1:5432/reftarget")
    db.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE orders"))
    plan = SlicePlan(run_id="py1", index=0, run_started_at=time.time(), offset=0, duration=2,
                     rate=50, concurrency=4, seed=3, operations=ORDER_MIX, target=target)
    batch = StatsBatch(redis_client, "stats", plan.run_started_at)

    run_slice(plan, batch, should_stop=lambda: False)

    raw = {k.decode(): int(v) for k, v in redis_client.hgetall("stats").items()}
    series, errors = parse_stats(raw)
    assert sum(s.counts.get("ok", 0) for s in series) == plan.op_count == 100
    assert errors == {}
    with engine.connect() as conn:
        keys = conn.execute(select(func.count(func.distinct(db.orders.c.idempotency_key))))
        assert keys.scalar_one() == 100  # each operation id used once as idempotency key
    engine.dispose()


def test_a_stop_request_ends_a_slice_early(redis_client):
    target = load_config(BUNDLED_CONFIG).target("reference")
    plan = SlicePlan(run_id="stop1", index=0, run_started_at=time.time(), offset=0,
                     duration=30, rate=5, concurrency=2, seed=1, operations=ORDER_MIX,
                     target=target.model_copy(update={"base_url": "http://127.0.0.1:9"}))
    batch = StatsBatch(redis_client, "stats", plan.run_started_at)
    started = time.monotonic()
    run_slice(plan, batch, should_stop=lambda: time.monotonic() - started > 1.5)
    assert time.monotonic() - started < 5
    assert 0 < batch.total < plan.op_count


def test_a_slice_against_a_hung_target_ends_on_time_and_counts_what_it_did_not_send(
        redis_client, hung_listener):
    target = load_config(BUNDLED_CONFIG).target("reference").model_copy(
        update={"base_url": f"http://127.0.0.1:{hung_listener}", "timeout": 1.0})
    plan = SlicePlan(run_id="hung1", index=0, run_started_at=time.time(), offset=0,
                     duration=2, rate=20, concurrency=2, seed=1, operations=ORDER_MIX,
                     target=target)
    batch = StatsBatch(redis_client, "stats", plan.run_started_at)
    started = time.monotonic()
    run_slice(plan, batch, should_stop=lambda: False)
    assert time.monotonic() - started < plan.duration + target.timeout + 1.5
    raw = {k.decode(): int(v) for k, v in redis_client.hgetall("stats").items()}
    series, errors = parse_stats(raw)
    timeouts = sum(s.counts.get("timeout", 0) for s in series)
    assert timeouts == batch.total and errors == {"client_timeout": timeouts}
    assert timeouts + count_not_sent(raw) == plan.op_count  # every due op accounted for
    assert count_not_sent(raw) > plan.op_count / 2


def test_the_kill_switch_stops_a_run_before_it_touches_anything(make_controller):
    controller = make_controller()
    controller.faults.client.set(f"{controller.settings.key_prefix}:killswitch", "test")
    outcome = controller.execute()
    assert outcome.verdict is Verdict.ABORTED and "kill switch" in outcome.reason
    assert controller.dispatcher.sent == []


def test_a_stop_condition_trips_on_sustained_errors(make_controller):
    controller = make_controller()  # db-latency: abort at >= 98% errors for 12 s
    controller.t0 = time.time() - 20
    key = controller.state.stats_key
    for t in range(20):
        controller.faults.client.hset(key, f"c|{t}|error", 10)
    with pytest.raises(Aborted, match="stop condition"):
        controller._check_stop_conditions(time.time())


def test_a_stop_condition_does_not_trip_on_a_short_spike(make_controller):
    controller = make_controller()
    controller.t0 = time.time() - 20
    key = controller.state.stats_key
    for t in range(20):
        outcome = "error" if 10 <= t < 18 else "ok"
        controller.faults.client.hset(key, f"c|{t}|{outcome}", 10)
    controller._check_stop_conditions(time.time())  # 8 s of errors < 12 s: no abort


def test_a_run_nobody_picks_up_expires_and_cannot_start_later(make_controller, monkeypatch):
    """The trigger gives up; a controller that gets the message afterwards aborts
    before touching anything."""
    import chaosfleet.trigger as trigger

    controller = make_controller()
    monkeypatch.setattr(trigger, "CLAIM_WITHIN", 0.5)
    with pytest.raises(trigger.HarnessError, match="no control worker"):
        trigger.follow_run(controller.request, controller.faults.client, controller.settings,
                           lambda _: None)
    outcome = controller.execute()
    assert outcome.verdict is Verdict.ABORTED and "no control worker" in outcome.reason
    assert controller.dispatcher.sent == []

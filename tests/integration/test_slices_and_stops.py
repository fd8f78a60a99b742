"""Traffic slices against the real reference target code, and the ways a run stops."""

import http.server
import threading
import time
import uuid

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import create_engine, func, select, text

from catalogue.db import create_schema, get_engine
from catalogue.ledger import ledger_totals, recorded_op_ids
from catalogue.models import LedgerEntry
from chaosfleet.core.config import PythonTarget, load_config
from chaosfleet.core.settings import BUNDLED_CONFIG
from chaosfleet.runner.analysis import Verdict
from chaosfleet.runner.controller import Aborted
from chaosfleet.runner.state import RunState, SliceStatus
from chaosfleet.traffic.cursor import SliceProgress, first_reservation
from chaosfleet.traffic.drivers import run_slice
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch, count_not_sent, parse_stats
from reftarget import db
from scenarios.model import OperationMix
from tests.conftest import require

pytestmark = pytest.mark.integration

ORDER_MIX = [OperationMix.model_validate({"name": "create_order", "payload": {
    "customer": {"faker": "name"}, "sku": {"faker": "bothify", "args": ["SKU-####"]},
    "quantity": {"faker": "pyint", "kwargs": {"min_value": 1, "max_value": 9}}}})]


@pytest.fixture
def recorder_for(redis_client, catalogue_url):
    """recorder_for(plan) -> a Recorder writing stats to the test Redis and the ledger
    to the test catalogue database."""
    engine = get_engine(catalogue_url)
    create_schema(engine)

    def make(plan, attempt=1):
        return Recorder(plan, StatsBatch(redis_client, "stats", plan.run_started_at), engine,
                        attempt=attempt)

    return make


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:8]}"


def test_a_python_target_slice_drives_the_real_service_layer(redis_client, toxiproxy,
                                                               recorder_for):
    require("postgresql")
    target = load_config(BUNDLED_CONFIG).target("reference-python")
    engine = create_engine("postgresql+psycopg://reftarget:reftarget@127.0.0.1:5432/reftarget")
    db.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE orders"))
    plan = SlicePlan(run_id=unique("py"), index=0, run_started_at=time.time(), offset=0,
                     duration=2, rate=50, concurrency=4, seed=3, operations=ORDER_MIX,
                     target=target)
    recorder = recorder_for(plan)

    assert run_slice(plan, recorder, should_stop=lambda: False) == plan.op_count
    assert ledger_totals(recorder.engine, plan.run_id)["ok"] == plan.op_count

    raw = {k.decode(): int(v) for k, v in redis_client.hgetall("stats").items()}
    series, errors = parse_stats(raw)
    assert sum(s.counts.get("ok", 0) for s in series) == plan.op_count == 100
    assert errors == {}
    with engine.connect() as conn:
        keys = conn.execute(select(func.count(func.distinct(db.orders.c.idempotency_key))))
        assert keys.scalar_one() == 100  # each operation id used once as idempotency key
    engine.dispose()


def test_a_stop_request_ends_a_slice_early(recorder_for):
    target = load_config(BUNDLED_CONFIG).target("reference")
    plan = SlicePlan(run_id=unique("stop"), index=0, run_started_at=time.time(), offset=0,
                     duration=30, rate=5, concurrency=2, seed=1, operations=ORDER_MIX,
                     target=target.model_copy(update={"base_url": "http://127.0.0.1:9"}))
    recorder = recorder_for(plan)
    started = time.monotonic()
    sent = run_slice(plan, recorder, should_stop=lambda: time.monotonic() - started > 1.5)
    assert time.monotonic() - started < 5
    assert 0 < recorder.total == sent < plan.op_count
    # a refused connection fails permanently: each one is dead-lettered, with its envelope
    assert ledger_totals(recorder.engine, plan.run_id)["dead_lettered"] == sent


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_slice_that_falls_behind_a_fast_target_ends_on_time_and_counts_the_rest(
        redis_client, recorder_for, concurrency):
    """Offered far more than it can generate, a slice whose slots are always free
    still stops at its window's end: the rest is `not sent`, never sent late."""
    target = PythonTarget.model_validate(
        {"kind": "python", "operations": {"accept": {"call": "bench.noop_target:accept"}}})
    plan = SlicePlan(run_id=unique("behind"), index=0, run_started_at=time.time(), offset=0,
                     duration=1, rate=1_000_000, concurrency=concurrency, seed=1,
                     operations=[OperationMix(name="accept")], target=target)
    batch = recorder_for(plan)
    sent = run_slice(plan, batch, should_stop=lambda: False)
    raw = {k.decode(): int(v) for k, v in redis_client.hgetall("stats").items()}
    assert 0 < sent < plan.op_count
    assert batch.total == sent and sent + count_not_sent(raw) == plan.op_count
    with batch.engine.connect() as conn:  # every operation started inside the window
        rows, last = conn.execute(select(func.count(), func.max(LedgerEntry.at))
                                  .where(LedgerEntry.run_id == plan.run_id)).one()
    assert rows == sent and last < plan.starts_at + plan.duration + 0.05


def raise_soft_limit(payload, *, operation_id):
    raise SoftTimeLimitExceeded()


def test_a_soft_time_limit_inside_an_inline_call_ends_the_slice_not_the_operation(
        recorder_for):
    """At concurrency 1 the call runs on the slice's own thread, where Celery's soft
    limit lands: it must end the slice (the task settles what is owed), not be
    recorded as the target's error."""
    target = PythonTarget.model_validate({"kind": "python", "operations": {"boom": {
        "call": "tests.integration.test_slices_and_stops:raise_soft_limit"}}})
    plan = SlicePlan(run_id=unique("soft"), index=0, run_started_at=time.time(), offset=0,
                     duration=1, rate=10, concurrency=1, seed=1,
                     operations=[OperationMix(name="boom")], target=target)
    batch = recorder_for(plan)
    with pytest.raises(SoftTimeLimitExceeded):
        run_slice(plan, batch, should_stop=lambda: False)
    assert batch.total == 0  # nothing recorded as the target's failure


def test_a_soft_time_limit_ends_an_http_slice_at_once(redis_client, hung_listener,
                                                      recorder_for):
    """Celery's soft limit is an exception raised by a signal handler. The HTTP
    slice's event loop (uvloop) would log such an exception and carry on until the
    hard limit killed the process; the slice must end at once and raise it."""
    import os
    import signal

    target = load_config(BUNDLED_CONFIG).target("reference").model_copy(
        update={"base_url": f"http://127.0.0.1:{hung_listener}", "timeout": 30.0})
    plan = SlicePlan(run_id=unique("softhttp"), index=0, run_started_at=time.time(), offset=0,
                     duration=10, rate=20, concurrency=2, seed=1, operations=ORDER_MIX,
                     target=target)

    def soft_limit(*_: object) -> None:
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, soft_limit)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGUSR1))
    started = time.monotonic()
    try:
        timer.start()
        with pytest.raises(SoftTimeLimitExceeded):
            run_slice(plan, recorder_for(plan), should_stop=lambda: False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert time.monotonic() - started < 3  # not the slice's 10 s, nor the 30 s timeout


class SlowAnswers(http.server.BaseHTTPRequestHandler):
    """Answers every request with 200 after 30 ms, counting how many are in flight."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real service
    lock = threading.Lock()
    in_flight = 0
    most_in_flight = 0

    def do_POST(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(0.03)
        with cls.lock:
            cls.in_flight -= 1
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_an_http_slice_keeps_its_concurrency_and_sends_operations_in_order(
        redis_client, recorder_for, catalogue_url):
    """Three senders against a target slower than the offered rate: never more than
    three requests in flight, and the operations sent are the first ones, each once;
    the rest are counted as not sent."""
    SlowAnswers.in_flight = SlowAnswers.most_in_flight = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowAnswers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = load_config(BUNDLED_CONFIG).target("reference").model_copy(
            update={"base_url": f"http://127.0.0.1:{server.server_port}"})
        plan = SlicePlan(run_id=unique("senders"), index=0, run_started_at=time.time(),
                         offset=0, duration=1, rate=1000, concurrency=3, seed=1,
                         operations=ORDER_MIX, target=target)
        recorder = recorder_for(plan)
        sent = run_slice(plan, recorder, should_stop=lambda: False)
    finally:
        server.shutdown()
        server.server_close()
    assert SlowAnswers.most_in_flight == 3
    recorded = recorded_op_ids(get_engine(catalogue_url), plan.run_id, 0)
    assert recorded == {plan.op_id(n) for n in range(sent)}  # the first ones, in order
    assert 10 < sent < plan.op_count
    raw = {k.decode(): int(v) for k, v in redis_client.hgetall("stats").items()}
    assert recorder.total == sent and count_not_sent(raw) == plan.op_count - sent


def test_a_slice_against_a_hung_target_ends_on_time_and_counts_what_it_did_not_send(
        redis_client, hung_listener, recorder_for):
    target = load_config(BUNDLED_CONFIG).target("reference").model_copy(
        update={"base_url": f"http://127.0.0.1:{hung_listener}", "timeout": 1.0})
    plan = SlicePlan(run_id=unique("hung"), index=0, run_started_at=time.time(), offset=0,
                     duration=2, rate=20, concurrency=2, seed=1, operations=ORDER_MIX,
                     target=target)
    batch = recorder_for(plan)
    started = time.monotonic()
    run_slice(plan, batch, should_stop=lambda: False)
    assert time.monotonic() - started < plan.duration + target.timeout + 1.5
    raw = {k.decode(): int(v) for k, v in redis_client.hgetall("stats").items()}
    series, errors = parse_stats(raw)
    timeouts = sum(s.counts.get("timeout", 0) for s in series)
    assert timeouts == batch.total and errors == {"client_timeout": timeouts}
    assert timeouts + count_not_sent(raw) == plan.op_count  # every due op accounted for
    assert count_not_sent(raw) > plan.op_count / 2


def test_a_redelivered_slice_sends_only_what_is_owed_and_loses_nothing(
        toxiproxy, recorder_for):
    """First attempt cut off after a few operations (its worker 'died'); the second
    attempt skips what is recorded, re-sends what was reserved, and nothing is lost
    or applied twice."""
    require("postgresql")
    target = load_config(BUNDLED_CONFIG).target("reference-python")
    engine = create_engine("postgresql+psycopg://reftarget:reftarget@127.0.0.1:5432/reftarget")
    db.create_schema(engine)
    plan = SlicePlan(run_id=unique("redeliver"), index=0, run_started_at=time.time(),
                     offset=0, duration=3, rate=40, concurrency=4, seed=5,
                     operations=ORDER_MIX, target=target)
    high_water = {"n": 0}

    def reserve(n):
        high_water["n"] = max(high_water["n"], n)

    first = recorder_for(plan)
    started = time.monotonic()
    run_slice(plan, first, lambda: time.monotonic() - started > 1.2,
              SliceProgress(reserve=reserve))
    done_first = recorded_op_ids(first.engine, plan.run_id, 0)
    assert 0 < len(done_first) < plan.op_count

    second = recorder_for(plan, attempt=2)
    sent = run_slice(plan, second, lambda: False, SliceProgress(
        recorded=done_first, high_water=high_water["n"], reserve=reserve))

    assert sent >= min(high_water["n"], plan.op_count)  # all the first reserved was settled
    totals = ledger_totals(second.engine, plan.run_id)
    assert totals["ok"] == len(recorded_op_ids(second.engine, plan.run_id, 0)) == sent
    with engine.connect() as conn:
        effects = conn.execute(select(func.count()).select_from(db.orders).where(
            db.orders.c.idempotency_key.like(f"{plan.run_id}-%"))).scalar_one()
    assert effects == sent  # one effect per operation, whichever attempt sent it
    engine.dispose()


def test_a_first_attempt_due_now_reserves_its_first_chunk_in_the_trip_that_begins_it(
        redis_client):
    target = load_config(BUNDLED_CONFIG).target("reference")
    now = time.time()
    plan = SlicePlan(run_id=unique("begin"), index=0, run_started_at=now, offset=0,
                     duration=3, rate=40, concurrency=1, seed=1, operations=ORDER_MIX,
                     target=target)
    state = RunState(redis_client, "cftest", plan.run_id)
    assert first_reservation(plan, now) == 40  # one second of its traffic
    assert state.begin_attempt(0, 40) == (None, 0)  # read as a first attempt
    assert state.high_water(0) == 40
    assert state.begin_attempt(0, 80) == (None, 40)  # a later attempt only reads
    assert state.high_water(0) == 40

    state.mark_slice(1, SliceStatus.failed("lost its connection"))
    status, high_water = state.begin_attempt(1, 40)  # a retry (its slice has a status)
    assert status is not None and not status.done      # reserves nothing as it begins
    assert high_water == 0 and state.high_water(1) == 0

    early = plan.model_copy(update={"offset": 30})   # waits for its start: reserves when
    assert first_reservation(early, now) == 0        # it sends, like any later chunk
    assert first_reservation(plan, now + 3) == 0     # its window has closed


def test_a_slice_is_marked_done_only_once_its_rows_are_in(redis_client, recorder_for):
    """The done mark goes in the round trip of the last counts, after the writer has
    the rows; a writer that neither wrote nor spooled them leaves the slice unmarked."""
    target = load_config(BUNDLED_CONFIG).target("reference-python")
    plan = SlicePlan(run_id=unique("done"), index=0, run_started_at=time.time(), offset=0,
                     duration=0.2, rate=10, concurrency=1, seed=1, operations=ORDER_MIX,
                     target=target)
    state = RunState(redis_client, "cftest", plan.run_id)

    def mark_done(issued, pipe):
        state.mark_slice(plan.index, SliceStatus.finished(issued), pipe)

    class StuckWriter:  # the database and the spool both refuse: rows neither way
        def submit(self, batch):
            pass

        def flush(self, timeout):
            return False

    stuck = recorder_for(plan)
    stuck.writer = StuckWriter()
    with pytest.raises(RuntimeError, match="neither wrote nor spooled"):
        run_slice(plan, stuck, lambda: False, on_done=mark_done)
    assert state.slices() == {}

    sent = run_slice(plan, recorder_for(plan, attempt=2), lambda: False, on_done=mark_done)
    assert state.slices()[plan.index] == SliceStatus.finished(sent)
    assert len(recorded_op_ids(stuck.engine, plan.run_id, plan.index)) == sent == 2


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
    import chaosfleet.jobs.trigger as trigger

    controller = make_controller()
    monkeypatch.setattr(trigger, "CLAIM_WITHIN", 0.5)
    with pytest.raises(trigger.HarnessError, match="no control worker"):
        trigger.follow_run(controller.request, controller.faults.client, controller.settings,
                           lambda _: None)
    outcome = controller.execute()
    assert outcome.verdict is Verdict.ABORTED and "no control worker" in outcome.reason
    assert controller.dispatcher.sent == []


class BreaksOnThirdRecord:
    """Wraps a recorder; its third `record` raises, as a broken recorder would."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def record(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("recorder broke")
        return self.inner.record(*args, **kwargs)


def test_an_error_on_a_pool_thread_fails_the_slice_at_once(recorder_for):
    """With calls on a thread pool, an exception past the call's own handling must
    reach the slice (and its task), not vanish with the discarded future."""
    target = PythonTarget.model_validate(
        {"kind": "python", "operations": {"accept": {"call": "bench.noop_target:accept"}}})
    plan = SlicePlan(run_id=unique("pool-error"), index=0, run_started_at=time.time(),
                     offset=0, duration=1, rate=50, concurrency=4, seed=1,
                     operations=[OperationMix(name="accept")], target=target)
    with pytest.raises(RuntimeError, match="recorder broke"):
        run_slice(plan, BreaksOnThirdRecord(recorder_for(plan)), should_stop=lambda: False)

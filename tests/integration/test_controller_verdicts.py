"""Harness failures end a run as `error`, never `passed`, and touch nothing."""

import socket
from pathlib import Path

import pytest

from catalogue.runs import get_run
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import BUNDLED_CONFIG
from chaosfleet.runner.analysis import Verdict
from chaosfleet.runner.state import FaultPhase, FaultStatus

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_toxiproxy_ends_the_run_as_error(make_controller):
    controller = make_controller(toxiproxy_url=f"http://127.0.0.1:{closed_port()}")
    outcome = controller.execute()

    assert outcome.verdict is Verdict.ERROR
    assert "toxiproxy" in outcome.reason and "unreachable" in outcome.reason
    assert controller.dispatcher.sent == []  # no traffic, no fault
    record = get_run(controller.engine, controller.request.run_id)
    assert record.status == "error" and record.finished_at is not None
    assert '"verdict": "error"' in Path(outcome.journal_path).read_text()


def test_a_redelivered_run_is_not_run_twice(make_controller):
    first = make_controller()
    assert first.state.claim()  # as if a controller had started and then died
    again = make_controller(request=first.request)
    outcome = again.execute()
    assert outcome.verdict is Verdict.ERROR and "controller was lost" in outcome.reason
    assert again.dispatcher.sent == []


def test_a_proxy_off_the_allowlist_is_refused_before_anything(make_controller):
    config = load_config(BUNDLED_CONFIG)
    narrowed = config.model_copy(update={"allowlist": config.allowlist.model_copy(
        update={"proxies": []})})
    controller = make_controller(config=narrowed)
    outcome = controller.execute()
    assert outcome.verdict is Verdict.ERROR and "not on the allowlist" in outcome.reason
    assert controller.dispatcher.sent == []


def test_a_late_redelivery_keeps_the_verdict_of_a_finished_run(make_controller):
    first = make_controller(toxiproxy_url=f"http://127.0.0.1:{closed_port()}")
    assert first.execute().verdict is Verdict.ERROR  # finished, with a verdict
    late = make_controller(request=first.request)
    outcome = late.execute()
    assert outcome.verdict is Verdict.ERROR and "unreachable" in outcome.reason
    assert get_run(late.engine, first.request.run_id).reason == outcome.reason


class InstantWorker:
    """A faults worker faster than the controller: it marks the fault received and
    applied before `send_apply` returns, as a real one can."""

    def __init__(self, state):
        self.state, self.sent = state, []

    def send_apply(self, lease):
        self.sent.append(lease.id)
        self.state.mark_fault(lease.id, FaultStatus(FaultPhase.RECEIVED))
        self.state.mark_fault(lease.id, FaultStatus(FaultPhase.APPLIED))


def test_a_fault_applied_before_the_send_returns_is_seen_as_applied(make_controller):
    """The controller marks a fault "sent" before sending it: written after, it
    hid the worker's "applied" and the run ended "not taken by any faults worker"."""
    from chaosfleet.runner.controller import FaultSlot

    controller = make_controller()
    controller._plan()
    worker = InstantWorker(controller.state)
    controller.dispatcher = worker
    slot: FaultSlot = controller.slots[0]
    controller._step_fault(slot, slot.start)  # sends
    assert worker.sent == [slot.lease.id] and slot.sent_at == slot.start
    controller._step_fault(slot, slot.start + 0.1)  # reads the worker's status
    assert controller.state.fault_status(slot.lease.id) == FaultStatus(FaultPhase.APPLIED)
    assert slot.applied_at is not None


@pytest.fixture
def announced(make_controller):
    """announced(*workers): workers as if they had announced themselves; withdrawn after."""
    import redis

    from chaosfleet.core.presence import announce, withdraw
    from chaosfleet.core.settings import get_settings

    s = get_settings()
    client = redis.Redis.from_url(s.redis_url)
    nodes = []

    def put(*workers):
        for w in workers:
            announce(client, s.key_prefix, w)
            nodes.append(w.node)

    yield put
    for node in nodes:
        withdraw(client, s.key_prefix, node)


def presence_of(node, config_hash, queues=("traffic",), concurrency=4, skew=0.0):
    from chaosfleet.core.presence import WorkerPresence

    return WorkerPresence(node=node, host=node.split("@")[1], pid=1, queues=queues,
                          concurrency=concurrency, config_hash=config_hash, skew=skew)


def test_a_fleet_that_disagrees_on_its_config_is_refused(make_controller, announced):
    from chaosfleet.core.presence import config_hash

    controller = make_controller()
    mine = config_hash(controller.config)
    announced(presence_of("traffic-a@h1", mine), presence_of("traffic-b@h2", "0ther0config"))
    outcome = controller.execute()
    assert outcome.verdict is Verdict.ERROR
    assert "workers disagree on the fleet config" in outcome.reason
    assert "traffic-b@h2 has 0ther0config" in outcome.reason
    assert "traffic-a@h1" not in outcome.reason
    assert controller.dispatcher.sent == []


def test_slices_follow_the_traffic_processes_the_workers_announce(make_controller, announced):
    from chaosfleet.core.presence import config_hash

    controller = make_controller()
    mine = config_hash(controller.config)
    announced(presence_of("traffic-a@h1", mine, concurrency=4),
              presence_of("traffic-b@h2", mine, concurrency=8, skew=5.0),
              presence_of("faults-c@h3", mine, queues=("faults",), concurrency=2))
    controller._survey_fleet()
    controller._plan()
    first_window = [p for p in controller.plans if p.offset == 0]
    assert len(first_window) == 6  # 12 traffic processes; two windows overlap
    assert controller.extras["fleet"]["hosts"] == ["h1", "h2", "h3"]
    assert controller.extras["fleet"]["traffic_processes"] == 12
    assert any("traffic-b@h2 on h2 is +5.0s from Redis" in n for n in controller.notes)

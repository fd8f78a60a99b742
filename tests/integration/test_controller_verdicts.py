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

"""Harness failures end a run as `error`, never `passed`, and touch nothing."""

import socket
from pathlib import Path

import pytest

from catalogue.runs import get_run
from chaosfleet.config import load_config
from chaosfleet.runner.analysis import Verdict
from chaosfleet.settings import BUNDLED_CONFIG

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

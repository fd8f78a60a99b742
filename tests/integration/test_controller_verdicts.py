"""Harness failures end a run as `error`, never `passed`, and touch nothing."""

import socket
from pathlib import Path

import pytest
import redis

from catalogue.db import create_schema, get_engine
from catalogue.runs import get_run
from chaosfleet.config import load_config
from chaosfleet.runner.analysis import Verdict
from chaosfleet.runner.controller import RunController
from chaosfleet.settings import BUNDLED_CONFIG, get_settings
from chaosfleet.trigger import prepare_run
from faults.base import FaultContext
from faults.control import FaultControl
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import require

pytestmark = pytest.mark.integration


class RecordingDispatcher:
    """Plain in-memory stand-in for the queues: records what would have been sent."""

    def __init__(self):
        self.sent: list[tuple[str, object]] = []

    def send_slice(self, plan):
        self.sent.append(("slice", plan))

    def send_apply(self, lease):
        self.sent.append(("apply", lease))

    def send_revert(self, lease_id):
        self.sent.append(("revert", lease_id))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def controller_parts(catalogue_url):
    require("redis")
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    engine = get_engine(catalogue_url)
    create_schema(engine)
    return settings, client, engine


def test_unreachable_toxiproxy_ends_the_run_as_error(controller_parts):
    settings, client, engine = controller_parts
    config = load_config(BUNDLED_CONFIG)
    request = prepare_run("db-latency", config, settings)
    dead = ToxiproxyClient(f"http://127.0.0.1:{closed_port()}", timeout=0.5)
    faults = FaultControl(client, settings.key_prefix, FaultContext(toxiproxy=dead))
    dispatcher = RecordingDispatcher()

    outcome = RunController(request, settings, config, client, faults, dispatcher,
                            engine).execute()

    assert outcome.verdict is Verdict.ERROR
    assert "toxiproxy" in outcome.reason and "unreachable" in outcome.reason
    assert dispatcher.sent == []  # no traffic, no fault
    record = get_run(engine, request.run_id)
    assert record.status == "error" and record.finished_at is not None
    assert outcome.journal_path and '"verdict": "error"' in Path(outcome.journal_path).read_text()


def test_a_redelivered_run_is_not_run_twice(controller_parts):
    settings, client, engine = controller_parts
    config = load_config(BUNDLED_CONFIG)
    request = prepare_run("db-latency", config, settings)
    faults = FaultControl(client, settings.key_prefix,
                          FaultContext(toxiproxy=ToxiproxyClient("http://127.0.0.1:1")))
    first = RunController(request, settings, config, client, faults, RecordingDispatcher(),
                          engine)
    assert first.state.claim()  # as if a controller had started and then died
    again = RunController(request, settings, config, client, faults, RecordingDispatcher(),
                          engine)
    outcome = again.execute()
    assert outcome.verdict is Verdict.ERROR and "controller was lost" in outcome.reason
    assert again.dispatcher.sent == []


def test_a_target_off_the_allowlist_is_refused_before_anything(controller_parts):
    settings, client, engine = controller_parts
    config = load_config(BUNDLED_CONFIG)
    request = prepare_run("db-latency", config, settings)
    narrowed = config.model_copy(update={"allowlist": config.allowlist.model_copy(
        update={"proxies": []})})
    faults = FaultControl(client, settings.key_prefix,
                          FaultContext(toxiproxy=ToxiproxyClient("http://127.0.0.1:1")))
    dispatcher = RecordingDispatcher()
    outcome = RunController(request, settings, narrowed, client, faults, dispatcher,
                            engine).execute()
    assert outcome.verdict is Verdict.ERROR and "not on the allowlist" in outcome.reason
    assert dispatcher.sent == []

"""Fixtures for driving the run controller in-process against real Redis and PostgreSQL."""

import pytest
import redis

from catalogue.db import create_schema, get_engine
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import BUNDLED_CONFIG, get_settings
from chaosfleet.jobs.trigger import prepare_run
from chaosfleet.runner.controller import RunController
from faults.base import FaultContext
from faults.control import FaultControl
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import require


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


@pytest.fixture
def make_controller(catalogue_url):
    """make_controller(toxiproxy_url=..., config=...) -> a RunController for db-latency
    with a RecordingDispatcher; the kill switch is released afterwards."""
    require("redis")
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    engine = get_engine(catalogue_url)
    create_schema(engine)
    made = []

    def make(toxiproxy_url="http://127.0.0.1:1", config=None, request=None):
        config = config or load_config(BUNDLED_CONFIG)
        request = request or prepare_run("db-latency", load_config(BUNDLED_CONFIG), settings)
        toxiproxy = ToxiproxyClient(toxiproxy_url, timeout=0.5)
        faults = FaultControl(client, settings.key_prefix, FaultContext(toxiproxy=toxiproxy))
        made.append(faults)
        return RunController(request, settings, config, client, faults, RecordingDispatcher(),
                             engine)

    yield make
    for faults in made:
        faults.release_kill_switch()

"""Malformed inputs reach the leaves inside an envelope. The target here is a small
HTTP app in this test whose `{"comment": {...}}` envelope hides a leaf that
crashes it (`comment.body` with a NUL or a lone surrogate) and a leaf it accepts
whatever it holds (`comment.score`). A real slice (aiohttp, recorder, Redis stats,
ledger) drives it under a malformed-input window: both fields are named, with how
the target took them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from catalogue.db import create_schema, get_engine
from chaosfleet.core.config import FleetConfig, HttpTarget
from chaosfleet.traffic.drivers import run_slice
from chaosfleet.traffic.plan import MalformedWindow, SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch, count_mutations
from faults.specs import MalformedInputSpec
from scenarios.model import OperationMix
from tests.conftest import JsonHandler

pytestmark = pytest.mark.integration


class Envelope(JsonHandler, BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            comment = json.loads(raw)["comment"]
            body = comment["body"]
            if not isinstance(body, str):
                return self._answer(422, {"detail": [{"loc": ["body", "comment", "body"],
                                                      "msg": "must be a string"}]})
            if "\x00" in body or any(0xD800 <= ord(c) <= 0xDFFF for c in body):
                raise RuntimeError("the database driver chokes")  # the crashing leaf
            comment.get("score")  # the accepting leaf: never checked
        except (ValueError, KeyError, TypeError):
            return self._answer(400, {"detail": "comment.body is required"})
        except RuntimeError:
            return self._answer(500)
        return self._answer(201, {"ok": True})


@pytest.fixture
def envelope_target() -> Iterator[HttpTarget]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Envelope)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = {"kind": "http", "base_url": f"http://127.0.0.1:{server.server_port}",
            "operations": {"comment": {"path": "/comments"}}}
    target = FleetConfig.model_validate({"targets": {"app": spec}}).target("app")
    assert isinstance(target, HttpTarget)
    yield target
    server.shutdown()
    server.server_close()


def test_mutations_inside_an_envelope_name_the_crashing_and_the_accepting_leaf(
        envelope_target, redis_client, catalogue_url):
    engine = get_engine(catalogue_url)
    create_schema(engine)
    mix = [OperationMix.model_validate({"name": "comment", "payload": {"comment": {
        "body": {"faker": "sentence"}, "score": {"faker": "pyint"}}}})]
    spec = MalformedInputSpec(type="malformed_input", operations=["comment"], start=0,
                              duration=10, mutations=["control_chars", "lone_surrogate",
                                                      "wrong_type", "boundary_number"])
    now = time.time()
    plan = SlicePlan(run_id=f"mx{uuid.uuid4().hex[:8]}", index=0, run_started_at=now,
                     offset=0, duration=2, rate=40, concurrency=8, seed=5, operations=mix,
                     target=envelope_target,
                     malformed=[MalformedWindow(start=now - 1, end=now + 10, spec=spec)])
    recorder = Recorder(plan, StatsBatch(redis_client, "stats", now), engine)
    run_slice(plan, recorder, should_stop=lambda: False)

    raw = {k.decode(): int(v) for k, v in redis_client.hgetall("stats").items()}
    by_field = count_mutations(raw, "f")
    assert set(by_field) == {"comment.body", "comment.score"}, by_field  # never the envelope
    assert by_field["comment.body"].get("crashed", 0) > 0
    assert by_field["comment.score"].get("accepted", 0) > 0
    assert by_field["comment.body"].get("rejected", 0) > 0  # a number for the string

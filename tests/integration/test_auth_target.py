"""On a target that requires auth, every sender of the fleet sends it: the traffic
slice, probes, the effects audit, dead-letter replay, crash minimisation and the
halt-signal storm. The target is a small HTTP server in this test, on loopback,
that answers 401 to any request without the token (a storm whose requests were all
refused would have "capped" nothing)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaosfleet.core.config import FleetConfig, HttpTarget
from chaosfleet.core.errors import HarnessError
from chaosfleet.core.outcomes import Outcome
from chaosfleet.runner.effects import count_effects
from chaosfleet.runner.minimise import _Prober
from chaosfleet.runner.probes import check_probe
from chaosfleet.runner.replay import send_one
from faults.base import FaultContext
from faults.halts import HaltSignalStorm
from faults.specs import HaltSignalStormSpec
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import JsonHandler, require

TOKEN = "sekret-token"


class Handler(JsonHandler, BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None, str | None]] = []  # (method, path, auth, id)

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("authorization")
        Handler.seen.append((self.command, self.path, auth, self.headers.get("x-request-id")))
        if auth != f"Bearer {TOKEN}":
            return self._answer(401, {"detail": "Not authenticated"})
        if self.path.startswith("/effects"):
            return self._answer(200, {"rows": 0, "keys": 0})
        if self.path == "/orders" and b"\\u0000" in body:
            return self._answer(500, {})
        return self._answer(201 if self.command == "POST" else 200, {"ok": True})

    do_GET = do_POST = _handle


@pytest.fixture
def auth_target(monkeypatch) -> Iterator[HttpTarget]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Handler.seen = []
    monkeypatch.setenv("SVC_TOKEN", TOKEN)
    spec = {"kind": "http", "base_url": f"http://127.0.0.1:{server.server_port}",
            "timeout": 2.0, "auth": {"env": "SVC_TOKEN", "scheme": "Bearer"},
            "operations": {"create_order": {"path": "/orders"}, "halt": {"path": "/halts"}},
            "probes": {"healthy": {"path": "/health"}}, "effects": {"path": "/effects"}}
    target = FleetConfig.model_validate({"targets": {"svc": spec}}).target("svc")
    assert isinstance(target, HttpTarget)
    yield target
    server.shutdown()
    server.server_close()


def test_every_sender_carries_the_targets_auth(auth_target, redis_client):
    assert check_probe(auth_target, "healthy").ok
    assert count_effects(auth_target, "run-") == {"rows": 0, "keys": 0}
    assert send_one(auth_target, "create_order", {"sku": "x"}, "run-s0-o1") == (Outcome.OK,
                                                                              None)
    prober = _Prober(auth_target, "create_order", "run-mxmin-1-", {"sku": "x"})
    assert prober.crashes(b'{"sku": "\\u0000"}', "application/json")  # a 500, not a 401
    assert not prober.crashes(b'{"sku": "fine"}', "application/json")

    spec = HaltSignalStormSpec(type="halt_signal_storm", rate=20, start=0, duration=1,
                               expect={"max_accepted": 100, "per": 1})
    storm = HaltSignalStorm(spec, "run-f0", auth_target)
    ctx = FaultContext(toxiproxy=ToxiproxyClient("http://127.0.0.1:8474"), redis=redis_client,
                       key_prefix="cftest-auth")
    storm.tick(ctx)
    counts = storm._counts(ctx)
    assert counts.get("accepted", 0) >= 1 and "rejected" not in counts, counts

    assert Handler.seen and all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in Handler.seen)
    assert all(rid for _, _, _, rid in Handler.seen)  # and its operation id


def test_without_the_token_the_same_senders_are_refused(auth_target, monkeypatch):
    """The control: the server really refuses a request without the token."""
    monkeypatch.delenv("SVC_TOKEN")
    assert not check_probe(auth_target, "healthy").ok
    assert send_one(auth_target, "create_order", {"sku": "x"}, "run-s0-o2") == (
        Outcome.REJECTED, "http_401")


def test_the_effects_audit_can_be_a_query_on_the_targets_own_database(monkeypatch):
    """For a service without an audit endpoint: rows and distinct keys counted in its
    own database (the reference target's orders table, on the real PostgreSQL)."""
    require("postgresql")
    import uuid

    from sqlalchemy import create_engine, text

    from reftarget import db

    url = "postgresql+psycopg://reftarget:reftarget@127.0.0.1:5432/reftarget"
    engine = create_engine(url)
    db.create_schema(engine)
    prefix = f"sqlaudit-{uuid.uuid4().hex[:8]}-"
    with engine.begin() as conn:
        for key in ("a", "a", "b"):  # one duplicate effect
            conn.execute(text("INSERT INTO orders (request_key, customer, sku, quantity) "
                              "VALUES (:k, 'c', 's', 1)"), {"k": prefix + key})
    engine.dispose()
    monkeypatch.setenv("AUDIT_DB_URL", url)
    spec = {"kind": "http", "base_url": "http://127.0.0.1:9", "operations": {},
            "effects": {"database_url_env": "AUDIT_DB_URL", "sql":
                        "SELECT count(*), count(DISTINCT request_key) FROM orders "
                        "WHERE request_key LIKE :prefix || '%'"}}
    target = FleetConfig.model_validate({"targets": {"t": spec}}).target("t")
    assert count_effects(target, prefix) == {"rows": 3, "keys": 2}
    monkeypatch.delenv("AUDIT_DB_URL")
    with pytest.raises(HarnessError, match="AUDIT_DB_URL is not set"):
        count_effects(target, prefix)


def test_replaying_a_journey_step_re_runs_the_journey_up_to_it(auth_target):
    """A dead-lettered journey step is replayed by re-running its journey up to it:
    the earlier steps make the captures its request needs (here, its path)."""
    from chaosfleet.runner.replay import replay_journey_step
    from chaosfleet.traffic.cursor import planned_ops
    from chaosfleet.traffic.plan import SlicePlan
    from scenarios.model import Journey

    spec = auth_target.model_dump(mode="json")
    spec["operations"]["read_order"] = {"method": "GET", "path": "/orders/{code}"}
    target = FleetConfig.model_validate({"targets": {"svc": spec}}).target("svc")
    journey = Journey.model_validate({"name": "buyer", "steps": [
        {"operation": "create_order", "payload": {"sku": "x"}, "capture": {"code": "status"}},
        {"operation": "read_order"}, {"operation": "halt"}]})
    plan = SlicePlan(run_id="replay-j", index=0, run_started_at=0.0, offset=0, duration=1,
                     rate=1, concurrency=1, seed=1, operations=[], journeys=[journey],
                     target=target)
    op = next(planned_ops(plan))
    assert replay_journey_step(target, op, 1) == (Outcome.OK, None)
    sent = [(method, path, rid) for method, path, _, rid in Handler.seen]
    assert sent == [("POST", "/orders", "replay-j-s0-o0.0"),
                    ("GET", "/orders/201", "replay-j-s0-o0.1")]  # and not step 2

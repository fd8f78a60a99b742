"""The API's run and suite triggers and its metrics, on real Redis (the Celery
broker) and PostgreSQL: refusals change nothing, accepted requests queue exactly
one task, cancels reach the run, and /metrics reports what the records say."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.db import build_engine, migrate
from catalogue.failures import (
    FailureFilter,
    RecoveryUpdate,
    list_failures,
    match_batch,
    observed,
    update_recovery,
)
from catalogue.matching import Matcher
from catalogue.models import DeadLetter, LedgerEntry, RunRecord
from catalogue.modes import load_catalogue
from catalogue.recording import write_batch
from chaosfleet.api.app import create_app
from chaosfleet.core.config import load_config
from chaosfleet.core.outcomes import Outcome
from chaosfleet.core.settings import BUNDLED_CONFIG, get_settings
from chaosfleet.fleet import Fleet
from chaosfleet.runner.state import RunState
from chaosfleet.traffic.stats import StatsBatch
from faults.leases import Lease, LeaseStore
from faults.specs import LatencySpec
from tests.conftest import REPO, TEST_ENV
from tests.integration.test_catalogue import scratch_pg  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

TOKEN = "k" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(scratch_pg, tmp_path):  # noqa: F811
    """The API over a config whose `payments-prod` target is declared but not allowlisted."""
    raw = yaml.safe_load(BUNDLED_CONFIG.read_text())
    raw["targets"]["payments-prod"] = {**raw["targets"]["reference"],
                                       "base_url": "http://127.0.0.1:9"}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(raw))
    broker = redis.Redis.from_url(TEST_ENV["CHAOSFLEET_REDIS_URL"])
    broker.flushdb()
    engine = build_engine(scratch_pg)
    migrate(engine)
    fleet = Fleet(get_settings(), redis_client=broker, config=load_config(path))
    with TestClient(create_app(engine, TOKEN, load_catalogue(), fleet)) as client:
        yield client, broker, engine
    broker.flushdb()
    engine.dispose()


def queued(broker: redis.Redis) -> int:
    return broker.llen("control")


def fingerprint(broker: redis.Redis, engine) -> tuple:
    with Session(engine) as session:
        runs = session.scalar(select(func.count()).select_from(RunRecord))
    return tuple(sorted(broker.keys("*"))), queued(broker), runs


REQUESTS = [("POST", "/runs", {"scenario": "db-latency"}),
            ("POST", "/suites", {"suite": "smoke"}),
            ("POST", "/runs/x/cancel", None), ("POST", "/suites/x/cancel", None),
            ("GET", "/runs/x", None), ("GET", "/metrics", None)]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}])
def test_unauthenticated_requests_get_401_and_change_nothing(api, headers):
    client, broker, engine = api
    before = fingerprint(broker, engine)
    for method, path, body in REQUESTS:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
    assert fingerprint(broker, engine) == before


def test_a_target_off_the_allowlist_gets_403_and_changes_nothing(api):
    client, broker, engine = api
    before = fingerprint(broker, engine)
    for path, body in [("/runs", {"scenario": "db-latency", "target": "payments-prod"}),
                       ("/suites", {"suite": "pre-release", "target": "payments-prod"}),
                       ("/runs", {"scenario": "db-latency", "target": "not-declared"})]:
        response = client.post(path, json=body, headers=AUTH)
        assert response.status_code == 403, (path, response.text)
        assert "allowlist" in response.text
    assert fingerprint(broker, engine) == before


def test_malformed_bodies_get_field_errors_and_change_nothing(api):
    client, broker, engine = api
    before = fingerprint(broker, engine)
    cases = [("/runs", {}, "scenario"),
             ("/runs", {"scenario": "../../etc/passwd"}, "scenario"),
             ("/runs", {"scenario": "db-latency", "rate": 10_000}, "rate"),
             ("/runs", {"scenario": 7}, "scenario"),
             ("/runs", {"scenario": "no-such-scenario"}, "no-such-scenario"),
             ("/suites", {"suite": "smoke", "fail_fast": "perhaps"}, "fail_fast"),
             ("/suites", {"suite": "no-such-suite"}, "no-such-suite"),
             ("/suites", {"suite": ""}, "suite")]
    for path, body, field in cases:
        response = client.post(path, json=body, headers=AUTH)
        assert response.status_code == 422, (path, body, response.text)
        assert field in response.text, (path, body, response.text)
    response = client.post("/runs", content=b"{not json", headers=AUTH)
    assert response.status_code == 422
    assert fingerprint(broker, engine) == before


def test_a_run_is_queued_once_its_status_is_readable_and_a_cancel_reaches_it(api):
    client, broker, _ = api
    response = client.post("/runs", json={"scenario": "db-latency"}, headers=AUTH)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    assert queued(broker) == 1
    status = client.get(f"/runs/{run_id}", headers=AUTH).json()
    assert status["phase"] == "queued" and status["verdict"] is None
    assert client.post(f"/runs/{run_id}/cancel", headers=AUTH).status_code == 202
    state = RunState(broker, get_settings().key_prefix, run_id)
    assert state.stop_reason() == "cancelled via the API"
    state.set_progress(phase="done", verdict="aborted")
    assert client.post(f"/runs/{run_id}/cancel", headers=AUTH).status_code == 409
    assert client.get("/runs/nope", headers=AUTH).status_code == 404
    assert client.post("/runs/nope/cancel", headers=AUTH).status_code == 404


def test_a_suite_is_queued_on_the_control_queue_and_a_cancel_reaches_its_run(api):
    client, broker, _ = api
    response = client.post("/suites", json={"suite": "pre-release", "fail_fast": True},
                           headers=AUTH)
    assert response.status_code == 202, response.text
    suite_id = response.json()["id"]
    assert queued(broker) == 1
    assert client.get(f"/suites/{suite_id}", headers=AUTH).json()["phase"] == "queued"
    from chaosfleet.jobs.suites import SuiteState

    SuiteState(broker, get_settings().key_prefix, suite_id).set(current_run="r-current")
    assert client.post(f"/suites/{suite_id}/cancel", headers=AUTH).status_code == 202
    prefix = get_settings().key_prefix
    assert SuiteState(broker, prefix, suite_id).stop_reason() == "cancelled via the API"
    assert RunState(broker, prefix, "r-current").stop_reason() == "cancelled via the API"
    assert client.get("/suites/nope", headers=AUTH).status_code == 404


def test_metrics_report_what_the_records_hold(api):
    client, broker, engine = api
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        for i, status in enumerate(["passed", "passed", "failed", "running"]):
            session.add(RunRecord(id=f"m{i}", scenario="s", target="reference", seed=0,
                                  trigger="cli", status=status, started_at=now,
                                  finished_at=None if status == "running" else now,
                                  scenario_spec={}))
        for i, outcome in enumerate(["ok"] * 5 + ["dead_lettered"] * 2 + ["lost"]):
            session.add(LedgerEntry(op_id=f"m0-{i}", run_id="m0", slice_index=0,
                                    operation="create_order", attempt=1, outcome=outcome,
                                    at=time.time()))
        for i in range(2):
            session.add(DeadLetter(id=str(uuid.uuid4()), op_id=f"m0-{5 + i}", run_id="m0",
                                   scenario="s", operation="create_order",
                                   error_class="http_503", envelope={}, created_at=now,
                                   slice_index=0, op_index=5 + i))
    raw = [observed(run_id="m0", scenario="s", code=c, message=m, status=st,
                    correlation_id=f"op-{i}", at=time.time())
           for i, (c, m, st) in enumerate([("unavailable", "circuit breaker open", 503),
                                           ("unavailable", "circuit breaker open", 503),
                                           ("http_500", "flux capacitor overheated", 500)])]
    write_batch(engine, match_batch({"failures": raw}, Matcher(load_catalogue())))
    rows = list_failures(engine, FailureFilter(run_id="m0"))
    update_recovery(engine, rows[0]["id"], RecoveryUpdate(recovered=True))
    update_recovery(engine, rows[1]["id"], RecoveryUpdate(recovered=False))
    prefix = get_settings().key_prefix
    LeaseStore(broker, prefix).acquire(Lease(
        id="m0-f0", run_id="m0", expires_at=time.time() + 60,
        spec=LatencySpec(type="latency", proxy="reference-db", start=0, duration=5,
                         latency_ms=100),
        target=load_config(BUNDLED_CONFIG).target("reference")))
    broker.hset(f"{prefix}:recording", mapping={"spooled": 7, "backfilled": 7})
    # m3 is in progress: its live series come from its progress and stats in Redis
    live = RunState(broker, prefix, "m3")
    live.set_progress(phase="traffic", started_at=time.time(), error_rate=0.25,
                      active_faults="latency 100ms on reference-db")
    batch = StatsBatch(broker, live.stats_key, time.time())
    for outcome, ms in [(Outcome.OK, 3), (Outcome.OK, 40), (Outcome.ERROR, 700)]:
        batch.record(time.time(), outcome, ms, None)
    batch.flush(final=True)

    def scrape() -> dict:
        response = client.get("/metrics", headers=AUTH)
        assert response.status_code == 200
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(response.text)
                for s in family.samples}

    values = scrape()

    def value(name: str, **labels: str) -> float:
        return values[(name, tuple(sorted(labels.items())))]

    assert value("chaosfleet_runs_total", verdict="passed") == 2
    assert value("chaosfleet_runs_total", verdict="failed") == 1
    assert value("chaosfleet_runs_total", verdict="error") == 0
    assert value("chaosfleet_operations_total", outcome="ok") == 5
    assert value("chaosfleet_operations_total", outcome="dead_lettered") == 2
    assert value("chaosfleet_operations_total", outcome="lost") == 1
    assert value("chaosfleet_dead_letters") == 2
    assert value("chaosfleet_catalogue_failures_total", result="hit") == 2
    assert value("chaosfleet_catalogue_failures_total", result="miss") == 1
    assert value("chaosfleet_failures_by_recovery", state="recovered") == 1
    assert value("chaosfleet_failures_by_recovery", state="unrecovered") == 1
    assert value("chaosfleet_failures_by_recovery", state="unchecked") == 1
    assert value("chaosfleet_active_leases") == 1 and value("chaosfleet_active_faults") == 0
    assert value("chaosfleet_records_total", state="spooled") == 7
    assert value("chaosfleet_records_total", state="dropped") == 0
    assert value("chaosfleet_kill_switch_engaged") == 0
    run = {"run": "m3", "scenario": "s", "target": "reference"}
    assert value("chaosfleet_run_operations_total", **run, outcome="ok") == 2
    assert value("chaosfleet_run_operations_total", **run, outcome="error") == 1
    assert value("chaosfleet_run_error_rate", **run) == 0.25
    assert value("chaosfleet_run_active_faults", **run) == 1
    assert value("chaosfleet_run_operation_latency_seconds_bucket", **run, le="0.005") == 1
    assert value("chaosfleet_run_operation_latency_seconds_bucket", **run, le="0.05") == 2
    assert value("chaosfleet_run_operation_latency_seconds_bucket", **run, le="+Inf") == 3
    assert value("chaosfleet_run_operation_latency_seconds_sum", **run) == pytest.approx(0.743)
    assert not any(dict(labels).get("run") == "m0" for _, labels in values)  # finished

    # an operator's word moves a failure between gauges; no counter ever goes down
    update_recovery(engine, rows[1]["id"], RecoveryUpdate(recovered=True))
    after = scrape()
    for key, before in values.items():
        if key[0].endswith("_total"):
            assert after[key] >= before, key
    assert after[("chaosfleet_failures_by_recovery", (("state", "recovered"),))] == 2
    # the documented metric list is exactly what a scrape shows
    documented = {name.removesuffix("_total") for name in re.findall(
        r"^- `(chaosfleet_[a-z_]+)", (REPO / "README.md").read_text(), re.M)}
    scraped = {family.name for family in text_string_to_metric_families(
        client.get("/metrics", headers=AUTH).text)}
    assert documented == scraped, (documented ^ scraped)


def test_chaosfleet_cancel_reaches_a_run_or_a_suite_and_refuses_what_is_not_active():
    from click.testing import CliRunner

    from chaosfleet.cli.main import main
    from chaosfleet.jobs.suites import SuiteState

    broker = redis.Redis.from_url(TEST_ENV["CHAOSFLEET_REDIS_URL"])
    prefix = get_settings().key_prefix
    run_id, suite_id = f"r-{uuid.uuid4().hex[:8]}", f"suite-{uuid.uuid4().hex[:8]}"
    RunState(broker, prefix, run_id).set_progress(phase="traffic")
    SuiteState(broker, prefix, suite_id).set(phase="running", current_run="r-in-suite")
    runner = CliRunner()
    done = runner.invoke(main, ["cancel", run_id, "--no-wait"])
    assert done.exit_code == 0 and f"cancel requested for run {run_id} (was traffic)" \
        in done.output, done.output
    assert RunState(broker, prefix, run_id).stop_reason() == "cancelled by the operator"
    assert runner.invoke(main, ["cancel", suite_id, "--no-wait"]).exit_code == 0
    assert SuiteState(broker, prefix, suite_id).stop_reason() == "cancelled by the operator"
    assert RunState(broker, prefix, "r-in-suite").stop_reason() == "cancelled by the operator"
    RunState(broker, prefix, run_id).set_progress(phase="done", verdict="aborted")
    finished = runner.invoke(main, ["cancel", run_id])
    assert finished.exit_code == 3 and "already finished: aborted" in finished.output
    unknown = runner.invoke(main, ["cancel", "r-nope"])
    assert unknown.exit_code == 3 and "no active run 'r-nope'" in unknown.output


def test_the_openapi_document_validates_and_declares_the_bearer_scheme(api):
    from openapi_spec_validator import validate

    client, _, _ = api
    public = client.get("/openapi.json")  # public by design (README): no data in it
    assert public.status_code == 200 and client.get("/docs").status_code == 200
    doc = public.json()
    validate(doc)
    (scheme,) = doc["components"]["securitySchemes"].values()
    assert scheme == {"type": "http", "scheme": "bearer",
                      "description": "the value of CHAOSFLEET_API_TOKEN"}
    operations = [(path, method, op) for path, ops in doc["paths"].items()
                  for method, op in ops.items()]
    assert len(operations) >= 15
    for path, method, op in operations:
        assert op.get("security"), (method, path)  # every operation needs the token
        assert {"401", "422"} <= set(op["responses"]), (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
    assert "409" in doc["paths"]["/runs/{run_id}/cancel"]["post"]["responses"]
    assert "403" in doc["paths"]["/runs"]["post"]["responses"]
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain; version=0.0.4; charset=utf-8"]
    # and the scheme is what the server enforces
    assert client.get("/catalogue/modes").status_code == 401
    assert client.get("/catalogue/modes", headers={"Authorization": f"Basic {TOKEN}"}
                      ).status_code == 401
    assert client.get("/catalogue/modes", headers=AUTH).status_code == 200


def test_the_access_log_names_the_caller_and_never_the_token(scratch_pg, caplog):  # noqa: F811
    import logging

    from chaosfleet.core.logs import make_formatter

    tokens = {"ci": "c" * 24, "alice": "a" * 24}
    broker = redis.Redis.from_url(TEST_ENV["CHAOSFLEET_REDIS_URL"])
    broker.flushdb()
    engine = build_engine(scratch_pg)
    migrate(engine)
    fleet = Fleet(get_settings(), redis_client=broker, config=load_config(BUNDLED_CONFIG))
    caplog.set_level(logging.INFO, logger="chaosfleet")
    with TestClient(create_app(engine, tokens, load_catalogue(), fleet)) as client:
        ran = client.post("/runs", json={"scenario": "db-latency"},
                          headers={"Authorization": f"Bearer {tokens['ci']}"})
        assert ran.status_code == 202
        assert client.get("/catalogue/modes", headers={
            "Authorization": f"Bearer {tokens['alice']}"}).status_code == 200
        assert client.get("/catalogue/modes", headers={
            "Authorization": "Bearer " + "z" * 24}).status_code == 401
    run_id = ran.json()["id"]
    assert RunState(broker, get_settings().key_prefix, run_id).progress()["queued_by"] == "ci"
    lines = [make_formatter("json").format(r) for r in caplog.records
             if r.name.startswith("chaosfleet.api")]
    access = [json.loads(line) for line in lines if "access" in json.loads(line)["logger"]]
    assert [(a["event"].split()[0:2], a["caller"]) for a in access] == [
        (["POST", "/runs"], "ci"), (["GET", "/catalogue/modes"], "alice"),
        (["GET", "/catalogue/modes"], "-")]
    queued = [json.loads(line) for line in lines if "queued" in line]
    assert queued and queued[0]["caller"] == "ci" and queued[0]["run_id"] == run_id
    for secret in tokens.values():
        assert all(secret not in line for line in lines)
    broker.flushdb()
    engine.dispose()

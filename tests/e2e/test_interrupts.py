"""Operable in CI and on call: a queued run that nobody picked up in time never runs
later, and Ctrl-C on `chaosfleet run` cancels the run, reverts its fault at once
and exits 130 with the ledger balanced."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery.result import AsyncResult
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalogue.db import get_engine
from catalogue.models import LedgerEntry
from catalogue.runs import get_run
from chaosfleet.cli.procs import start_workers, stop_all
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import BUNDLED_CONFIG, get_settings
from chaosfleet.dispatch import expires_in
from chaosfleet.jobs.trigger import prepare_run, submit_run
from chaosfleet.runner.state import RunState
from tests.conftest import TEST_ENV, toxics_seen_independently
from tests.e2e.conftest import config_for, start_fleet, wait_for, write_scenario
from workers.app import app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def fleet(e2e_dir):
    """One worker per role, logging JSON lines (CHAOSFLEET_LOG_FORMAT=json)."""
    procs = start_fleet(e2e_dir, env={"CHAOSFLEET_LOG_FORMAT": "json"})
    yield procs
    stop_all(procs.values())


def test_a_run_and_a_suite_queued_past_their_expiry_never_run(e2e_dir, catalogue_url):
    broker = redis.Redis.from_url(TEST_ENV["CHAOSFLEET_REDIS_URL"])
    broker.flushdb()  # no control worker is running: the messages stay queued
    settings = get_settings()
    request = prepare_run("db-latency", load_config(BUNDLED_CONFIG), settings)
    submit_run(app, request, claim_within=1.0)
    suite_task = f"suite-expiry-{uuid.uuid4().hex[:6]}"
    app.send_task("chaosfleet.run_suite", queue="control", task_id=suite_task,
                  kwargs={"suite": "smoke", "suite_id": suite_task}, expires=expires_in(1.0))
    assert broker.llen("control") == 2
    time.sleep(1.5)  # past both expiries; then a control worker starts
    procs = start_workers(["control"], uuid.uuid4().hex[:6], e2e_dir / "logs")
    try:
        for task_id in (f"run-{request.run_id}", suite_task):
            wait_for(lambda t=task_id: AsyncResult(t, app=app).state == "REVOKED", 60,
                     f"{task_id} discarded as expired")
    finally:
        stop_all(procs)
    assert "claimed" not in RunState(broker, settings.key_prefix, request.run_id).progress()
    assert get_run(get_engine(settings.catalogue_url), request.run_id) is None
    assert not broker.exists(f"{settings.key_prefix}:suite:{suite_task}")


def test_ctrl_c_cancels_the_run_reverts_its_fault_and_exits_130(
        fleet, reference_target, e2e_dir, tmp_path):
    scenario = write_scenario(tmp_path, "interrupted", """
        name: interrupted
        target: reference
        seed: 5
        traffic:
          rate: 20
          duration: 40s
          concurrency: 16
          operations: [{name: create_order, payload: {customer: {faker: name},
                        sku: {faker: bothify, args: ["SKU-####"]}, quantity: 1}}]
        faults:
          - {type: latency, proxy: reference-db, start: 2s, duration: 30s, latency_ms: 40}
        steady_state: {probes: [healthy]}
        recovery: {within: 4s}
        """)
    env = {**os.environ, "CHAOSFLEET_CONFIG_PATH": str(config_for(e2e_dir, reference_target(""))),
           "CHAOSFLEET_REPORTS_DIR": str(e2e_dir / "reports")}
    cli = str(Path(sys.executable).with_name("chaosfleet"))
    proc = subprocess.Popen([cli, "run", str(scenario)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: toxics_seen_independently("reference-db") != [], 40, "the fault applied")
        # traffic under the fault, as a Prometheus scrape of the live run shows it
        live = wait_for(under_fault, 20, "live series of the run under its fault")
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        wait_for(lambda: toxics_seen_independently("reference-db") == [], 5,
                 "the toxic gone within 5 s of Ctrl-C")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:] + err[-2000:]
    # the scrape during the run also showed the latency histogram of those answers
    assert live["chaosfleet_run_operation_latency_seconds_count", ""] > 20, live
    assert time.monotonic() - interrupted < 60
    assert "SIGINT: cancelling the run" in err
    assert re.search(r"reverted latency .*: \d+\.\ds into the run", out), out[-2000:]
    # through a pipe, progress came as plain lines while the run was going
    assert re.search(r"^phase traffic \| t -?[\d.]+s/[\d.]+s", out, re.M), out[:2000]
    run_id = re.search(r"run (\S+): scenario interrupted", out).group(1)
    record = get_run(get_engine(get_settings().catalogue_url), run_id)
    assert record is not None and record.status == "aborted", record and record.reason
    assert "interrupted by the operator (SIGINT)" in (record.reason or "")
    # the ledger balances: every operation the slices sent has exactly one outcome
    slices = RunState(redis.Redis.from_url(get_settings().redis_url), get_settings().key_prefix,
                      run_id).slices()
    assert slices and all(s.done for s in slices.values()), slices
    sent = sum(s.issued for s in slices.values())
    with Session(get_engine(get_settings().catalogue_url)) as session:
        rows, lost = session.execute(
            select(func.count(),
                   func.count().filter(LedgerEntry.outcome == "lost"))
            .where(LedgerEntry.run_id == run_id)).one()
    assert sent >= 60 and rows == sent and lost == 0, (sent, rows, lost)
    # the faults worker logged JSON lines, each carrying the run and the fault
    records = [json.loads(line) for line in fleet["faults"].log_path.read_text().splitlines()
               if line.startswith("{")]
    ours = [r for r in records if r.get("run_id") == run_id]
    assert any(r["event"].startswith(f"fault {r['fault']}: applied") for r in ours), records[-5:]
    assert all(r["fault"].startswith(run_id) and r["level"] for r in ours)


def under_fault() -> dict[tuple[str, str], float] | None:
    """The live series once the run shows its fault active and 20+ ok answers."""
    live = scrape_live_series("interrupted")
    ready = (live.get(("chaosfleet_run_active_faults", "")) == 1
             and live.get(("chaosfleet_run_operations_total", "ok"), 0) > 20)
    return live if ready else None


def scrape_live_series(scenario: str) -> dict[tuple[str, str], float]:
    """The /metrics text as the API renders it, parsed as Prometheus would: the
    samples labelled with this scenario, keyed by (name, outcome)."""
    from prometheus_client.parser import text_string_to_metric_families

    from chaosfleet.api.metrics import render_metrics

    settings = get_settings()
    text = render_metrics(get_engine(settings.catalogue_url),
                          redis.Redis.from_url(settings.redis_url), settings.key_prefix).decode()
    return {(s.name, s.labels.get("outcome", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.labels.get("scenario") == scenario and "le" not in s.labels}

"""Tasks: thin shells that parse a typed message and hand it to the right module."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from redis.client import Pipeline

from catalogue.ledger import recorded_op_ids
from chaosfleet.core import clock
from chaosfleet.core.errors import ChaosfleetError, NotAllowedError
from chaosfleet.core.logs import log_context
from chaosfleet.core.settings import get_settings
from chaosfleet.jobs.suites import SuiteState, new_suite_id, plan_suite, write_suite_reports
from chaosfleet.jobs.suites import run_suite as run_suite_scenarios
from chaosfleet.reports.html import write_run_report
from chaosfleet.runner.controller import RunController
from chaosfleet.runner.request import RunRequest
from chaosfleet.runner.state import FaultPhase, FaultStatus, RunState, SliceStatus
from chaosfleet.traffic.cursor import SliceProgress, first_reservation
from chaosfleet.traffic.drivers import run_slice as drive_slice
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch
from faults.leases import Lease
from workers.app import app
from workers.runtime import fleet

log = logging.getLogger("chaosfleet.tasks")


@app.task(name="chaosfleet.run_scenario", bind=True, max_retries=1,
          soft_time_limit=get_settings().max_run_seconds,
          time_limit=get_settings().max_run_seconds + 60)
def run_scenario(self: Task, request_json: str) -> dict[str, Any]:
    request = RunRequest.model_validate_json(request_json)
    with log_context(run_id=request.run_id, scenario=request.scenario.name,
                     target=request.target_name, suite_id=request.suite_id):
        return _run_scenario(request)


def _run_scenario(request: RunRequest) -> dict[str, Any]:
    settings = get_settings()
    controller = RunController(
        request, settings, fleet().config, fleet().redis, fleet().faults,
        fleet().dispatcher, fleet().catalogue_engine, on_journal=write_run_report,
    )
    outcome = controller.execute()
    return {"verdict": str(outcome.verdict), "reason": outcome.reason,
            "journal": outcome.journal_path}


@app.task(name="chaosfleet.run_suite", bind=True, max_retries=0,
          soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def run_suite(self: Task, suite: str, target: str | None = None, trigger: str = "beat",
              suite_id: str | None = None, fail_fast: bool = False) -> dict[str, Any]:
    """A suite from beat or the API. A redelivered suite (its executor died) never
    re-runs chaos: it stops its current run and ends as a harness error."""
    suite_id = suite_id or new_suite_id()
    with log_context(suite_id=suite_id):
        return _run_suite(suite, target, trigger, suite_id, fail_fast)


def _run_suite(suite: str, target: str | None, trigger: str, suite_id: str,
               fail_fast: bool) -> dict[str, Any]:
    settings = get_settings()
    client = fleet().redis
    state = SuiteState(client, settings.key_prefix, suite_id)
    if not state.claim():
        if state.get().get("phase") != "done":
            current = state.get().get("current_run")
            if current:
                RunState(client, settings.key_prefix, current).request_stop("suite lost")
            state.set(phase="done", verdict="error",
                      reason="harness error: the suite's executor was lost mid-suite")
        return state.get()
    try:
        spec, requests = plan_suite(suite, fleet().config, settings, target, trigger)
    except ChaosfleetError as exc:
        state.set(phase="done", verdict="error", reason=f"refused: {exc}")
        return state.get()
    result = run_suite_scenarios(spec, requests, fleet(), suite_id, fail_fast)
    write_suite_reports(Path(result.report_dir or "."), engine=fleet().catalogue_engine)
    return {"suite_id": suite_id, "verdict": str(result.verdict), "reason": result.reason}


# A slice whose worker process died is retried at once (not after Celery's default
# 3 minutes), up to 10 times: attempts are idempotent (see chaosfleet/traffic/cursor.py).
@app.task(name="chaosfleet.run_slice", bind=True, max_retries=10, default_retry_delay=0.2,
          ignore_result=True)
def run_slice(self: Task, plan_json: str) -> None:
    plan = SlicePlan.model_validate_json(plan_json)
    with log_context(run_id=plan.run_id, scenario=plan.scenario, slice=plan.index):
        _run_slice(self, plan)


def _run_slice(self: Task, plan: SlicePlan) -> None:
    client = fleet().redis
    state = RunState(client, get_settings().key_prefix, plan.run_id)
    ahead = first_reservation(plan, clock.now())
    done, high_water = state.begin_attempt(plan.index, ahead)
    if done is not None and done.done:
        return  # redelivered after it finished: doing it again would double the traffic
    engine = fleet().catalogue_engine
    progress = SliceProgress(
        # nothing sent yet means nothing recorded: a first attempt never waits on the
        # database (it may be down; the record writer spools)
        recorded=recorded_op_ids(engine, plan.run_id, plan.index) if high_water else set(),
        high_water=high_water,
        reserve=lambda n: state.reserve(plan.index, n),
        reserved=0 if done is not None or high_water else ahead,
    )
    recorder = Recorder(plan, StatsBatch(client, state.stats_key, plan.run_started_at), engine,
                        attempt=self.request.retries + 1, writer=fleet().record_writer)

    def mark_done(issued: int, pipe: Pipeline) -> None:  # with the slice's last counts
        state.mark_slice(plan.index, SliceStatus.finished(issued), pipe)

    try:
        drive_slice(plan, recorder, lambda: state.stop_reason() is not None, progress, mark_done)
    except SoftTimeLimitExceeded:
        recorder.flush(final=True)
        state.mark_slice(plan.index, SliceStatus.failed("slice hit its soft time limit"))
        raise
    except Exception as exc:
        state.mark_slice(plan.index, SliceStatus.failed(f"{type(exc).__name__}: {exc}"))
        raise


@app.task(name="chaosfleet.noop", ignore_result=True)
def noop(counter: str) -> None:
    """Counts itself and does nothing else: the raw-Celery baseline of the dispatch
    benchmark (bench/dispatch.py), next to which a slice's own cost is measured."""
    fleet().redis.incr(counter)


@app.task(name="chaosfleet.apply_fault", ignore_result=True, soft_time_limit=20, time_limit=30)
def apply_fault(lease_json: str) -> None:
    lease = Lease.model_validate_json(lease_json)
    with log_context(run_id=lease.run_id, fault=lease.id):
        _apply_fault(lease)


def _apply_fault(lease: Lease) -> None:
    state = RunState(fleet().redis, get_settings().key_prefix, lease.run_id)
    began = time.monotonic()
    # the controller tells queue wait from apply time
    state.mark_fault(lease.id, FaultStatus(FaultPhase.RECEIVED))
    log.info("fault %s (%s): received, applying", lease.id, lease.spec.type)
    try:
        proxy = lease.spec.proxy_name
        if proxy is not None and proxy not in fleet().config.allowlist.proxies:
            raise NotAllowedError(f"proxy {proxy!r} is not on this worker's allowlist")
        applied = fleet().faults.apply(lease)
    except ChaosfleetError as exc:
        log.info("fault %s: failed after %.2fs: %s", lease.id, time.monotonic() - began, exc)
        state.mark_fault(lease.id, FaultStatus(FaultPhase.ERROR, str(exc)))
        return
    log.info("fault %s: %s in %.2fs", lease.id, "applied" if applied else "lease expired",
             time.monotonic() - began)
    state.mark_fault(lease.id, FaultStatus(FaultPhase.APPLIED) if applied
                     else FaultStatus(FaultPhase.ERROR, "lease expired before apply"))


@app.task(name="chaosfleet.revert_fault", ignore_result=True, soft_time_limit=20, time_limit=30)
def revert_fault(lease_id: str) -> bool:
    with log_context(fault=lease_id):
        return _revert_fault(lease_id)


def _revert_fault(lease_id: str) -> bool:
    began = time.monotonic()
    reverted = fleet().faults.revert_by_id(lease_id)
    log.info("fault %s: %s in %.2fs", lease_id, "reverted" if reverted else "already gone",
             time.monotonic() - began)
    return reverted


@app.task(name="chaosfleet.revert_expired", ignore_result=True, soft_time_limit=20, time_limit=30)
def revert_expired() -> int:
    return fleet().faults.revert_expired()


@app.task(name="chaosfleet.evaluate_warnings", ignore_result=True, soft_time_limit=60,
          time_limit=90)
def evaluate_warnings() -> int:
    """Early warnings (beat): evaluate every failure mode's indicators; returns how
    many are at warning or critical."""
    from catalogue.modes import load_catalogue
    from catalogue.warnings import evaluate

    settings = get_settings()
    results = evaluate(fleet().catalogue_engine, load_catalogue(settings.catalogue_path),
                       settings.warning_window)
    firing = [r for r in results if r.level != "ok"]
    for r in firing:
        log.warning("early warning %s: %s %s = %g (threshold %g): %s", r.level, r.mode_id,
                    r.metric, r.value, r.threshold or 0, r.action)
    return len(firing)

"""Start a run from a scenario reference and follow it to its verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from sqlalchemy.engine import Engine

from catalogue.runs import get_run
from chaosfleet.core.config import FleetConfig, check_allowed, parse_target
from chaosfleet.core.errors import ConfigError, HarnessError
from chaosfleet.core.settings import Settings
from chaosfleet.dispatch import expires_in
from chaosfleet.runner.request import RunRequest
from chaosfleet.runner.state import RunState
from scenarios.loader import check_against_target, load_scenario
from scenarios.model import Scenario

if TYPE_CHECKING:
    from celery import Celery

CLAIM_WITHIN = 20.0  # a control worker must pick the run up within this bound
STOP_WITHIN = 90.0  # after a cancel, the run must end (faults reverted) within this bound


def prepare_run(scenario_ref: str | Path, config: FleetConfig, settings: Settings,
                target_name: str | None = None, trigger: str = "cli") -> RunRequest:
    """Validate everything before anything runs; raises ConfigError / NotAllowedError."""
    scenario = load_scenario(scenario_ref)
    name = target_name or scenario.target
    if name != scenario.target:
        scenario = scenario.model_copy(update={"target": name})
    target = config.target(name)
    check_against_target(scenario, target)
    check_allowed(config, name, scenario.proxies, settings.allow_production)
    return RunRequest(scenario=scenario, target_name=name, target=target, trigger=trigger)


def prepare_replay(engine: Engine, run_id: str, config: FleetConfig,
                   settings: Settings) -> RunRequest:
    """A new run with the recorded run's scenario (seed, traffic mix, fault timeline)
    and target declaration. The allowlist is checked again: a target removed from it
    since is refused."""
    run = get_run(engine, run_id)
    if run is None:
        raise ConfigError(f"no recorded run {run_id!r} (see reports/ or the runs table)")
    if not run.scenario_spec or not run.target_spec:
        raise ConfigError(f"run {run_id} was recorded without its scenario or target: "
                          "it cannot be replayed")
    scenario = Scenario.model_validate(run.scenario_spec)
    target = parse_target(run.target_spec)
    check_allowed(config, run.target, scenario.proxies, settings.allow_production)
    return RunRequest(scenario=scenario, target_name=run.target, target=target,
                      trigger="replay", replay_of=run_id)


def submit_run(app: Celery, request: RunRequest, claim_within: float = CLAIM_WITHIN) -> None:
    """Queue the run. A run nobody picks up in time expires in the queue: chaos must
    never start later, unattended, from a trigger that gave up waiting."""
    app.send_task("chaosfleet.run_scenario", args=[request.model_dump_json()], queue="control",
                  task_id=f"run-{request.run_id}", expires=expires_in(claim_within))


def follow_run(request: RunRequest, client: redis.Redis, settings: Settings,
               on_progress: Callable[[dict[str, str]], None],
               stop_requested: Callable[[], str | None] = lambda: None) -> dict[str, str]:
    """Poll the run's progress until it has a verdict; bounded by the scenario length.

    When `stop_requested` gives a reason (Ctrl-C, a suite cancel), the run is asked
    to stop once and followed until it ends, so its faults are reverted before the
    caller returns; that wait is bounded by STOP_WITHIN."""
    state = RunState(client, settings.key_prefix, request.run_id)
    started = time.monotonic()
    limit = request.scenario.traffic.duration + 180
    stop_by: float | None = None
    while True:
        progress = state.progress()
        on_progress(progress)
        if progress.get("phase") == "done":
            return progress
        if stop_by is None and (reason := stop_requested()):
            state.request_stop(reason)
            stop_by = time.monotonic() + STOP_WITHIN
        if stop_by is not None and time.monotonic() > stop_by:
            raise HarnessError(f"run {request.run_id} did not end within {STOP_WITHIN:g}s of "
                               "the cancel; the janitor reverts its faults when their leases "
                               "expire")
        elapsed = time.monotonic() - started
        if "claimed" not in progress and elapsed > CLAIM_WITHIN:
            state.request_stop("no control worker picked the run up in time")
            raise HarnessError(
                f"no control worker picked up run {request.run_id} within {CLAIM_WITHIN:g}s: "
                "start one with `chaosfleet worker --role control`")
        if elapsed > limit:
            state.request_stop("the trigger gave up waiting")
            raise HarnessError(f"run {request.run_id} gave no verdict within {limit:g}s")
        time.sleep(0.5)

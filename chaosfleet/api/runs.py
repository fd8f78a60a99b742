"""The API's on-demand triggers: start a run or a suite, read its status, cancel it.

Refusals change nothing: a target off the allowlist is refused with 403 before
anything is read or queued; a malformed body gets 422 naming each field; a
scenario or suite that does not validate gets 422 with the validation message.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from catalogue.runs import get_run
from chaosfleet.api.errors import NOT_FOUND, Problem
from chaosfleet.core import clock
from chaosfleet.core.errors import ConfigError, NotAllowedError
from chaosfleet.dispatch import expires_in
from chaosfleet.fleet import Fleet
from chaosfleet.jobs.cancel import AlreadyFinished, NothingToCancel, cancel, is_suite_id
from chaosfleet.jobs.suites import SuiteState, new_suite_id, plan_suite
from chaosfleet.jobs.trigger import CLAIM_WITHIN, prepare_run, submit_run
from chaosfleet.runner.state import RunState
from scenarios.model import SLUG

log = logging.getLogger("chaosfleet.api")

# run and suite ids as the fleet makes them; anything else is a 422, never a query
RunId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,80}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RunBody(Body):
    scenario: Annotated[str, Field(pattern=SLUG, description="a built-in scenario name")]
    target: Annotated[str | None, Field(default=None, min_length=1)] = None


class SuiteBody(Body):
    suite: Annotated[str, Field(pattern=SLUG, description="a built-in suite name")]
    target: Annotated[str | None, Field(default=None, min_length=1)] = None
    fail_fast: bool = False


class Accepted(BaseModel):
    id: str
    status_url: str


class Status(BaseModel):
    id: str
    phase: str
    verdict: str | None = None
    reason: str | None = None
    detail: dict[str, str] = Field(default_factory=dict)


def _refuse(exc: Exception) -> HTTPException:
    if isinstance(exc, NotAllowedError):
        return HTTPException(403, str(exc))
    return HTTPException(422, str(exc))


REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "a target or proxy not on the allowlist"}}
CANCEL: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND, 409: {"model": Problem, "description": "it has finished already"}}


def add_run_routes(app: FastAPI, auth: list[Any], engine: Engine, fleet: Fleet) -> None:
    config, client, settings = fleet.config, fleet.redis, fleet.settings
    router = APIRouter(dependencies=auth)

    def allowlisted(target: str | None) -> None:
        if target is not None and target not in config.allowlist.targets:
            raise HTTPException(403, f"target {target!r} is not on the allowlist")

    def queue_expired(progress: dict[str, str]) -> bool:
        queued = float(progress.get("queued_at", "0") or 0)
        return "claimed" not in progress and bool(queued) and clock.now() - queued > CLAIM_WITHIN

    @router.post("/runs", status_code=202, responses=REFUSED)
    def start_run(body: RunBody, http: Request) -> Accepted:
        allowlisted(body.target)
        try:
            run = prepare_run(body.scenario, config, settings, body.target, trigger="api")
        except (ConfigError, NotAllowedError) as exc:
            raise _refuse(exc) from None
        caller = getattr(http.state, "caller", "-")
        RunState(client, settings.key_prefix, run.run_id).set_progress(
            phase="queued", scenario=run.scenario.name, queued_at=clock.now(), queued_by=caller)
        submit_run(fleet.celery, run)
        log.info("run %s queued: %s against %s", run.run_id, run.scenario.name, run.target_name,
                 extra={"caller": caller, "run_id": run.run_id})
        return Accepted(id=run.run_id, status_url=f"/runs/{run.run_id}")

    @router.get("/runs/{run_id}", responses=NOT_FOUND)
    def run_status(run_id: RunId) -> Status:
        progress = RunState(client, settings.key_prefix, run_id).progress()
        if progress:
            phase = "expired" if queue_expired(progress) else progress.get("phase", "queued")
            return Status(id=run_id, phase=phase, verdict=progress.get("verdict") or None,
                          reason=progress.get("reason"), detail=progress)
        record = get_run(engine, run_id)
        if record is None:
            raise HTTPException(404, f"no run {run_id!r}")
        done = record.finished_at is not None
        return Status(id=run_id, phase="done" if done else "unknown",
                      verdict=record.status if done else None, reason=record.reason)

    def cancel_one(ident: str) -> Status:
        try:
            done = cancel(client, settings.key_prefix, ident, "cancelled via the API")
        except NothingToCancel as exc:
            raise HTTPException(404, str(exc)) from None
        except AlreadyFinished as exc:
            raise HTTPException(409, str(exc)) from None
        return Status(id=ident, phase="cancelling", detail={"phase": done.phase,
                                                             "runs": ",".join(done.runs)})

    @router.post("/runs/{run_id}/cancel", status_code=202, responses=CANCEL)
    def cancel_run(run_id: RunId) -> Status:
        if is_suite_id(run_id):
            raise HTTPException(404, f"no run {run_id!r}: it is a suite id (POST /suites/…/cancel)")
        return cancel_one(run_id)

    @router.post("/suites", status_code=202, responses=REFUSED)
    def start_suite(body: SuiteBody, http: Request) -> Accepted:
        allowlisted(body.target)
        try:
            suite, _ = plan_suite(body.suite, config, settings, body.target, trigger="api")
        except (ConfigError, NotAllowedError) as exc:
            raise _refuse(exc) from None
        suite_id = new_suite_id()
        caller = getattr(http.state, "caller", "-")
        SuiteState(client, settings.key_prefix, suite_id).set(
            suite=suite.name, phase="queued", queued_at=clock.now(), queued_by=caller)
        log.info("suite %s queued: %s", suite_id, suite.name,
                 extra={"caller": caller, "suite_id": suite_id})
        fleet.celery.send_task("chaosfleet.run_suite", queue="control", task_id=suite_id,
                             expires=expires_in(CLAIM_WITHIN),
                             kwargs={"suite": body.suite, "target": body.target,
                                     "trigger": "api", "suite_id": suite_id,
                                     "fail_fast": body.fail_fast})
        return Accepted(id=suite_id, status_url=f"/suites/{suite_id}")

    @router.get("/suites/{suite_id}", responses=NOT_FOUND)
    def suite_status(suite_id: RunId) -> Status:
        state = SuiteState(client, settings.key_prefix, suite_id).get()
        if not state:
            raise HTTPException(404, f"no suite {suite_id!r}")
        phase = "expired" if queue_expired(state) else state.get("phase", "queued")
        return Status(id=suite_id, phase=phase,
                      verdict=state.get("verdict") or None, reason=state.get("reason"),
                      detail=state)

    @router.post("/suites/{suite_id}/cancel", status_code=202, responses=CANCEL)
    def cancel_suite(suite_id: RunId) -> Status:
        if not is_suite_id(suite_id):
            raise HTTPException(404, f"no suite {suite_id!r}")
        return cancel_one(suite_id)

    app.include_router(router)


"""The fleet's HTTP API (FastAPI): the failure catalogue, run and suite triggers
(chaosfleet/api/runs.py), journals and reports (chaosfleet/api/reports.py) and
Prometheus metrics. Every request
needs `Authorization: Bearer <CHAOSFLEET_API_TOKEN>`; a malformed request gets a
422 naming each bad field and changes nothing."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Engine

from catalogue import failures as fx
from catalogue.filters import MAX_OFFSET
from catalogue.modes import Catalogue
from catalogue.warnings import current_warnings
from chaosfleet.api.errors import COMMON_RESPONSES, NOT_FOUND
from chaosfleet.api.metrics import CONTENT_TYPE, render_metrics
from chaosfleet.api.reports import add_report_routes
from chaosfleet.api.runs import add_run_routes
from chaosfleet.fleet import Fleet


class FailureOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    run_id: str
    scenario: str
    correlation_id: str | None
    component: str
    operation: str | None
    error_code: str
    http_status: int | None
    message: str
    signature: str
    mode_id: str | None
    match_type: str
    confidence: float
    category: str | None
    severity: str | None
    defect: bool | None
    retryable: bool | None
    recovery_mode: str | None
    recovery_suggestion: str | None
    fault: str | None
    input_hash: str | None
    occurrences: int
    context: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    recovery_attempted: bool
    recovered: bool | None
    recovered_at: datetime | None
    recovered_by: str | None
    time_to_recover_s: float | None
    notes: str | None


class FailurePage(BaseModel):
    items: list[FailureOut]
    limit: int
    offset: int


class MissOut(BaseModel):
    signature: str
    error_code: str
    message: str
    http_status: int | None
    occurrences: int
    runs: int
    last_seen: datetime


class WarningOut(BaseModel):
    mode_id: str
    metric: str
    value: float
    level: str
    threshold: float | None
    action: str
    window_s: float
    evaluated_at: datetime
    trend: list[float]
    rising: bool


class Stats(BaseModel):
    total: int
    by_mode: dict[str, int]
    by_category: dict[str, int]
    by_severity: dict[str, int]
    by_match_type: dict[str, int]
    by_recovery: dict[str, int]
    time_to_recover_s: dict[str, float | None]


def failure_filter(
    run_id: str | None = None, error_code: str | None = None, mode_id: str | None = None,
    category: str | None = None, severity: str | None = None, status: str = "all",
    since: datetime | None = None, until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> fx.FailureFilter:
    """The query string of every failure listing; a bad field is a 422 naming it."""
    return fx.FailureFilter(run_id=run_id, error_code=error_code, mode_id=mode_id,
                            category=category, severity=severity, status=status,
                            since=since, until=until, limit=limit, offset=offset)


Filter = Annotated[fx.FailureFilter, Depends(failure_filter)]


access = logging.getLogger("chaosfleet.api.access")


def create_app(engine: Engine, tokens: str | Mapping[str, str], catalogue: Catalogue,
               fleet: Fleet | None = None) -> FastAPI:
    """The catalogue routes always; run and suite triggers and /metrics when `fleet`
    (the config, Redis and settings they need) is given. `tokens`: one token, or
    tokens by the name of their caller (the access log names the caller)."""
    named = {"api-token": tokens} if isinstance(tokens, str) else dict(tokens)
    if not named or any(len(t) < 16 for t in named.values()):
        raise ValueError("CHAOSFLEET_API_TOKEN (or each of CHAOSFLEET_API_TOKENS) must be set, "
                         "at least 16 characters")
    app = FastAPI(title="chaosfleet", version="1", responses=COMMON_RESPONSES,
                  description="Every operation needs `Authorization: Bearer "
                              "$CHAOSFLEET_API_TOKEN`. `/openapi.json` and `/docs` are public: "
                              "they describe the API and hold no data.")
    bearer = HTTPBearer(auto_error=False, description="the value of CHAOSFLEET_API_TOKEN")

    def authorised(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Security(bearer)  # noqa: B008
                   ) -> None:
        given = (credentials.credentials if credentials else "").encode()
        # every token is compared, so the time taken says nothing about which matched
        matches = [name for name, t in named.items() if hmac.compare_digest(given, t.encode())]
        if not matches:
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        request.state.caller = matches[0]

    @app.middleware("http")
    async def log_access(request: Request, call_next: Any) -> Response:
        """One access record per request, naming the caller (never the token)."""
        began = time.monotonic()
        response = await call_next(request)
        caller = getattr(request.state, "caller", None)
        access.info("%s %s %s %.1fms", request.method, request.url.path,
                    response.status_code, (time.monotonic() - began) * 1000,
                    extra={"caller": caller or "-"})
        return response

    @app.exception_handler(fx.FailureQueryError)
    def on_query_error(_: Request, exc: fx.FailureQueryError) -> JSONResponse:
        status = 404 if str(exc).startswith("no failure") else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(ValidationError)
    @app.exception_handler(RequestValidationError)
    def on_invalid(_: Request, exc: ValidationError | RequestValidationError) -> JSONResponse:
        """422 naming each field, without echoing the value sent: it may be NaN
        (which JSON cannot encode), huge, or a secret."""
        return JSONResponse({"detail": [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]}
                                        for e in exc.errors()]}, status_code=422)

    auth = [Depends(authorised)]

    @app.get("/catalogue/modes", dependencies=auth)
    def modes() -> list[dict[str, Any]]:
        return [m.model_dump(mode="json") for m in catalogue.modes]

    @app.get("/catalogue/failures", dependencies=auth)
    def list_failures(flt: Filter) -> FailurePage:
        items = fx.list_failures(engine, flt)
        return FailurePage(items=[FailureOut.model_validate(i) for i in items],
                           limit=flt.limit, offset=flt.offset)

    @app.get("/catalogue/failures/{failure_id}", dependencies=auth, responses=NOT_FOUND)
    def get_failure(failure_id: str) -> FailureOut:
        return FailureOut.model_validate(fx.get_failure(engine, failure_id))

    @app.patch("/catalogue/failures/{failure_id}/recovery", dependencies=auth,
               responses=NOT_FOUND)
    def update_recovery(failure_id: str, change: fx.RecoveryUpdate) -> FailureOut:
        return FailureOut.model_validate(fx.update_recovery(engine, failure_id, change))

    @app.get("/catalogue/stats", dependencies=auth)
    def stats(flt: Filter) -> Stats:
        return Stats.model_validate(fx.failure_stats(engine, flt))

    @app.get("/catalogue/unrecovered", dependencies=auth)
    def unrecovered(limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[FailureOut]:
        return [FailureOut.model_validate(r) for r in fx.unrecovered(engine, limit=limit)]

    @app.get("/catalogue/misses", dependencies=auth)
    def misses(run_id: str | None = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> list[MissOut]:
        return [MissOut.model_validate(m) for m in fx.list_misses(engine, run_id, limit)]

    @app.get("/catalogue/warnings", dependencies=auth)
    def warnings() -> list[WarningOut]:
        return [WarningOut.model_validate(w) for w in current_warnings(engine)]

    add_report_routes(app, auth, engine)
    if fleet is not None:
        add_run_routes(app, auth, engine, fleet)

        @app.get("/metrics", dependencies=auth, response_class=Response,
                 responses={200: {"description": "Prometheus text exposition format",
                                  "content": {CONTENT_TYPE: {}}}})
        def metrics() -> Response:
            return Response(render_metrics(engine, fleet.redis, fleet.settings.key_prefix,
                                           fleet.settings.max_run_seconds),
                            media_type=CONTENT_TYPE)

    return app

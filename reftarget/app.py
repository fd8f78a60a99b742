"""HTTP front of the reference target: maps the service layer's errors to statuses."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool

from reftarget.errors import (
    FieldProblem,
    NotFound,
    RetryLater,
    ValidationFailed,
)
from reftarget.service import Service


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValidationFailed([FieldProblem(key, "duplicate key")])
        seen[key] = value
    return seen


def _reject_constant(name: str) -> None:
    raise ValidationFailed([FieldProblem("body", f"{name} is not valid JSON")])


async def read_json(request: Request) -> Any:
    """Parse the body strictly: JSON content type, UTF-8, no duplicate keys, no NaN."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ValidationFailed([FieldProblem("content-type", "must be application/json")])
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except UnicodeDecodeError:
        raise ValidationFailed([FieldProblem("body", "is not valid UTF-8")]) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValidationFailed([FieldProblem("body", f"is not valid JSON: {exc}")]) from None


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def prepare_schema(svc: Service, timeout: float = 30.0) -> None:
    """Create the tables, waiting (bounded) for the database to be reachable."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            svc.create_schema()
            return
        except sa_exc.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def create_app(service: Service | None = None) -> FastAPI:
    svc = service or Service()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(prepare_schema, svc)
        yield
        svc.engine.dispose()

    app = FastAPI(title="chaosfleet reference target", lifespan=lifespan)
    app.state.service = svc

    @app.exception_handler(ValidationFailed)
    def on_invalid(_: Request, exc: ValidationFailed) -> JSONResponse:
        fields = [{"field": p.field, "message": p.message} for p in exc.problems]
        return JSONResponse({"error": "validation", "fields": fields}, status_code=422)

    @app.exception_handler(RetryLater)
    def on_retry_later(_: Request, exc: RetryLater) -> JSONResponse:
        return JSONResponse(
            {"error": exc.label, "reason": exc.reason},
            status_code=exc.status,
            headers=_retry_after(exc.retry_after) if svc.settings.enabled("backoff") else None,
        )

    @app.exception_handler(NotFound)
    def on_not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "reason": str(exc)}, status_code=404)

    @app.get("/health")
    def health() -> JSONResponse:
        body = svc.health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.post("/orders")
    async def create_order(request: Request) -> JSONResponse:
        payload = await read_json(request)
        key = request.headers.get("idempotency-key")

        result = await run_in_threadpool(svc.create_order, payload, key)
        return JSONResponse(
            {"id": result.id, "created": result.created},
            status_code=201 if result.created else 200,
        )

    @app.get("/effects")
    def effects(prefix: str) -> dict[str, int]:
        """Audit: orders left by requests whose key starts with `prefix`."""
        if not 1 <= len(prefix) <= 128:
            raise ValidationFailed([FieldProblem("prefix", "must be 1 to 128 characters")])
        return svc.count_effects(prefix)

    @app.get("/orders/{order_id}")
    def get_order(order_id: int) -> dict[str, Any]:
        return svc.get_order(order_id)

    @app.post("/events")
    async def record_event(request: Request) -> JSONResponse:
        payload = await read_json(request)

        result = await run_in_threadpool(svc.record_event, payload)
        return JSONResponse(
            {"stored": result.stored, "shed": result.shed},
            status_code=201 if result.stored else 202,
        )

    @app.post("/halts")
    async def halt(request: Request) -> JSONResponse:
        payload = await read_json(request)

        return JSONResponse(await run_in_threadpool(svc.halt, payload), status_code=201)

    return app

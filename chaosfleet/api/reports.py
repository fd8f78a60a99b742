"""The API's reports: a run's or a suite's journal and HTML report, served from
the catalogue database, so they are there whichever host ran the controller."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine

from catalogue.journals import load_journal
from chaosfleet.api.errors import NOT_FOUND, Problem
from chaosfleet.api.runs import RunId
from chaosfleet.core.errors import ConfigError
from chaosfleet.jobs.suites import load_run_journals
from chaosfleet.reports.html import render_run_html, render_suite_html

UNREADABLE: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND, 500: {"model": Problem, "description": "the stored journal does not validate"}}
HTML: dict[int | str, dict[str, Any]] = {
    **UNREADABLE, 200: {"content": {"text/html": {}}, "description": "the HTML report"}}


def add_report_routes(app: FastAPI, auth: list[Any], engine: Engine) -> None:
    router = APIRouter(dependencies=auth)

    def stored(kind: str, ident: str) -> dict[str, Any]:
        try:
            found = load_journal(engine, ident)
        except ConfigError as exc:
            raise HTTPException(500, str(exc)) from None
        if found is None or found[0] != kind:
            raise HTTPException(404, f"no {kind} journal {ident!r} (a run still going has none)")
        return found[1]

    @router.get("/runs/{run_id}/journal", responses=UNREADABLE)
    def run_journal(run_id: RunId) -> dict[str, Any]:
        """The run's journal (schema `chaosfleet.journal/2`, docs/journal.md)."""
        return stored("run", run_id)

    @router.get("/runs/{run_id}/report.html", response_class=HTMLResponse, responses=HTML)
    def run_report(run_id: RunId) -> HTMLResponse:
        return HTMLResponse(render_run_html(stored("run", run_id)))

    @router.get("/suites/{suite_id}/journal", responses=UNREADABLE)
    def suite_journal(suite_id: RunId) -> dict[str, Any]:
        """The suite's journal (schema `chaosfleet.suite/1`)."""
        return stored("suite", suite_id)

    @router.get("/suites/{suite_id}/report.html", response_class=HTMLResponse, responses=HTML)
    def suite_report(suite_id: RunId) -> HTMLResponse:
        doc = stored("suite", suite_id)
        return HTMLResponse(render_suite_html(doc, load_run_journals(doc, engine)))

    app.include_router(router)

"""Suites: named lists of scenarios, run one after another, with one verdict.

One code path for the three users: `chaosfleet suite` (in the caller's process),
the nightly beat entry and the HTTP API (both as a `chaosfleet.run_suite` task on
the control queue). Every scenario is validated before the first one runs, so a
typo in the last scenario never leaves a half-run suite behind.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from catalogue.journals import load_journal, store_journal
from chaosfleet.core.config import FleetConfig
from chaosfleet.core.errors import ConfigError, HarnessError
from chaosfleet.core.settings import Settings
from chaosfleet.fleet import Fleet
from chaosfleet.jobs.trigger import follow_run, prepare_run, submit_run
from chaosfleet.reports.html import render_suite_html, write_html
from chaosfleet.reports.junit import write_junit
from chaosfleet.reports.schemas import read_journal
from chaosfleet.runner.analysis import Verdict
from chaosfleet.runner.request import RunRequest
from chaosfleet.runner.state import TTL, text_of
from faults.registry import FaultSpec
from scenarios.loader import load_suite, suite_scenario_refs
from scenarios.model import Suite

log = logging.getLogger("chaosfleet.suites")

SCHEMA = "chaosfleet.suite/1"
SKIPPED = "skipped"


def new_suite_id() -> str:
    return time.strftime("suite-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def plan_suite(ref: str | Path, config: FleetConfig, settings: Settings,
               target: str | None = None, trigger: str = "cli") -> tuple[Suite, list[RunRequest]]:
    """Load the suite and validate every scenario against its target and the
    allowlist. Raises ConfigError naming every bad scenario, NotAllowedError first."""
    suite = load_suite(ref)
    requests, problems = [], []
    for name in suite_scenario_refs(ref, suite):
        try:
            requests.append(prepare_run(name, config, settings, target, trigger))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(f"suite {suite.name!r} has invalid scenarios:\n" + "\n".join(problems))
    return suite, requests


def _describe_fault(spec: FaultSpec) -> str:
    where = f" on {spec.proxy_name}" if spec.proxy_name else ""
    extra = {k: v for k, v in spec.model_dump(exclude={"type", "start", "duration", "proxy"},
                                              exclude_defaults=True).items()}
    detail = ", ".join(f"{k}={v}" for k, v in extra.items() if not isinstance(v, dict | list))
    return f"{spec.type}{where}" + (f" ({detail})" if detail else "")


def describe_plan(requests: list[RunRequest]) -> list[dict[str, Any]]:
    """What a suite would do, for `--dry-run`: scenarios, faults, proxies, timeline."""
    plan = []
    for req in requests:
        traffic = req.scenario.traffic
        plan.append({
            "scenario": req.scenario.name,
            "target": req.target_name,
            "endpoint": getattr(req.target, "base_url", "in-process"),
            "duration_s": traffic.duration,
            "rate": traffic.rate,
            "proxies": req.scenario.proxies,
            "faults": [{"fault": _describe_fault(f), "start": f.start,
                        "end": f.start + f.duration} for f in req.scenario.faults],
            "stop_conditions": len(req.scenario.stop_conditions),
        })
    return plan


class SuiteState:
    """A suite's live state in Redis, read by the API and by a cancel."""

    def __init__(self, client: redis.Redis, prefix: str, suite_id: str):
        self.client = client
        self.key = f"{prefix}:suite:{suite_id}"
        self._stop = f"{self.key}:stop"

    def set(self, **fields: Any) -> None:
        self.client.hset(self.key, mapping={k: str(v) for k, v in fields.items()})
        self.client.expire(self.key, TTL)

    def get(self) -> dict[str, str]:
        return {text_of(k): text_of(v) for k, v in self.client.hgetall(self.key).items()}

    def claim(self) -> bool:
        """True for the first executor; a redelivered suite task must not re-run chaos."""
        claimed = self.client.hsetnx(self.key, "claimed", "1")
        self.client.expire(self.key, TTL)
        return bool(claimed)

    def request_stop(self, reason: str) -> None:
        self.client.set(self._stop, reason, ex=TTL)

    def stop_reason(self) -> str | None:
        raw = self.client.get(self._stop)
        return text_of(raw) if raw else None


@dataclass
class RunResult:
    scenario: str
    run_id: str | None
    verdict: str
    reason: str
    journal: str | None = None
    wall_s: float = 0.0


@dataclass
class SuiteResult:
    suite_id: str
    suite: str
    verdict: Verdict
    reason: str
    runs: list[RunResult] = field(default_factory=list)
    started_at: float = 0.0
    wall_s: float = 0.0
    report_dir: str | None = None
    trigger: str = "cli"

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code


def judge_suite(runs: list[RunResult], stopped: str | None) -> tuple[Verdict, str]:
    """Error beats failure beats pass: a harness error means nothing was proven."""
    ran = [r for r in runs if r.verdict != SKIPPED]
    by = {v: [r.scenario for r in ran if r.verdict == v] for v in Verdict}
    if by[Verdict.ERROR]:
        return Verdict.ERROR, f"harness error in: {', '.join(by[Verdict.ERROR])}"
    if stopped:
        return Verdict.ABORTED, f"stopped: {stopped}"
    bad = by[Verdict.FAILED] + by[Verdict.ABORTED]
    if bad:
        return Verdict.FAILED, f"{len(bad)} of {len(ran)} scenarios did not pass: {', '.join(bad)}"
    return Verdict.PASSED, f"all {len(ran)} scenarios passed"


ProgressFn = Callable[[int, RunRequest, dict[str, str]], None]


def run_suite(suite: Suite, requests: list[RunRequest], fleet: Fleet,
              suite_id: str | None = None, fail_fast: bool = False,
              on_progress: ProgressFn | None = None,
              on_result: Callable[[RunResult], None] | None = None,
              stop_requested: Callable[[], str | None] = lambda: None) -> SuiteResult:
    """Run the planned scenarios in order and write the suite journal. A cancel
    (`stop_requested`, or the suite's stop key from the API) stops the current run,
    which reverts its faults, and skips the rest."""
    suite_id = suite_id or new_suite_id()
    settings = fleet.settings
    state = SuiteState(fleet.redis, settings.key_prefix, suite_id)
    state.set(suite=suite.name, phase="running", total=len(requests), done=0, verdict="")
    started, t_start = time.time(), time.monotonic()
    runs: list[RunResult] = []
    stopped = None
    def stop_reason() -> str | None:
        if (reason := stop_requested()) and not state.stop_reason():
            state.request_stop(reason)  # so the API and `chaosfleet cancel` see it too
        return state.stop_reason()

    for i, request in enumerate(requests):
        stopped = stopped or stop_reason()
        if stopped or (fail_fast and any(r.verdict != Verdict.PASSED for r in runs)):
            runs.append(RunResult(request.scenario.name, None, SKIPPED,
                                  f"stopped: {stopped}" if stopped else "skipped: --fail-fast"))
            continue
        request = request.model_copy(update={"suite_id": suite_id})
        state.set(current=request.scenario.name, current_run=request.run_id)
        result = _run_one(i, request, fleet, stop_reason, on_progress)
        runs.append(result)
        state.set(done=i + 1, **{f"run:{i}": json.dumps(asdict(result))})
        if on_result:
            on_result(result)
    verdict, reason = judge_suite(runs, stopped)
    outcome = SuiteResult(suite_id, suite.name, verdict, reason, runs, started,
                          round(time.monotonic() - t_start, 1),
                          trigger=requests[0].trigger if requests else "cli")
    folder = write_suite_journal(settings.reports_dir, outcome, suite, fleet.catalogue_engine)
    outcome.report_dir = str(folder)
    state.set(phase="done", verdict=verdict, reason=reason, current="", report=folder)
    return outcome


def _run_one(i: int, request: RunRequest, fleet: Fleet,
             stop_reason: Callable[[], str | None], on_progress: ProgressFn | None
             ) -> RunResult:
    begun = time.monotonic()

    def progress(p: dict[str, str]) -> None:
        if on_progress:
            on_progress(i, request, p)

    try:
        submit_run(fleet.celery, request)
        # a cancel of the suite cancels its current run
        final = follow_run(request, fleet.redis, fleet.settings, progress, stop_reason)
    except HarnessError as exc:
        return RunResult(request.scenario.name, request.run_id, Verdict.ERROR, str(exc),
                         wall_s=round(time.monotonic() - begun, 1))
    return RunResult(request.scenario.name, request.run_id,
                     final.get("verdict") or Verdict.ERROR, final.get("reason", ""),
                     final.get("journal") or None, round(time.monotonic() - begun, 1))


def suite_journal(result: SuiteResult, suite: Suite) -> dict[str, Any]:
    """The suite journal (schema `chaosfleet.suite/1`, see docs/journal.md)."""
    return {
        "schema": SCHEMA,
        "suite_id": result.suite_id,
        "suite": {"name": suite.name, "description": suite.description,
                  "scenarios": list(suite.scenarios)},
        "trigger": result.trigger,
        "verdict": str(result.verdict),
        "reason": result.reason,
        "started_at": result.started_at,
        "wall_s": result.wall_s,
        "runs": [asdict(r) for r in result.runs],
    }


def write_suite_journal(reports_dir: Path, result: SuiteResult, suite: Suite,
                        engine: Engine | None = None) -> Path:
    """suite.json in the suite's report folder, and in the catalogue database."""
    folder = Path(reports_dir).resolve() / result.suite_id
    folder.mkdir(parents=True, exist_ok=True)
    doc = suite_journal(result, suite)
    tmp = folder / "suite.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(folder / "suite.json")
    if engine is not None:
        try:
            store_journal(engine, result.suite_id, "suite", doc)
        except SQLAlchemyError as exc:
            log.error("suite %s: journal not stored in the catalogue database (only in %s): "
                      "%s", result.suite_id, folder, exc)
    return folder


def load_run_journals(doc: dict[str, Any], engine: Engine | None = None
                      ) -> list[dict[str, Any] | None]:
    """Each run's journal: from its file when this host has it, else from the
    catalogue database (the run's controller may have been on another host); None
    for a skipped run, or a journal found nowhere or not a valid run journal."""
    return [_run_journal(run, engine) for run in doc["runs"]]


def _run_journal(run: dict[str, Any], engine: Engine | None) -> dict[str, Any] | None:
    path = run.get("journal")
    try:
        if path and Path(path).is_file():
            kind, journal = read_journal(Path(path))
            return journal if kind == "run" else None
    except ConfigError:
        pass
    if engine is None or not run.get("run_id"):
        return None
    try:
        found = load_journal(engine, run["run_id"])
    except (ConfigError, SQLAlchemyError) as exc:
        log.warning("run %s: no journal from the catalogue database: %s", run["run_id"], exc)
        return None
    return found[1] if found and found[0] == "run" else None


def write_suite_reports(folder: Path, junit: Path | None = None,
                        html: Path | None = None, engine: Engine | None = None
                        ) -> dict[str, Path]:
    """HTML and JUnit next to the suite journal, plus copies where asked."""
    doc = json.loads((folder / "suite.json").read_text())
    journals = load_run_journals(doc, engine)
    page = render_suite_html(doc, journals)
    paths = {"journal": folder / "suite.json",
             "html report": write_html(folder / "report.html", page),
             "junit": write_junit(folder / "junit.xml", doc, journals)}
    if html:
        paths["html report (copy)"] = write_html(html, page)
    if junit:
        paths["junit (copy)"] = write_junit(junit, doc, journals)
    return paths

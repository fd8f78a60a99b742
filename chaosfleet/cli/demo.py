"""`chaosfleet demo`: the built-in smoke suite against the bundled reference target.

Starts what it needs (proxies, the reference target, one worker per role), runs
the suite with live progress, prints each report, and stops what it started.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from chaosfleet.cli.procs import ROLES, start_reference_target, start_workers, stop_all
from chaosfleet.core.settings import get_settings
from chaosfleet.jobs.suites import RunResult
from chaosfleet.reports.terminal import render
from chaosfleet.runner.request import RunRequest
from faults.proxies import ensure_target_proxies

REFERENCE_TARGET = "reference"
# the pool-exhaustion fault connects as the reference target's own role
DEMO_ENV = {"REFTARGET_DB_PASSWORD": os.environ.get("REFTARGET_DB_PASSWORD", "reftarget")}


def run_demo(suite: str, console: Console,
             stop_requested: Callable[[], str | None] = lambda: None) -> int:
    from chaosfleet.cli.common import fleet
    from chaosfleet.jobs.suites import plan_suite, run_suite, write_suite_reports

    s = get_settings()
    log_dir = Path(s.state_dir).resolve() / "logs"
    started = time.monotonic()
    spec, requests = plan_suite(suite, fleet().config, s, REFERENCE_TARGET)
    ensure_target_proxies(fleet().config, REFERENCE_TARGET, s)
    with ExitStack() as stack:
        console.print("[bold]starting[/] reference target on 127.0.0.1:8080")
        target = start_reference_target(8080, log_dir)
        stack.callback(target.stop)
        console.print(f"[bold]starting[/] workers: {', '.join(ROLES)}")
        workers = start_workers(ROLES, "demo", log_dir, env=DEMO_ENV)
        stack.callback(stop_all, workers)
        console.print(f"[bold]running[/] suite {spec.name}: {', '.join(spec.scenarios)}")
        result = run_suite(spec, requests, fleet(),
                           on_progress=_show_progress(console), on_result=_show_report(console),
                           stop_requested=stop_requested)
        console.print("[bold]stopping[/] workers and reference target")
    paths = write_suite_reports(Path(result.report_dir or "."), engine=fleet().catalogue_engine)
    console.print(f"[bold]{str(result.verdict).upper()}[/] suite {spec.name}: {result.reason}")
    console.print(f"HTML report: [bold]{paths['html report']}[/] (JUnit: {paths['junit']})")
    console.print(f"demo finished in {time.monotonic() - started:.0f}s; logs in {log_dir}")
    return result.exit_code


def _show_progress(console: Console) -> Callable[[int, RunRequest, dict[str, str]], None]:
    from chaosfleet.cli.common import progress_line

    last = {"t": 0.0}

    def show(_: int, request: RunRequest, p: dict[str, str]) -> None:
        if time.monotonic() - last["t"] >= 5:  # a line every 5 s: readable in a log too
            last["t"] = time.monotonic()
            console.print(f"  {request.scenario.name}: {progress_line(p).plain}")

    return show


def _show_report(console: Console) -> Callable[[RunResult], None]:
    def show(result: RunResult) -> None:
        if result.journal and Path(result.journal).exists():
            render(json.loads(Path(result.journal).read_text()), console)
        else:
            console.print(f"{result.scenario}: {result.verdict}: {result.reason}")

    return show

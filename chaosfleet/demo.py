"""`chaosfleet demo`: the built-in smoke suite against the bundled reference target.

Starts what it needs (proxies, the reference target, one worker per role), runs
the suite with live progress, prints each report, and stops what it started.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from chaosfleet.procs import ROLES, start_reference_target, start_worker
from chaosfleet.proxies import ensure_target_proxies
from chaosfleet.settings import get_settings
from scenarios.loader import load_suite

REFERENCE_TARGET = "reference"
# the pool-exhaustion fault connects as the reference target's own role
DEMO_ENV = {"REFTARGET_DB_PASSWORD": os.environ.get("REFTARGET_DB_PASSWORD", "reftarget")}


def run_demo(suite: str, console: Console) -> int:
    from chaosfleet.cli import run_and_report
    from workers.runtime import fleet_config

    s = get_settings()
    log_dir = Path(s.state_dir).resolve() / "logs"
    started = time.monotonic()
    ensure_target_proxies(fleet_config(), REFERENCE_TARGET, s)
    with ExitStack() as stack:
        console.print("[bold]starting[/] reference target on 127.0.0.1:8080")
        target = start_reference_target(8080, log_dir)
        stack.callback(target.stop)
        for role in ROLES:
            console.print(f"[bold]starting[/] {role} worker")
            worker = start_worker(role, "demo", log_dir, env=DEMO_ENV)
            stack.callback(worker.stop)
        verdicts = []
        for scenario in load_suite(suite).scenarios:
            verdict, journal = run_and_report(scenario, None, console)
            verdicts.append(verdict)
            console.print(f"report: [bold]{journal}[/]")
        console.print("[bold]stopping[/] workers and reference target")
    console.print(f"demo finished in {time.monotonic() - started:.0f}s; logs in {log_dir}")
    return max((v.exit_code for v in verdicts), default=2)

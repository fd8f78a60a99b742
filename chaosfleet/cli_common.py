"""What every `chaosfleet` command shares: the console, errors, Redis, live run progress."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import redis
from rich.console import Console
from rich.live import Live
from rich.text import Text

from chaosfleet.report import make_console
from chaosfleet.runner.analysis import Verdict
from chaosfleet.runner.request import RunRequest
from chaosfleet.settings import get_settings

console = make_console()


def fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=5,
                                socket_connect_timeout=3)


def progress_line(p: dict[str, str]) -> Text:
    phase = p.get("phase", "queued")
    line = f"phase {phase}"
    if "elapsed" in p:
        line += (f" | t {p['elapsed']}s/{p.get('duration', '?')}s | {p.get('ops_per_s', 0)} ops/s"
                 f" | errors {float(p.get('error_rate', 0)):.0%} | ops {p.get('ops_total', 0)}")
    if p.get("active_faults"):
        line += f" | active: {p['active_faults']}"
    return Text(line)


def run_and_report(scenario: str, target: str | None, out: Console) -> tuple[Verdict, str]:
    """Trigger one run, show live progress, render its report."""
    from chaosfleet.trigger import prepare_run
    from workers.runtime import fleet_config

    request = prepare_run(scenario, fleet_config(), get_settings(), target)
    return follow_and_report(request, out)


def follow_and_report(request: RunRequest, out: Console) -> tuple[Verdict, str]:
    """Submit a prepared run, show live progress, render its report."""
    from chaosfleet.report import render
    from chaosfleet.trigger import follow_run, submit_run

    settings = get_settings()
    submit_run(request)
    out.print(f"run [bold]{request.run_id}[/]: scenario {request.scenario.name} "
              f"against {request.target_name}")
    with Live(Text("queued"), console=out, refresh_per_second=4, transient=True) as live:
        final = follow_run(request, redis_client(), settings,
                           lambda p: live.update(progress_line(p)))
    journal = final.get("journal", "")
    if journal and Path(journal).exists():
        render(json.loads(Path(journal).read_text()), out)
        out.print(f"report: {Path(journal).with_name('report.html')}")
    else:
        out.print(f"verdict {final.get('verdict')}: {final.get('reason')}")
    return Verdict(final.get("verdict", "error")), journal

"""What every `chaosfleet` command shares: the console, errors and exit codes, Redis,
live run progress, and Ctrl-C handling while a run is followed."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from chaosfleet.cli.interrupts import Interrupts
from chaosfleet.core.errors import ChaosfleetError, ConfigError
from chaosfleet.core.exitcodes import ExitCode, exit_code_for
from chaosfleet.core.settings import get_settings
from chaosfleet.reports.terminal import make_console

if TYPE_CHECKING:  # the runner's models load pydantic and the fault library: not at startup
    from chaosfleet.fleet import Fleet
    from chaosfleet.runner.analysis import Verdict
    from chaosfleet.runner.request import RunRequest

console = make_console()


@dataclass(frozen=True)
class Followed:
    """What a followed run ended with."""

    run_id: str
    verdict: Verdict
    reason: str
    journal: str  # "" when the run wrote none
OUTPUT = click.option("--output", type=click.Choice(["text", "json"]), default="text",
                      show_default=True,
                      help="json: print the verdict as one JSON object on stdout "
                           "(progress and the report go to stderr)")
PLAIN_EVERY = 5.0  # seconds between progress lines when stdout is not a terminal


def fail(message: str | BaseException, code: int | None = None) -> NoReturn:
    """Print the error (user text is never read as Rich markup) and exit: 3 for bad
    input or configuration, 2 for a harness error, unless `code` says otherwise."""
    if code is None:
        code = exit_code_for(message) if isinstance(message, BaseException) else \
            ExitCode.HARNESS_ERROR
    console.print(Text.assemble(("error: ", "red"), str(message)), highlight=False,
                  soft_wrap=True)
    sys.exit(code)


@lru_cache(maxsize=1)
def fleet() -> Fleet:
    """This command's clients (Redis, catalogue, config, Celery), built once and only
    when first used: `chaosfleet --help` connects to nothing. It sends on the
    workers' own Celery app, so the process has one broker pool to reset when Redis
    restarts (chaosfleet/celery_app.py, reset_broker_connections)."""
    from chaosfleet.fleet import Fleet
    from workers.app import app

    built = Fleet(get_settings(), celery=app)
    built.install_clock()
    return built


def progress_line(p: dict[str, str]) -> Text:
    phase = p.get("phase", "queued")
    line = f"phase {phase}"
    if "elapsed" in p:
        line += (f" | t {p['elapsed']}s/{p.get('duration', '?')}s | {p.get('ops_per_s', 0)} ops/s"
                 f" | errors {float(p.get('error_rate', 0)):.0%} | ops {p.get('ops_total', 0)}")
    if p.get("active_faults"):
        line += f" | active: {p['active_faults']}"
    return Text(line)


class ProgressView:
    """Live progress that reads well anywhere: on a terminal a live view that
    redraws in place; in a pipe or a CI log (where a live view shows only its last
    frame) one plain line every PLAIN_EVERY seconds and at every change of `key`."""

    def __init__(self, out: Console, initial: RenderableType, transient: bool = False):
        self.out = out
        self.live = (Live(initial, console=out, refresh_per_second=4, transient=transient)
                     if out.is_terminal else None)
        self._key: str | None = None
        self._last = 0.0

    def __enter__(self) -> ProgressView:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.live:
            self.live.__exit__(None, None, None)

    def update(self, view: RenderableType, line: str, key: str) -> None:
        if self.live:
            self.live.update(view)
            return
        now = time.monotonic()
        if key != self._key or now - self._last >= PLAIN_EVERY:
            self._key, self._last = key, now
            self.out.print(Text(line), highlight=False, soft_wrap=True)


def run_and_report(scenario: str, target: str | None, out: Console,
                   interrupts: Interrupts | None = None) -> Followed:
    """Trigger one run, show live progress, render its report."""
    from chaosfleet.jobs.trigger import prepare_run
    request = prepare_run(scenario, fleet().config, get_settings(), target)
    return follow_and_report(request, out, interrupts)


def follow_and_report(request: RunRequest, out: Console,
                      interrupts: Interrupts | None = None) -> Followed:
    """Submit a prepared run, show live progress, render its report. After a Ctrl-C
    (`interrupts`) the run is cancelled and followed until its faults are reverted."""
    from chaosfleet.jobs.trigger import follow_run, submit_run
    from chaosfleet.reports.terminal import render
    from chaosfleet.runner.analysis import Verdict

    settings = get_settings()
    submit_run(fleet().celery, request)
    out.print(f"run [bold]{request.run_id}[/]: scenario {request.scenario.name} "
              f"against {request.target_name}")
    stop = interrupts.reason if interrupts else (lambda: None)
    with ProgressView(out, Text("queued"), transient=True) as view:
        final = follow_run(request, fleet().redis, settings,
                           lambda p: view.update(progress_line(p), progress_line(p).plain,
                                                 p.get("phase", "queued")), stop)
    journal = final.get("journal", "")
    local = bool(journal) and Path(journal).exists()
    doc = json.loads(Path(journal).read_text()) if local else stored_run_journal(request.run_id)
    if doc is not None:
        render(doc, out)
        out.print(f"report: {Path(journal).with_name('report.html')}" if local else
                  f"report: chaosfleet report {request.run_id} --html report.html "
                  "(the run's controller was on another host)")
        if interrupts and interrupts.received:
            say_reverted(doc, out)
    else:
        out.print(f"verdict {final.get('verdict')}: {final.get('reason')}")
    return Followed(request.run_id, Verdict(final.get("verdict") or "error"),
                    final.get("reason", ""), journal)


def stored_run_journal(run_id: str) -> dict[str, Any] | None:
    """A run's journal from the catalogue database, or None (none stored, or the
    database is unreachable: the verdict line still stands)."""
    from sqlalchemy.exc import SQLAlchemyError

    from catalogue.journals import load_journal

    try:
        found = load_journal(fleet().catalogue_engine, run_id)
    except (ChaosfleetError, SQLAlchemyError):
        return None
    return found[1] if found and found[0] == "run" else None


def find_journal(ref: str) -> tuple[str, dict[str, Any]]:
    """A journal by file path, or by run or suite id from the catalogue database,
    which holds every journal whatever host wrote it."""
    from catalogue.journals import load_journal
    from chaosfleet.reports.schemas import read_journal

    if Path(ref).is_file():
        return read_journal(Path(ref))
    if Path(ref).suffix == ".json" or "/" in ref:
        raise ConfigError(f"{ref}: no such journal file")
    found = load_journal(fleet().catalogue_engine, ref)
    if found is None:
        raise ConfigError(f"no journal file {ref!r}, and no run or suite {ref!r} in the "
                          "catalogue database")
    return found


def say_reverted(doc: dict[str, Any], out: Console) -> None:
    """After a cancel: which faults the run reverted, and when."""
    faults = [f for f in doc.get("faults", []) if f.get("applied_at")]
    if not faults:
        out.print("cancelled before any fault was applied: nothing to revert")
        return
    for f in faults:
        start = doc.get("started_at") or f["applied_at"]
        when = (f"{f['reverted_at'] - start:.1f}s into the run"
                if f.get("reverted_at") else "not confirmed: the janitor reverts it")
        out.print(Text(f"reverted {f.get('describe', f.get('type', 'fault'))}: {when}"),
                  highlight=False)


def exit_code_after(verdict: Verdict, interrupts: Interrupts) -> int:
    """130 after a Ctrl-C (whatever the verdict), else the verdict's code."""
    return ExitCode.INTERRUPTED if interrupts.received else verdict.exit_code


def print_verdict_json(run: Followed, interrupts: Interrupts) -> None:
    """`--output json`: one object on stdout, for a CI step to parse."""
    print(json.dumps({"run_id": run.run_id, "verdict": str(run.verdict), "reason": run.reason,
                      "journal": run.journal or None,
                      "report": str(Path(run.journal).with_name("report.html"))
                      if run.journal else None,
                      "interrupted": bool(interrupts.received),
                      "exit_code": exit_code_after(run.verdict, interrupts)}))

"""`chaosfleet suite`, `chaosfleet replay` and `chaosfleet trigger`: the on-demand entry points."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import redis
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from chaosfleet.cli.common import (
    OUTPUT,
    ProgressView,
    console,
    exit_code_after,
    fail,
    fleet,
    progress_line,
)
from chaosfleet.cli.interrupts import Interrupts
from chaosfleet.core.errors import ChaosfleetError
from chaosfleet.core.exitcodes import ExitCode
from chaosfleet.core.settings import get_settings
from chaosfleet.reports.terminal import add_plain_row

if TYPE_CHECKING:  # suites load the runner and the catalogue: only when a command needs them
    from chaosfleet.jobs.suites import RunResult
    from chaosfleet.runner.request import RunRequest

STYLE = {"passed": "green", "failed": "red", "aborted": "yellow", "error": "magenta",
         "skipped": "dim", "running": "cyan", "pending": "dim"}


def _plan_table(plan: list[dict]) -> Table:
    table = Table(title="plan (nothing was touched)", title_justify="left")
    for col in ("#", "scenario", "target", "traffic", "proxies", "fault timeline"):
        table.add_column(col, overflow="fold")
    for i, p in enumerate(plan, 1):
        timeline = "\n".join(f"{f['start']:g}s-{f['end']:g}s {f['fault']}" for f in p["faults"])
        add_plain_row(table, str(i), p["scenario"], f"{p['target']} ({p['endpoint']})",
                      f"{p['rate']:g} ops/s for {p['duration_s']:g}s",
                      ", ".join(p["proxies"]) or "-", timeline or "no faults")
    return table


class SuiteDisplay:
    """A live table: one row per scenario, the running one with its progress line."""

    def __init__(self, names: list[str]):
        self.names = names
        self.status = ["pending"] * len(names)
        self.detail = [""] * len(names)

    def render(self) -> Group:
        table = Table(show_header=True, expand=False)
        table.add_column("#")
        table.add_column("scenario")
        table.add_column("status")
        table.add_column("progress", overflow="fold", max_width=80)
        for i, name in enumerate(self.names):
            st = self.status[i]
            add_plain_row(table, str(i + 1), name, Text(st, style=STYLE.get(st, "")),
                          self.detail[i])
        done = sum(s not in ("pending", "running") for s in self.status)
        return Group(Text(f"{done} of {len(self.names)} scenarios done"), table)


@click.command()
@click.argument("name")
@click.option("--target", help="run every scenario against this configured target")
@click.option("--fail-fast", is_flag=True, help="skip the remaining scenarios after a failure")
@click.option("--dry-run", is_flag=True,
              help="validate everything and print the plan; touch nothing")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="write JUnit XML here")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the HTML report here")
@OUTPUT
def suite(name: str, target: str | None, fail_fast: bool, dry_run: bool, junit: Path | None,
          html: Path | None, output: str) -> None:
    """Run the suite NAME (smoke, nightly, pre-release, or a file) scenario by scenario.

    Exit code: 0 every scenario passed, 1 any failed or aborted, 2 harness error,
    3 invalid input (nothing ran), 130 interrupted (Ctrl-C cancels the current run,
    waits for its faults to be reverted and skips the rest).
    """
    from chaosfleet.jobs.suites import describe_plan, plan_suite, run_suite, write_suite_reports

    settings = get_settings()
    try:
        spec, requests = plan_suite(name, fleet().config, settings, target)
    except ChaosfleetError as exc:
        fail(exc)
        return
    if dry_run:
        console.print(f"suite [bold]{spec.name}[/]: {len(requests)} scenarios, "
                      f"{sum(r.scenario.traffic.duration for r in requests):g}s of traffic")
        console.print(_plan_table(describe_plan(requests)))
        console.print("[green]valid[/]: every scenario, target, proxy and allowlist entry checks")
        sys.exit(0)
    display = SuiteDisplay([r.scenario.name for r in requests])
    out = Console(stderr=True) if output == "json" else console

    with Interrupts() as interrupts:
        try:
            with ProgressView(out, display.render()) as view:
                def progress(i: int, req: RunRequest, p: dict[str, str]) -> None:
                    display.status[i] = "running"
                    display.detail[i] = progress_line(p).plain
                    view.update(display.render(),
                                f"[{i + 1}/{len(requests)}] {req.scenario.name}: "
                                f"{display.detail[i]}", f"{i}:{p.get('phase')}")

                def finished(result: RunResult) -> None:
                    i = display.status.index("running") if "running" in display.status else None
                    if i is not None:
                        display.status[i] = result.verdict
                        display.detail[i] = f"{result.wall_s:.0f}s: {result.reason}"[:300]
                    view.update(display.render(),
                                f"{result.scenario}: {result.verdict} ({display.detail[i or 0]})",
                                f"done:{result.scenario}")

                result = run_suite(spec, requests, fleet(), fail_fast=fail_fast,
                                   on_progress=progress, on_result=finished,
                                   stop_requested=interrupts.reason)
        except (ChaosfleetError, redis.RedisError) as exc:
            fail(f"suite {spec.name} could not run: {exc}")
    paths = write_suite_reports(Path(result.report_dir or "."), junit, html,
                                fleet().catalogue_engine)
    colour = STYLE.get(str(result.verdict), "")
    out.print(Text.assemble((str(result.verdict).upper(), f"bold {colour}"),
                            f" suite {spec.name}: {result.reason} ({result.wall_s:.0f}s)"))
    for label, path in paths.items():
        out.print(f"{label}: {path}", highlight=False)
    code = exit_code_after(result.verdict, interrupts)
    if output == "json":
        print(json.dumps({"suite_id": result.suite_id, "verdict": str(result.verdict),
                          "reason": result.reason, "interrupted": bool(interrupts.received),
                          "exit_code": code, **{k.replace(" ", "_"): str(v)
                                                for k, v in paths.items()}}))
    sys.exit(code)


@click.command()
@click.argument("run_id")
def replay(run_id: str) -> None:
    """Re-run the recorded run RUN_ID: same scenario, seed, traffic mix and fault timeline.

    The target must still be on the allowlist. Exit codes as `chaosfleet run`.
    """
    from chaosfleet.cli.common import follow_and_report
    from chaosfleet.jobs.trigger import prepare_replay

    with Interrupts() as interrupts:
        try:
            request = prepare_replay(fleet().catalogue_engine, run_id, fleet().config,
                                     get_settings())
            followed = follow_and_report(request, console, interrupts)
        except ChaosfleetError as exc:
            fail(exc)
        except redis.RedisError as exc:
            fail(f"redis at {get_settings().redis_url} is unreachable: {exc}")
    sys.exit(exit_code_after(followed.verdict, interrupts))


@click.command()
@click.argument("entry", required=False)
def trigger(entry: str | None) -> None:
    """Fire the beat entry ENTRY now (without ENTRY: list the entries)."""
    from beat_schedule import build_beat_schedule
    from workers.beat import fire_entry_now

    settings = get_settings()
    schedule = build_beat_schedule(settings)
    if entry is None:
        for name, spec in schedule.items():
            console.print(f"[bold]{name}[/]: {spec['task']} every {spec['schedule']}")
        return
    try:
        task_id = fire_entry_now(entry, schedule, settings)
    except KeyError:
        fail(f"no beat entry named {entry!r} (entries: {', '.join(schedule)})", ExitCode.INVALID)
        return
    console.print(f"fired {entry}: task {task_id}")

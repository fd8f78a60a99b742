"""The `chaosfleet` command line. Each command is a thin shell over one module;
helpers shared with the command groups live in chaosfleet/cli/common.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
import redis
from rich.console import Console
from rich.text import Text

from chaosfleet.cli.common import (
    OUTPUT,
    console,
    exit_code_after,
    fail,
    fleet,
    print_verdict_json,
    run_and_report,
)
from chaosfleet.cli.interrupts import Interrupts
from chaosfleet.core.errors import ChaosfleetError
from chaosfleet.core.exitcodes import ExitCode
from chaosfleet.core.settings import get_settings, unknown_variables
from chaosfleet.reports.terminal import add_plain_row

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@click.group()
@click.version_option(package_name="chaosfleet")
def main() -> None:
    """Synthetic traffic and chaos injection on a Celery fleet.

    Exit codes: 0 passed, 1 failed or aborted, 2 harness error, 3 invalid input or
    configuration (nothing ran), 130 interrupted.
    """
    for warning in unknown_variables():
        click.echo(f"warning: {warning}", err=True)
    try:
        get_settings()
    except ChaosfleetError as exc:
        fail(exc)


@main.command()
@click.argument("scenario")
@click.option("--target", help="run against this configured target instead of the scenario's")
@OUTPUT
def run(scenario: str, target: str | None, output: str) -> None:
    """Run SCENARIO (a file, or a name from the built-in library) and report.

    Exit code: 0 passed, 1 failed or aborted, 2 harness error, 3 invalid input,
    130 interrupted (Ctrl-C cancels the run and waits for its faults to be reverted).
    """
    out = Console(stderr=True) if output == "json" else console
    with Interrupts() as interrupts:
        try:
            followed = run_and_report(scenario, target, out, interrupts)
        except ChaosfleetError as exc:
            fail(exc)
        except redis.RedisError as exc:
            fail(f"redis at {get_settings().redis_url} is unreachable: {exc}")
    if output == "json":
        print_verdict_json(followed, interrupts)
    sys.exit(exit_code_after(followed.verdict, interrupts))


@main.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Validate scenario files (and their targets) without running anything.

    Exit code: 0 all valid, 3 any invalid.
    """
    from scenarios.loader import check_against_target, load_scenario

    bad = 0
    for ref in files:
        try:
            scenario = load_scenario(ref)
            check_against_target(scenario, fleet().config.target(scenario.target))
            console.print(Text.assemble(("ok", "green"), f" {ref}: {scenario.name}"))
        except ChaosfleetError as exc:
            bad += 1
            console.print(Text.assemble(("invalid", "red"), f" {exc}"), highlight=False,
                          soft_wrap=True)
    sys.exit(ExitCode.INVALID if bad else ExitCode.PASSED)


@main.command()
@click.argument("name")
@click.option("--base-url", required=True, help="the service's base URL, e.g. http://127.0.0.1:8000")
@click.option("--openapi", help="its OpenAPI (or Swagger 2) document: a URL or a file")
@click.option("--proxy", "proxies", multiple=True, metavar="NAME=LISTEN,UPSTREAM",
              help="a Toxiproxy proxy in front of a dependency, e.g. "
                   "app-db=127.0.0.1:25499,127.0.0.1:5432 (repeatable)")
@click.option("--auth-env", help="environment variable holding the value of its auth header")
@click.option("--auth-scheme", help="scheme before that value, e.g. Bearer")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="folder to write into [default: ./chaosfleet-NAME]")
def init(name: str, base_url: str, openapi: str | None, proxies: tuple[str, ...],
         auth_env: str | None, auth_scheme: str | None, out: Path | None) -> None:
    """Write a starter fleet config and suite for your own HTTP service NAME."""
    from chaosfleet.cli.starter import load_document, parse_proxy, write_starter

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
        fail(f"NAME {name!r}: lower-case letters, digits, '-' and '_' (at most 64)", 3)
    try:
        doc = load_document(openapi) if openapi else None
        written = write_starter(out or Path(f"chaosfleet-{name}"), name, base_url, doc,
                                dict(parse_proxy(p) for p in proxies), auth_env, auth_scheme)
    except ChaosfleetError as exc:
        fail(str(exc), 3)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    folder = written[0].parent
    console.print(f"next: CHAOSFLEET_CONFIG_PATH={folder / 'fleet.yaml'} chaosfleet suite "
                  f"{folder / 'suite.yaml'} --dry-run" if len(written) > 1 else
                  "next: declare a proxy (--proxy) in front of a dependency to get scenarios",
                  highlight=False, soft_wrap=True)


@main.command()
@click.option("--suite", default="smoke", show_default=True)
def demo(suite: str) -> None:
    """Run a built-in suite against the bundled reference target, starting what it needs."""
    from chaosfleet.cli.demo import run_demo

    with Interrupts() as interrupts:
        try:
            code = run_demo(suite, console, interrupts.reason)
        except (ChaosfleetError, TimeoutError, RuntimeError) as exc:
            fail(exc)
    sys.exit(ExitCode.INTERRUPTED if interrupts.received else code)


@main.command()
@click.option("--role", type=click.Choice(["control", "traffic", "faults"]), required=True)
@click.option("--concurrency", "-c", type=int, help="worker processes (role default if unset)")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(role: str, concurrency: int | None, loglevel: str) -> None:
    """Start a fleet worker for one role (a `celery worker` with the role's presets)."""
    from chaosfleet.cli.procs import worker_command

    cmd = worker_command(role, str(os.getpid()), concurrency, loglevel)
    os.execv(cmd[0], cmd)


@main.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Start Celery beat with the fleet's schedule (nightly suite, janitor, warnings).

    Any number may run: one holds the scheduler lock, the others wait to take over.
    """
    cmd = [sys.executable, "-m", "celery", "-A", "workers", "beat", "-l", loglevel,
           f"--pidfile={Path(get_settings().state_dir).resolve() / f'beat-{os.getpid()}.pid'}"]
    Path(get_settings().state_dir).mkdir(parents=True, exist_ok=True)
    os.execv(cmd[0], cmd)


@main.command("workers")
@click.option("--here", is_flag=True,
              help="exit 1 unless a worker on this host has announced itself (a health check)")
@click.option("--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def workers_cmd(here: bool, output: str) -> None:
    """The fleet's workers on every host, as each announces itself every second: its
    queues, pool processes, the hash of the fleet config it loaded, its clock skew."""
    import socket

    from rich.table import Table

    try:
        found = fleet().workers()
    except redis.RedisError as exc:
        fail(exc)
    if here:
        found = [w for w in found if w.host == socket.gethostname()]
        if not found:
            console.print(f"no worker on {socket.gethostname()} has announced itself")
            sys.exit(1)
    if output == "json":
        print(json.dumps([w.model_dump(mode="json") for w in found]))
        return
    table = Table("node", "host", "queues", "processes", "config", "skew")
    for w in found:
        add_plain_row(table, w.node, w.host, ",".join(w.queues), str(w.concurrency),
                      w.config_hash, "-" if w.skew is None else f"{w.skew:+.2f}s")
    console.print(table)
    hashes = {w.config_hash for w in found}
    console.print(f"{len(found)} worker(s) on {len({w.host for w in found})} host(s)"
                  + ("; they disagree on the fleet config: a run refuses to start"
                     if len(hashes) > 1 else ""))


@main.command()
def janitor() -> None:
    """Run the lease janitor alone (every worker also runs one)."""
    from workers.janitor import run_janitor

    console.print(f"janitor: reverting expired leases every {get_settings().janitor_period:g}s")
    with contextlib.suppress(KeyboardInterrupt):
        run_janitor(fleet(), threading.Event(), get_settings().janitor_period)


@main.command()
@click.option("--reason", default="operator kill switch", show_default=True)
@click.option("--release", is_flag=True, help="turn the kill switch off again")
def halt(reason: str, release: bool) -> None:
    """Kill switch: revert every active fault and stop every run."""
    control = fleet().faults
    try:
        if release:
            control.release_kill_switch()
            console.print("kill switch released: faults may be applied again")
            return
        reverted = control.engage_kill_switch(reason, fleet().config.allowlist.proxies)
    except (ChaosfleetError, redis.RedisError) as exc:
        fail(f"kill switch incomplete: {exc}")
    console.print(f"kill switch engaged: {reverted} fault(s) reverted; runs will stop")


@main.command()
@click.argument("ident", metavar="RUN_ID|SUITE_ID")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="wait (bounded) until the run has ended and its faults are reverted")
def cancel(ident: str, wait: bool) -> None:
    """Cancel a run or a suite: it stops, reverts its faults and ends `aborted`.

    Exit code: 0 cancelled, 2 it did not end in time, 3 no such active run or suite.
    """
    from chaosfleet.jobs.cancel import cancel as request_cancel
    from chaosfleet.jobs.cancel import wait_until_ended

    settings = get_settings()
    client = fleet().redis
    try:
        done = request_cancel(client, settings.key_prefix, ident, "cancelled by the operator")
        console.print(f"cancel requested for {done.kind} {ident} (was {done.phase})",
                      highlight=False)
        if wait:
            verdict, reason = wait_until_ended(client, settings.key_prefix, done)
            console.print(Text(f"{done.kind} {ident} ended {verdict}: {reason}"), highlight=False)
    except ChaosfleetError as exc:
        fail(exc)
    except redis.RedisError as exc:
        fail(f"redis at {settings.redis_url} is unreachable: {exc}")


@main.command()
@click.argument("target", default="reference")
def proxies(target: str) -> None:
    """Create the Toxiproxy proxies TARGET declares (allowlisted ones only)."""
    from faults.proxies import ensure_target_proxies

    try:
        ready = ensure_target_proxies(fleet().config, target, get_settings())
    except ChaosfleetError as exc:
        fail(exc)
    console.print(f"proxies ready for {target}: {', '.join(ready) or 'none'}")


def _dlq_filter_options(fn: Callable[..., None]) -> Callable[..., None]:
    for opt in reversed([
        click.option("--run", "run_id", help="only this run"),
        click.option("--scenario", help="only this scenario"),
        click.option("--error-class", help="only this error class, e.g. http_503"),
        click.option("--since", help="ISO time, e.g. 2026-11-22T06:00:00+00:00"),
        click.option("--until", help="ISO time"),
    ]):
        fn = opt(fn)
    return fn


def _catalogue() -> Engine:

    return fleet().catalogue_engine


@main.group()
def dlq() -> None:
    """The dead-letter queue: operations that failed permanently."""


@dlq.command("list")
@_dlq_filter_options
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def dlq_list(limit: int, **filters: str | None) -> None:
    """List dead letters, oldest first."""
    from rich.table import Table

    from catalogue.dlq import list_dead_letters, parse_filter

    try:
        letters = list_dead_letters(_catalogue(), parse_filter(**filters), limit=limit)
    except ChaosfleetError as exc:
        fail(exc)
    table = Table("id", "run", "operation", "error", "created", "replay")
    for d in letters:
        add_plain_row(table, d.id, d.run_id, d.operation, d.error_class,
                      d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      f"{d.replay_outcome} (x{d.replay_count})" if d.replay_count else "-")
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@dlq.command("show")
@click.argument("letter_id")
def dlq_show(letter_id: str) -> None:
    """Show one dead letter and its error envelope."""
    from catalogue.dlq import show_dead_letter

    try:
        letter, envelope = show_dead_letter(_catalogue(), letter_id)
    except ChaosfleetError as exc:
        fail(exc)
    console.print_json(envelope.model_dump_json())
    console.print(f"replayed {letter.replay_count} time(s); last outcome: "
                  f"{letter.replay_outcome or '-'}")


@dlq.command("replay")
@_dlq_filter_options
@click.option("--id", "ids", multiple=True, help="only these dead letters")
@click.option("--force", is_flag=True, help="replay letters already replayed successfully")
def dlq_replay(ids: tuple[str, ...], force: bool, **filters: str | None) -> None:
    """Re-send dead letters (same idempotency key, new replay id).

    Exit code 0 when every replay succeeded, 1 otherwise.
    """
    from catalogue.dlq import parse_filter
    from chaosfleet.runner.replay import replay_dead_letters

    try:
        summary = replay_dead_letters(_catalogue(), parse_filter(**filters), list(ids), force)
    except ChaosfleetError as exc:
        fail(exc)
    console.print(f"replayed {summary.replayed}: {summary.ok} ok, {summary.failed} failed; "
                  f"{summary.skipped} skipped (already replayed)")
    sys.exit(1 if summary.failed else 0)


@dlq.command("purge")
@_dlq_filter_options
@click.option("--all", "everything", is_flag=True, help="allow an empty filter")
@click.option("--yes", is_flag=True, help="delete; without it, only count")
def dlq_purge(everything: bool, yes: bool, **filters: str | None) -> None:
    """Delete dead letters; without --yes it only says how many would go."""
    from catalogue.dlq import parse_filter, purge_dead_letters

    try:
        n = purge_dead_letters(_catalogue(), parse_filter(**filters), dry_run=not yes,
                               everything=everything)
    except ChaosfleetError as exc:
        fail(exc)
    console.print(f"purged {n} dead letter(s)" if yes else
                  f"{n} dead letter(s) would be purged; add --yes to delete them")


@main.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    from scenarios.loader import list_library, load_scenario

    for name in list_library():
        console.print(f"[bold]{name}[/]: {load_scenario(name).description.strip()}")


@main.command()
@click.argument("journal", metavar="JOURNAL|RUN_ID|SUITE_ID")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path),
              help="write the HTML report here instead")
def report(journal: str, html: Path | None) -> None:
    """Render a run journal (journal.json) or a suite journal (suite.json) in the
    terminal, or as HTML. Given a run or suite id instead of a file, the journal
    comes from the catalogue database, from any host. It is validated first."""
    from sqlalchemy.exc import SQLAlchemyError

    from chaosfleet.cli.common import find_journal, fleet
    from chaosfleet.jobs.suites import load_run_journals
    from chaosfleet.reports.html import render_run_html, render_suite_html, write_html
    from chaosfleet.reports.terminal import render, render_suite

    try:
        kind, doc = find_journal(journal)
        journals = []
        if kind == "suite":  # runs whose journal this host lacks come from the database
            elsewhere = any(r.get("journal") and not Path(r["journal"]).is_file()
                            for r in doc["runs"])
            journals = load_run_journals(doc, fleet().catalogue_engine if elsewhere else None)
    except (ChaosfleetError, SQLAlchemyError) as exc:
        fail(exc)
    if html:
        page = render_run_html(doc) if kind == "run" else render_suite_html(doc, journals)
        console.print(f"wrote {write_html(html, page)}", highlight=False)
    elif kind == "run":
        render(doc, console)
    else:
        render_suite(doc, journals, console)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=click.IntRange(1, 65535))
def api(host: str, port: int) -> None:
    """Serve the HTTP API: triggers, status, cancel, catalogue, /metrics.

    Needs CHAOSFLEET_API_TOKEN or CHAOSFLEET_API_TOKENS (named tokens, 16+
    characters each); every request carries one as a bearer token, and the access
    log names its caller. Runs and suites it starts need control workers (2+
    processes).
    """
    import uvicorn

    from catalogue.modes import load_catalogue
    from chaosfleet.api.app import create_app
    from chaosfleet.core.logs import configure as configure_logging

    settings = get_settings()
    try:
        app = create_app(_catalogue(), settings.named_tokens(),
                         load_catalogue(settings.catalogue_path), fleet())
    except (ValueError, ChaosfleetError) as exc:
        fail(exc)
        return
    configure_logging(settings.log_format)
    # uvicorn's own access log names no caller: the API writes its own
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, log_config=None)


@main.command()
@click.argument("kind", type=click.Choice(["run", "suite"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of a run journal or a suite journal (see docs/journal.md)."""
    from chaosfleet.reports.schemas import SCHEMAS

    click.echo(json.dumps(SCHEMAS[kind].model_json_schema(by_alias=True), indent=2))


def _register_groups() -> None:
    from chaosfleet.cli.catalogue import catalogue
    from chaosfleet.cli.suite import replay, suite, trigger

    for command in (catalogue, suite, replay, trigger):
        main.add_command(command)


_register_groups()


if __name__ == "__main__":
    main()

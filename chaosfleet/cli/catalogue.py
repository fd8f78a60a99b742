"""`chaosfleet catalogue ...`: the failure catalogue from the command line.
Each command is a thin shell over catalogue/failures.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from chaosfleet.core.errors import ChaosfleetError, ConfigError
from chaosfleet.reports.terminal import add_plain_row


def _engine() -> Any:
    from chaosfleet.cli.common import fleet

    return fleet().catalogue_engine


def _console() -> Any:
    from chaosfleet.cli.common import console

    return console


def _fail(message: str | BaseException) -> None:
    from chaosfleet.cli.common import fail

    fail(message)


def _filter_options(fn: Any) -> Any:
    for opt in reversed([
        click.option("--run", "run_id", help="only this run"),
        click.option("--code", "error_code", help="only this error code, e.g. unavailable"),
        click.option("--mode", "mode_id", help="only this catalogue entry (failure mode id)"),
        click.option("--category", help="only this category, e.g. dependency"),
        click.option("--severity", help="only this severity"),
        click.option("--status", type=click.Choice(["all", "recovered", "unrecovered"]),
                     default="all", show_default=True),
        click.option("--since", help="ISO time, e.g. 2026-11-22T06:00:00+00:00"),
        click.option("--until", help="ISO time"),
    ]):
        fn = opt(fn)
    return fn


@click.group("catalogue")
def catalogue() -> None:
    """The failure catalogue: known failure modes and every failure matched to them."""


@catalogue.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def validate_cmd(path: Path | None) -> None:
    """Check a catalogue file (default: the configured one) and list its modes."""
    from catalogue.modes import load_catalogue
    from chaosfleet.core.settings import get_settings

    try:
        cat = load_catalogue(path or get_settings().catalogue_path)
    except ChaosfleetError as exc:
        _fail(exc)
        return
    table = Table("id", "category", "severity", "defect", "recovery")
    for m in cat.modes:
        add_plain_row(table, m.id, str(m.category), str(m.severity), "yes" if m.defect else "no",
                      str(m.recovery_mode))
    _console().print(table)
    _console().print(f"catalogue version {cat.version}: {len(cat.modes)} failure modes, valid")


@catalogue.command("list")
@_filter_options
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
def list_cmd(limit: int, offset: int, **filters: Any) -> None:
    """List recorded failures with their match, newest first."""
    from catalogue.failures import list_failures, parse_failure_filter

    try:
        rows = list_failures(_engine(), parse_failure_filter(limit=limit, offset=offset,
                                                             **filters))
    except ChaosfleetError as exc:
        _fail(exc)
        return
    table = Table("id", "run", "code", "mode", "match", "recovered", "when")
    for r in rows:
        add_plain_row(table, r["id"][:8], r["run_id"], r["error_code"], r["mode_id"] or "(miss)",
                      f"{r['match_type']} {r['confidence']:.2f}",
                      {True: "yes", False: "no", None: "-"}[r["recovered"]],
                      r["occurred_at"][:19])
    _console().print(table)
    _console().print(f"{len(rows)} failure(s)")


@catalogue.command("show")
@click.argument("failure_id")
def show_cmd(failure_id: str) -> None:
    """One failure, with its match and recovery."""
    from catalogue.failures import get_failure

    try:
        _console().print_json(json.dumps(get_failure(_engine(), failure_id)))
    except ChaosfleetError as exc:
        _fail(exc)


@catalogue.command("update")
@click.argument("failure_id")
@click.option("--recovered/--unrecovered", required=True)
@click.option("--notes", default="")
@click.option("--by", default="operator", show_default=True)
def update_cmd(failure_id: str, recovered: bool, notes: str, by: str) -> None:
    """Record an operator's word on a failure's recovery."""
    from pydantic import ValidationError

    from catalogue.failures import RecoveryUpdate, update_recovery

    try:
        row = update_recovery(_engine(), failure_id,
                              RecoveryUpdate(recovered=recovered, notes=notes, by=by))
    except ValidationError as exc:
        _fail(ConfigError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                    for e in exc.errors())))
        return
    except ChaosfleetError as exc:
        _fail(exc)
        return
    _console().print(f"failure {row['id']}: recovered={row['recovered']} by {row['recovered_by']}")


@catalogue.command("stats")
@_filter_options
def stats_cmd(**filters: Any) -> None:
    """Counts by mode, category, severity, match type and recovery."""
    from catalogue.failures import failure_stats, parse_failure_filter
    from catalogue.recording import read_counters
    from chaosfleet.cli.common import fleet
    from chaosfleet.core.settings import get_settings

    try:
        stats = failure_stats(_engine(), parse_failure_filter(**filters))
    except ChaosfleetError as exc:
        _fail(exc)
        return
    try:  # the recorders' own counters: spooled, backfilled, dropped
        stats["recording"] = read_counters(fleet().redis, get_settings().key_prefix)
    except Exception as exc:
        stats["recording"] = f"unavailable: {exc}"
    _console().print_json(json.dumps(stats, default=str))


@catalogue.command("unrecovered")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def unrecovered_cmd(limit: int) -> None:
    """Failures needing attention: recovery failed, or a defect (last 7 days)."""
    from catalogue.failures import unrecovered

    rows = unrecovered(_engine(), limit=limit)
    table = Table("id", "run", "mode", "severity", "by", "when")
    for r in rows:
        add_plain_row(table, r["id"][:8], r["run_id"], r["mode_id"] or "(miss)",
                      r["severity"] or "-", r["recovered_by"] or "-", r["occurred_at"][:19])
    _console().print(table)
    _console().print(f"{len(rows)} failure(s) need attention")


@catalogue.command("misses")
@click.option("--run", "run_id", help="only this run")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def misses_cmd(run_id: str | None, limit: int) -> None:
    """Failures no catalogue entry knows, grouped by normalised signature."""
    from catalogue.failures import list_misses

    rows = list_misses(_engine(), run_id=run_id, limit=limit)
    table = Table("signature", "code", "status", "message", "seen", "runs", "last")
    for m in rows:
        add_plain_row(table, m["signature"], m["error_code"], str(m["http_status"] or "-"),
                      m["message"][:60], str(m["occurrences"]), str(m["runs"]),
                      m["last_seen"][:19])
    _console().print(table)
    _console().print(f"{len(rows)} miss group(s); draft an entry with "
                     "`chaosfleet catalogue propose <signature>`")


@catalogue.command("propose")
@click.argument("signature")
def propose_cmd(signature: str) -> None:
    """Draft a catalogue entry (YAML) for a group of misses; fill in the TODOs."""
    from catalogue.failures import propose

    try:
        click.echo(propose(_engine(), signature))
    except ChaosfleetError as exc:
        _fail(exc)


@catalogue.command("warnings")
@click.option("--evaluate", "evaluate_now", is_flag=True,
              help="evaluate the indicators now (what the beat entry does) before listing")
def warnings_cmd(evaluate_now: bool) -> None:
    """Early warnings: indicators at warning or critical, with their trend."""
    from catalogue.modes import load_catalogue
    from catalogue.warnings import current_warnings, evaluate
    from chaosfleet.core.settings import get_settings

    engine = _engine()
    if evaluate_now:
        settings = get_settings()
        evaluate(engine, load_catalogue(settings.catalogue_path), settings.warning_window)
    rows = current_warnings(engine)
    table = Table("level", "mode", "metric", "value", "threshold", "trend", "action")
    for w in rows:
        trend = " ".join(f"{v:g}" for v in w["trend"][-5:]) + (" ↑" if w["rising"] else "")
        add_plain_row(table, w["level"], w["mode_id"], w["metric"], f"{w['value']:g}",
                      f"{w['threshold']:g}", trend, w["action"])
    _console().print(table)
    _console().print(f"{len(rows)} early warning(s)")


@catalogue.command("export")
@_filter_options
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(10, 100_000))
def export_cmd(batch: int, **filters: Any) -> None:
    """Every matching failure as JSON lines on stdout, fetched in batches, with
    progress on stderr (for ranges too large for `list`)."""
    from rich.console import Console
    from rich.progress import Progress

    from catalogue.failures import count_failures, iter_failures, parse_failure_filter

    try:
        flt = parse_failure_filter(**filters)
        engine = _engine()
        total = count_failures(engine, flt)
    except ChaosfleetError as exc:
        _fail(exc)
        return
    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task("exporting failures", total=total)
        for row in iter_failures(engine, flt, batch,
                                 lambda n: bar.update(task, completed=n)):
            click.echo(json.dumps(row, default=str))


@catalogue.command("backfill")
@click.option("--spool", "spool_dir", type=click.Path(file_okay=False, path_type=Path),
              help="the spool directory (CHAOSFLEET_SPOOL by default)")
def backfill_cmd(spool_dir: Path | None) -> None:
    """Write the records this host's spool holds to the catalogue database now: those
    left by processes that died, or by this host while it was cut off. A run that
    ended naming this host's spooled records is balanced by this."""
    from sqlalchemy.exc import SQLAlchemyError

    from catalogue.recording import Batch, Counters, Spool, batch_size, write_batch
    from chaosfleet.cli.common import fleet
    from chaosfleet.core.errors import HarnessError

    settings = fleet().settings
    spool = Spool(spool_dir or settings.spool_dir)
    spool.recover_claims()
    counters = Counters(fleet().redis, settings.key_prefix)
    written = {"files": 0, "records": 0}

    def count(batches: list[Batch]) -> None:
        written["files"] += 1
        for batch in batches:
            written["records"] += batch_size(batch)
            counters.add(batch, "backfilled")  # Redis down: logged, the records are in

    engine = _engine()
    try:
        spool.drain(lambda batch: write_batch(engine, batch), count)
    except SQLAlchemyError as exc:
        _fail(HarnessError(f"the catalogue database refused a batch after "
                           f"{written['records']} records: {exc}; the rest stay spooled"))
        return
    everything = spool.directory.glob("*.jsonl") if spool.directory.is_dir() else []
    left = len([p for p in everything if p.exists()])
    _console().print(f"backfilled {written['records']} records from {written['files']} spool "
                     f"file(s) in {spool.directory}"
                     + (f"; {left} file(s) belong to processes still running" if left else ""),
                     highlight=False)

"""Render a run journal for a person: verdict first, then why, then the timeline."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from chaosfleet.reports import rates
from chaosfleet.reports.rates import fault_span

BARS = " ▁▂▃▄▅▆▇█"
COLOURS = {"passed": "green", "failed": "red", "aborted": "yellow", "error": "magenta"}


NOT_SENT_MARK = "·"  # a second in which nothing was sent: no rate, not 0 %


def _spark(values: list[float | None]) -> str:
    return "".join(NOT_SENT_MARK if v is None else BARS[min(8, round(v * 8))] for v in values)


def _fault_marks(doc: dict[str, Any], length: int) -> str:
    marks = [" "] * length
    for fault in doc["faults"]:
        start, end = fault_span(fault)
        for t in range(int(start), min(length, int(end) + 1)):
            marks[t] = str(fault["index"])
    return "".join(marks)


def add_plain_row(table: Table, *cells: str | Text) -> None:
    """A table row whose text is shown as written: a name or a target's error text
    such as `[/]` or `[bold]` is never read as Rich markup."""
    table.add_row(*(c if isinstance(c, Text) else Text(c) for c in cells))


def make_console() -> Console:
    """The terminal's width, or 110 columns when writing to a log or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=110)


def render(doc: dict[str, Any], console: Console | None = None) -> None:
    console = console or make_console()
    verdict = doc["verdict"]
    colour = COLOURS.get(verdict, "white")
    head = Text.assemble((f" {verdict.upper()} ", f"bold white on {colour}"),
                         f"  {doc['scenario']['name']} against {doc['scenario']['target']}"
                         f"  (run {doc['run_id']}, seed {doc['scenario']['seed']})")
    failed = [c for c in doc["checks"] if not c["passed"]]
    reason = (f"{len(failed)} of {len(doc['checks'])} checks failed"
              if verdict == "failed" and failed else doc["reason"])
    parts: list[Any] = [head, Text(reason, style=colour)]

    totals = doc["totals"]
    line = "operations: " + ", ".join(f"{k} {v}" for k, v in totals.items())
    line += (f"; error rate {rates.format_rate(rates.error_rate(totals), 1)} (errors and "
             f"timeouts / sent), rejected {rates.format_rate(rates.rejected_rate(totals), 1)}")
    if doc.get("not_sent"):
        line += f"; not sent (concurrency limit) {doc['not_sent']}"
    parts.append(Text(line))
    if replay := doc.get("replay"):
        parts.append(Text(f"dead letters replayed: {replay['ok']} of {replay['replayed']} ok"))
    if effects := doc.get("effects"):
        parts.append(Text(f"effects on the target: {effects['rows']} for {effects['keys']} "
                          f"operations ({effects['duplicates']} duplicates)",
                          style="red" if effects["duplicates"] else ""))
    if ledger := doc.get("ledger"):
        style = "red" if ledger.get("lost") else ""
        parts.append(Text("ledger: " + ", ".join(f"{k} {v}" for k, v in ledger.items()),
                          style=style))

    if doc["faults"]:
        faults = Table(title="faults", title_justify="left", expand=False)
        for col in ("#", "fault", "applied - reverted", "error rate", "rejected", "p95",
                    "time to recover", "probes ok after", "reverted by"):
            faults.add_column(col, overflow="fold", min_width=30 if col == "fault" else None)
        for f in doc["faults"]:
            ttr = f["time_to_recover_s"]
            prr = f["probe_recovery_s"]
            start, end = fault_span(f)
            add_plain_row(
                faults, str(f["index"]), f["describe"], f"{start:.1f}s - {end:.1f}s",
                rates.format_rate(f["error_rate"]), rates.format_rate(f.get("rejected_rate")),
                rates.format_ms(f["p95_ms"], doc.get("deadline_ms")),
                f"{ttr:.1f}s" if ttr is not None else "not recovered",
                f"{prr:.1f}s" if prr is not None else "never",
                f["reverted_by"] or "-",
            )
        parts.append(faults)

    timeline = doc["timeline"]
    if timeline:
        errors = [rates.error_rate(sec) for sec in timeline]
        ops = [rates.sent(sec) for sec in timeline]
        peak = max(ops) or 1
        parts.append(Text(
            f"per second (t = 0 at traffic start; digits mark fault windows as applied; "
            f"{NOT_SENT_MARK} nothing sent)\n"
            f"  ops/s  {_spark([o / peak for o in ops])}  peak {peak}/s\n"
            f"  errors {_spark(errors)}  peak "
            f"{rates.format_rate(max((e for e in errors if e is not None), default=None))}\n"
            f"  faults {_fault_marks(doc, len(timeline))}"))

    if doc["checks"]:
        checks = Table(title="checks", title_justify="left")
        checks.add_column("")
        checks.add_column("check")
        checks.add_column("measured")
        for c in doc["checks"]:
            add_plain_row(checks, Text("✓", style="green") if c["passed"] else
                          Text("✗", style="red"), c["name"], c["detail"])
        parts.append(checks)
    for row in (doc.get("malformed") or {}).get("fields", []):
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(row["verdicts"].items()))
        parts.append(Text(f"malformed input at {row['field']}: {verdicts}", style="red"))
        for c in row["crashed"]:
            parts.append(Text(f"  crashed by {c['detail']}; send again: {c['reproducer'][:200]}"))
        for a in row["accepted"][:1]:
            parts.append(Text(f"  accepted {a['detail']}; sent: {a['reproducer'][:200]}"))
    if doc["errors"]:
        parts.append(Text("errors by class: " + ", ".join(
            f"{k} {v}" for k, v in list(doc["errors"].items())[:8])))
    if catalogue := doc.get("catalogue"):
        modes = sorted(catalogue["by_mode"].items(), key=lambda kv: -kv[1])
        misses = sum(m["occurrences"] for m in catalogue["misses"])
        parts.append(Text("failure catalogue: " + (", ".join(f"{k} {v}" for k, v in modes)
                                                   or "no failures")
                          + (f"; {misses} unmatched (see `chaosfleet catalogue misses`)"
                             if misses else "; no misses")))
    for note in doc.get("notes", []):
        parts.append(Text(f"note: {note}", style="yellow"))
    console.print(Panel(Group(*parts), title="chaosfleet run report", expand=False))


def render_suite(doc: dict[str, Any], journals: list[dict[str, Any] | None],
                 console: Console | None = None) -> None:
    """A suite journal: its verdict and one row per scenario, with the failed checks
    of each run whose journal could be read."""
    console = console or make_console()
    verdict = doc["verdict"]
    colour = COLOURS.get(verdict, "white")
    table = Table(title=f"suite {doc['suite']['name']} ({doc['suite_id']})",
                  title_justify="left")
    for col in ("#", "scenario", "verdict", "time", "why"):
        table.add_column(col, overflow="fold")
    for i, (run, journal) in enumerate(zip(doc["runs"], journals, strict=True), 1):
        failed = [f"✗ {c['name']}: {c['detail']}" for c in (journal or {}).get("checks", [])
                  if not c["passed"]]
        add_plain_row(table, str(i), run["scenario"],
                      Text(run["verdict"], style=COLOURS.get(run["verdict"], "")),
                      f"{run['wall_s']:.0f}s", "\n".join(failed) or run["reason"])
    console.print(Text.assemble((f" {verdict.upper()} ", f"bold white on {colour}"),
                                f"  {doc['reason']} ({doc['wall_s']:.0f}s)"))
    console.print(table)

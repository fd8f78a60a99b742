"""Render a run journal for a person: verdict first, then why, then the timeline."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

BARS = " ▁▂▃▄▅▆▇█"
COLOURS = {"passed": "green", "failed": "red", "aborted": "yellow", "error": "magenta"}


def _spark(values: list[float]) -> str:
    return "".join(BARS[min(8, round(v * 8))] for v in values)


def _fault_marks(doc: dict[str, Any], length: int) -> str:
    marks = [" "] * length
    for fault in doc["faults"]:
        for t in range(int(fault["start"]), min(length, int(fault["end"]) + 1)):
            marks[t] = str(fault["index"])
    return "".join(marks)


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
        for col in ("#", "fault", "window", "error rate", "p95 ms", "time to recover",
                    "probes ok after", "reverted by"):
            faults.add_column(col, overflow="fold", min_width=30 if col == "fault" else None)
        for f in doc["faults"]:
            ttr = f["time_to_recover_s"]
            prr = f["probe_recovery_s"]
            faults.add_row(
                str(f["index"]), f["describe"], f"{f['start']:g}s - {f['end']:g}s",
                f"{f['error_rate']:.0%}" if f["error_rate"] is not None else "-",
                f"{f['p95_ms']:g}" if f["p95_ms"] is not None else "-",
                f"{ttr:.1f}s" if ttr is not None else "not recovered",
                f"{prr:.1f}s" if prr is not None else "never",
                f["reverted_by"] or "-",
            )
        parts.append(faults)

    timeline = doc["timeline"]
    if timeline:
        rates = []
        for sec in timeline:
            total = sec["ok"] + sec["rejected"] + sec["error"] + sec["timeout"]
            rates.append(1 - sec["ok"] / total if total else 0.0)
        ops = [sec["ok"] + sec["rejected"] + sec["error"] + sec["timeout"] for sec in timeline]
        peak = max(ops) or 1
        parts.append(Text(
            "per second (t = 0 at traffic start; digits mark fault windows)\n"
            f"  ops/s  {_spark([o / peak for o in ops])}  peak {peak}/s\n"
            f"  errors {_spark(rates)}  peak {max(rates):.0%}\n"
            f"  faults {_fault_marks(doc, len(timeline))}"))

    if doc["checks"]:
        checks = Table(title="checks", title_justify="left")
        checks.add_column("")
        checks.add_column("check")
        checks.add_column("measured")
        for c in doc["checks"]:
            checks.add_row("[green]✓[/]" if c["passed"] else "[red]✗[/]", c["name"], c["detail"])
        parts.append(checks)
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

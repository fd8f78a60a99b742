"""Self-contained HTML reports (one file, no network): a person reads one in a minute.

Verdict first, then traffic, latency and error rate over time with the fault
windows shaded, then time to recover per fault, the ledger's balance, dead
letters, catalogue matches and misses, and early warnings. Rendered from journals
only, so any journal on disk can be re-rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from chaosfleet.reports import rates
from chaosfleet.reports.rates import fault_span

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T = 640, 150, 64, 22, 10  # PAD_L fits "10000 ms"


def _env() -> Environment:
    env = Environment(loader=PackageLoader("chaosfleet", "templates"),
                      autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "-" if v is None else f"{v:.0%}"
    env.filters["rate"] = rates.format_rate
    env.filters["ms"] = rates.format_ms
    env.filters["secs"] = lambda v: "-" if v is None else f"{v:.1f} s"
    env.filters["when"] = lambda v: (datetime.fromtimestamp(v, UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC") if v else "-")
    return env


def svg_chart(values: list[float | None], faults: list[dict[str, Any]], title: str,
              fmt: Callable[[float], str], colour: str) -> Markup:
    """A line chart of one value per second, fault windows shaded and numbered."""
    n = max(len(values), 1)
    known = [v for v in values if v is not None]
    top = max(known, default=0.0) or 1.0
    plot_w, plot_h = WIDTH - PAD_L - 6, HEIGHT - PAD_B - PAD_T

    def x(t: float) -> float:
        return PAD_L + plot_w * min(max(t, 0), n) / n

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - v / top)

    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">',
             f'<title>{escape(title)}</title>']
    for f in faults:
        x0, x1 = x(fault_span(f)[0]), x(fault_span(f)[1])
        parts.append(f'<rect class="fault-window" x="{x0:.1f}" y="{PAD_T}" '
                     f'width="{max(x1 - x0, 1):.1f}" height="{plot_h}"><title>fault '
                     f'{f["index"]}: {escape(f["describe"])}</title></rect>'
                     f'<text class="fault-label" x="{x0 + 3:.1f}" y="{PAD_T + 11}">'
                     f'{f["index"]}</text>')
    points = " ".join(f"{x(t + 0.5):.1f},{y(v):.1f}" for t, v in enumerate(values)
                      if v is not None)
    parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" '
                 f'points="{points}"/>')
    parts.append(f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{WIDTH - 6}" '
                 f'y2="{PAD_T + plot_h}"/>')
    parts.append(f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + 8}" text-anchor="end">'
                 f'{escape(fmt(top))}</text>')
    parts.append(f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + plot_h}" '
                 f'text-anchor="end">0</text>')
    for t in range(0, n + 1, max(5, (n // 8) // 5 * 5 or 5)):
        parts.append(f'<text class="tick" x="{x(t):.1f}" y="{HEIGHT - 6}" '
                     f'text-anchor="middle">{t}s</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def charts(journal: dict[str, Any]) -> list[tuple[str, Markup]]:
    timeline = journal.get("timeline", [])
    totals = [rates.sent(s) for s in timeline]
    errors = [rates.error_rate(s) for s in timeline]  # None: not sent, a gap in the line
    deadline = journal.get("deadline_ms")
    p95 = [min(v, deadline) if v is not None and deadline else v
           for v in (s.get("p95_ms") for s in timeline)]
    faults = journal.get("faults", [])
    return [
        ("Throughput (operations per second)",
         svg_chart([float(t) for t in totals], faults, "throughput", lambda v: f"{v:.0f}/s",
                   "#2563eb")),
        ("Latency (p95, ms)", svg_chart(p95, faults, "p95 latency", lambda v: f"{v:.0f} ms",
                                        "#7c3aed")),
        ("Error rate (errors and timeouts / sent; gaps: not sent)",
         svg_chart(errors, faults, "error rate", lambda v: f"{v:.0%}", "#dc2626")),
    ]


def run_context(journal: dict[str, Any]) -> dict[str, Any]:
    timeline = journal.get("timeline", [])
    totals = journal.get("totals", {})
    total = rates.sent(totals)
    ledger = journal.get("ledger", {})
    recorded = sum(v for k, v in ledger.items() if k != "lost")
    return {
        "j": journal,
        "charts": charts(journal),
        "total_ops": total,
        "ops_per_s": round(total / len(timeline), 1) if timeline else 0,
        "error_rate": rates.error_rate(totals),
        "rejected_rate": rates.rejected_rate(totals),
        "spans": [fault_span(f) for f in journal.get("faults", [])],
        "failed_checks": [c for c in journal.get("checks", []) if not c["passed"]],
        "ledger_balanced": bool(ledger) and not ledger.get("lost"),
        "ledger_recorded": recorded,
        "catalogue": journal.get("catalogue") or {"by_mode": {}, "misses": []},
        "dead_letters": journal.get("dead_letters") or {"total": ledger.get("dead_lettered", 0),
                                                        "by_class": {}, "sample": []},
        "warnings": journal.get("warnings"),  # None: never evaluated
    }


def render_run_html(journal: dict[str, Any]) -> str:
    return _env().get_template("run.html.j2").render(run=run_context(journal),
                                                     standalone=True)


def render_suite_html(suite_doc: dict[str, Any],
                      journals: list[dict[str, Any] | None]) -> str:
    runs = [run_context(j) if j else None for j in journals]
    return _env().get_template("suite.html.j2").render(
        suite=suite_doc, rows=list(zip(suite_doc["runs"], runs, strict=True)))


def write_run_report(journal_path: Path) -> Path:
    """report.html next to a run's journal, from the journal as read back (and
    validated against its schema): what the report shows is what the journal says."""
    from chaosfleet.reports.schemas import read_journal

    _, doc = read_journal(journal_path)
    return write_html(Path(journal_path).with_name("report.html"), render_run_html(doc))


def write_html(path: Path, html: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path

"""The report's numbers, defined once: every place that prints an error rate or a
latency (terminal, HTML, JUnit, journal, progress, checks) goes through here, so
the same run never shows two different error rates.

- error rate: operations that errored or timed out / operations sent. A clean
  rejection (a 4xx, a declared exception) is not an error: it is counted and shown
  on its own, as the rejected rate.
- a second in which nothing was sent has no rate: it is "not sent", never 0 %.
- a latency percentile at or above the fleet's own deadline is not a measurement
  (those requests were cut off): it prints as "≥ deadline (timeouts)".
- a fault's window is when it was confirmed applied and reverted (its schedule
  only when never confirmed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_SENT_LABEL = "not sent"
AT_DEADLINE_LABEL = "≥ deadline (timeouts)"


def sent(counts: Mapping[str, int]) -> int:
    return sum(counts.get(k, 0) for k in ("ok", "rejected", "error", "timeout"))


def error_rate(counts: Mapping[str, int]) -> float | None:
    """Errors and timeouts over operations sent; None when nothing was sent."""
    total = sent(counts)
    return (counts.get("error", 0) + counts.get("timeout", 0)) / total if total else None


def rejected_rate(counts: Mapping[str, int]) -> float | None:
    total = sent(counts)
    return counts.get("rejected", 0) / total if total else None


def format_rate(rate: float | None, digits: int = 0) -> str:
    return NOT_SENT_LABEL if rate is None else f"{rate:.{digits}%}"


def at_deadline(ms: float | None, deadline_ms: float | None) -> bool:
    return ms is not None and deadline_ms is not None and ms >= deadline_ms


def format_ms(ms: float | None, deadline_ms: float | None) -> str:
    """A latency for a person: '-' when unknown, the deadline label when the
    percentile falls among requests the fleet cut off."""
    if ms is None:
        return "-"
    if at_deadline(ms, deadline_ms):
        return AT_DEADLINE_LABEL
    return f"{ms:g} ms"


def fault_span(fault: dict[str, Any]) -> tuple[float, float]:
    """When the fault was actually applied and reverted (its schedule if never
    confirmed), in seconds after traffic start."""
    applied, reverted = fault.get("applied"), fault.get("reverted")
    return (fault["start"] if applied is None else applied,
            fault["end"] if reverted is None else reverted)

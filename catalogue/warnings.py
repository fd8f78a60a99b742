"""Early warnings: each failure mode's indicators, evaluated periodically (a beat
entry) from what the fleet recorded, with every evaluation kept as a trend.

Metrics, over the last `window` seconds of recorded traffic:
- `error_rate`: this mode's failures / operations recorded in the ledger;
- `timeout_rate`: operations that hit the fleet's deadline / operations, for
  modes that match timeouts;
- `p95_ms`: the 95th percentile latency of operations recorded in the window;
- `matches_per_minute`: this mode's failures per minute.
An indicator is `critical` at or above its critical threshold, `warning` at or
above its warning threshold, else `ok`.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from catalogue.models import EarlyWarning, FailureMatch, LedgerEntry
from catalogue.modes import Catalogue, Indicator

TIMEOUT_CODES = ("client_timeout", "deadline_exceeded")
LATENCY_SAMPLE = 20_000  # p95 from at most this many of the newest operations


@dataclass(frozen=True)
class Evaluation:
    mode_id: str
    metric: str
    value: float
    level: str  # ok, warning, critical
    threshold: float | None  # the one crossed
    action: str
    window_s: float
    evaluated_at: datetime


def level_of(indicator: Indicator, value: float) -> tuple[str, float | None]:
    if value >= indicator.critical:
        return "critical", indicator.critical
    if value >= indicator.warning:
        return "warning", indicator.warning
    return "ok", None


def _metrics(engine: Engine, catalogue: Catalogue, since: datetime, window_s: float
             ) -> dict[tuple[str, str], float]:
    start = since.timestamp()
    with engine.connect() as conn:
        ops = conn.execute(select(func.count()).select_from(LedgerEntry)
                           .where(LedgerEntry.at >= start)).scalar_one()
        timeouts = conn.execute(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.at >= start, LedgerEntry.error_class.in_(TIMEOUT_CODES))).scalar_one()
        by_mode: dict[str, float] = {
            str(mode): float(n or 0) for mode, n in conn.execute(
                select(FailureMatch.mode_id, func.sum(FailureMatch.occurrences))
                .where(FailureMatch.occurred_at >= since, FailureMatch.mode_id.is_not(None))
                .group_by(FailureMatch.mode_id))}
        latencies: list[float] = sorted(v for v in conn.scalars(
            select(LedgerEntry.latency_ms).where(LedgerEntry.at >= start,
                                                 LedgerEntry.latency_ms.is_not(None))
            .order_by(LedgerEntry.at.desc()).limit(LATENCY_SAMPLE)) if v is not None)
    p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else 0.0
    values: dict[tuple[str, str], float] = {}
    for mode in catalogue.modes:
        n = by_mode.get(mode.id, 0.0)
        values[(mode.id, "error_rate")] = n / ops if ops else 0.0
        values[(mode.id, "timeout_rate")] = timeouts / ops if ops else 0.0
        values[(mode.id, "p95_ms")] = float(p95)
        values[(mode.id, "matches_per_minute")] = n / (window_s / 60)
    return values


def evaluate(engine: Engine, catalogue: Catalogue, window_s: float = 300.0,
             now: datetime | None = None) -> list[Evaluation]:
    """Evaluate every indicator of every mode and keep the result (the trend)."""
    now = now or datetime.now(UTC)
    values = _metrics(engine, catalogue, now - timedelta(seconds=window_s), window_s)
    results = []
    for mode in catalogue.modes:
        for ind in mode.indicators:
            value = round(values[(mode.id, ind.metric)], 6)
            level, threshold = level_of(ind, value)
            results.append(Evaluation(mode.id, ind.metric, value, level, threshold,
                                      ind.action, window_s, now))
    if results:
        with engine.begin() as conn:
            conn.execute(insert(EarlyWarning), [
                {"id": str(uuid.uuid4()), **asdict(r)} for r in results])
    return results


def current_warnings(engine: Engine, trend_points: int = 10) -> list[dict[str, Any]]:
    """The latest evaluation of each (mode, metric) that is not ok, with its recent
    values (oldest first) and whether they are rising."""
    with engine.connect() as conn:
        latest = conn.execute(
            select(EarlyWarning.mode_id, EarlyWarning.metric,
                   func.max(EarlyWarning.evaluated_at))
            .group_by(EarlyWarning.mode_id, EarlyWarning.metric)).all()
        out = []
        for mode_id, metric, at in latest:
            row = conn.execute(select(EarlyWarning).where(
                EarlyWarning.mode_id == mode_id, EarlyWarning.metric == metric,
                EarlyWarning.evaluated_at == at)).first()
            if row is None or row.level == "ok":
                continue
            trend = list(reversed(conn.scalars(
                select(EarlyWarning.value).where(EarlyWarning.mode_id == mode_id,
                                                 EarlyWarning.metric == metric)
                .order_by(EarlyWarning.evaluated_at.desc()).limit(trend_points)).all()))
            out.append({"mode_id": mode_id, "metric": metric, "value": row.value,
                        "level": row.level, "threshold": row.threshold,
                        "action": row.action, "window_s": row.window_s,
                        "evaluated_at": row.evaluated_at.isoformat(), "trend": trend,
                        "rising": len(trend) > 1 and trend[-1] > trend[0]})
    return sorted(out, key=lambda w: (w["level"] != "critical", w["mode_id"]))

"""The JSON run journal (schema `chaosfleet.journal/2`): everything a report needs.

Its fields are typed in chaosfleet/reports/schemas.py and explained in docs/journal.md;
the controller adds the sections that apply (recording, catalogue, dead letters,
warnings, effects, replay, malformed, fault measurements) to what `build` returns.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosfleet.core.outcomes import Outcome
from chaosfleet.runner.analysis import Check, FaultReport, Verdict, percentile_ms
from chaosfleet.runner.probes import ProbeSample
from chaosfleet.runner.request import RunRequest
from chaosfleet.traffic.stats import Second

if TYPE_CHECKING:
    from chaosfleet.runner.controller import FaultSlot

SCHEMA = "chaosfleet.journal/2"


def finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else round(value, 3)


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _since(at: float | None, t0: float) -> float | None:
    return None if at is None else round(at - t0, 3)


def build(
    request: RunRequest,
    verdict: Verdict,
    reason: str,
    checks: list[Check],
    t0: float,
    series: list[Second],
    errors: dict[str, int],
    not_sent: int,
    ledger: dict[str, int],
    slots: list[FaultSlot],
    fault_reports: list[FaultReport],
    samples: list[ProbeSample],
    notes: list[str],
    deadline_ms: float | None = None,
) -> dict[str, Any]:
    reports = {r.index: r for r in fault_reports}
    totals = {o.value: sum(s.counts.get(o, 0) for s in series) for o in Outcome}
    faults = []
    for slot in slots:
        rep = reports.get(slot.index)
        faults.append({
            "index": slot.index,
            "describe": slot.describe,
            "start": round(slot.start - t0, 3),
            "end": round(slot.end - t0, 3),
            "sent": _since(slot.sent_at, t0),
            "received": _since(slot.received_at, t0),
            "applied": _since(slot.applied_at, t0),
            "reverted": _since(slot.reverted_at, t0),
            "applied_at": slot.applied_at,
            "reverted_at": slot.reverted_at,
            "reverted_by": slot.reverted_by,
            "error_rate": _rate(rep.error_rate) if rep else None,
            "rejected_rate": _rate(rep.rejected_rate) if rep else None,
            "p95_ms": finite(rep.p95_ms) if rep else None,
            "timeout_rate": round(rep.timeout_rate, 4) if rep else None,
            "time_to_recover_s": finite(rep.traffic_recovery_s) if rep else None,
            "probe_recovery_s": finite(rep.probe_recovery_s) if rep else None,
        })
    return {
        "schema": SCHEMA,
        "run_id": request.run_id,
        "scenario": {
            "name": request.scenario.name,
            "seed": request.scenario.seed,
            "target": request.target_name,
            "spec": request.scenario.model_dump(mode="json", by_alias=True),
        },
        "trigger": request.trigger,
        "suite_id": request.suite_id,
        "replay_of": request.replay_of,
        "verdict": str(verdict),
        "reason": reason,
        "started_at": t0 or None,
        "deadline_ms": deadline_ms,
        "checks": [asdict(c) for c in checks],
        "faults": faults,
        "timeline": [
            {"t": s.t, **{o.value: s.counts.get(o, 0) for o in Outcome},
             "p95_ms": finite(percentile_ms(s.latency, 0.95))}
            for s in series
        ],
        "totals": totals,
        "not_sent": not_sent,
        "ledger": ledger,
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        "probes": [
            {"t": round(p.at - t0, 2), "probe": p.probe, "ok": p.ok, "detail": p.detail}
            for p in samples
        ],
        "notes": notes,
    }


def write(reports_dir: Path, run_id: str, doc: dict[str, Any]) -> Path:
    folder = Path(reports_dir).resolve() / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "journal.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    return path

"""The run's side of the failure catalogue: wait for spooled records, record the
run-level failures only the controller can see, and put each fault's recovery
result on the failures of its window."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy.engine import Engine

from catalogue.failures import (
    list_misses,
    mark_defects_unrecovered,
    mark_recovery,
    match_batch,
    modes_of_run,
    observed,
)
from catalogue.matching import Matcher
from catalogue.recording import read_counters, spool_holders, write_batch
from chaosfleet.core import clock
from chaosfleet.core.errors import HarnessError
from chaosfleet.core.presence import ANNOUNCE_TTL, read_presence
from chaosfleet.runner.analysis import FaultReport


def await_recording(client: redis.Redis, prefix: str, run_id: str, timeout: float,
                    check_stop: Callable[[], None]) -> dict[str, int]:
    """Wait until no record of the run is left in a spool (the catalogue database
    was down and the writers are backfilling); the ledger is balanced only then.

    Spools are local to each host, so records held by a host that has gone (no
    worker of it announces itself) cannot arrive: the wait ends early then, and
    either way the error names each host and how many records its spool holds."""
    began = time.monotonic()
    while True:
        counts = read_counters(client, prefix, run_id)
        if counts["pending"] <= 0:
            return counts
        waited = time.monotonic() - began
        holders = spool_holders(client, prefix, run_id)
        hosts = {w.host for w in read_presence(client, prefix)} | {socket.gethostname()}
        gone = {h: n for h, n in holders.items() if h not in hosts}
        if waited > timeout or (gone and gone == holders and waited > ANNOUNCE_TTL):
            raise HarnessError(stranded_message(counts["pending"], holders, gone, waited))
        check_stop()
        time.sleep(0.2)


def stranded_message(pending: int, holders: dict[str, int], gone: dict[str, int],
                     waited: float) -> str:
    where = "; ".join(
        f"{n} on host {h}" + (" (no worker of it is running: the host is down?)"
                              if h in gone else "")
        for h, n in sorted(holders.items())) or "on hosts unknown"
    return (f"{pending} records of this run are still spooled after {waited:.0f}s: {where}. "
            "They are kept: each host backfills its spool when the catalogue database "
            "answers, and `chaosfleet catalogue backfill` on that host writes them now")


def record_run_failures(engine: Engine, matcher: Matcher, run_id: str, scenario: str,
                        ledger: dict[str, int], effects: dict[str, Any] | None,
                        measurements: list[dict[str, Any]], failed_checks: list[str]) -> int:
    """Failures of the whole run, which no single operation shows: lost operations,
    duplicate effects, halts limited or let through. Returns how many rows."""
    now = clock.now()

    def failure(code: str, message: str, n: int, key: str, status: int | None = None,
                context: dict[str, Any] | None = None) -> dict[str, Any]:
        return observed(run_id=run_id, scenario=scenario, code=code, message=message,
                        status=status, component="run", correlation_id=f"{run_id}:{key}",
                        context=context, at=now, occurrences=n)

    rows = []
    if lost := ledger.get("lost", 0):
        rows.append(failure("operation_lost", f"{lost} operations sent without an outcome",
                            lost, "lost"))
    if effects and (duplicates := effects.get("duplicates", 0)) > 0:
        rows.append(failure("duplicate_effect", f"{duplicates} operations applied twice",
                            duplicates, "duplicates"))
    if effects and (gone := effects.get("acknowledged_lost", 0)) > 0:
        rows.append(failure("acknowledged_write_lost",
                            f"{gone} writes answered ok but never written", gone,
                            "acknowledged_lost"))
    for m in measurements:
        i = m["fault"]
        if m.get("limited"):
            rows.append(failure("rate_limited", "halt limit reached", m["limited"],
                                f"fault{i}:limited", 429, {"fault": i}))
        if f"fault {i}: halt storm capped" in failed_checks:
            rows.append(failure("halt_storm_cascade",
                                f"{m.get('accepted', 0)} halts accepted past the limit",
                                max(1, m.get("accepted", 0)), f"fault{i}:cascade", None,
                                {"fault": i}))
    if rows:
        write_batch(engine, match_batch({"failures": rows}, matcher))
    return len(rows)


def track_recovery(engine: Engine, run_id: str, scenario: str, faults: list[FaultReport],
                   t0: float, within: float, next_starts: list[float]) -> None:
    """Each fault's recovery check decides the failures from its start until its
    recovery horizon (the next fault's start, or its end plus the bound)."""
    for report, next_start in zip(faults, next_starts, strict=True):
        ttr = report.traffic_recovery_s
        recovered = ttr is not None and report.probe_recovery_s is not None
        end = t0 + report.end
        horizon = min(t0 + next_start, end + within)
        mark_recovery(
            engine, run_id, datetime.fromtimestamp(t0 + report.start, UTC),
            datetime.fromtimestamp(horizon, UTC), recovered=recovered,
            recovered_at=datetime.fromtimestamp(end + ttr, UTC) if ttr is not None else None,
            by=f"{scenario}: fault {report.index} recovery check",
            time_to_recover_s=ttr)
    mark_defects_unrecovered(engine, run_id, f"{scenario}: run checks")


def summarise(engine: Engine, run_id: str) -> dict[str, Any]:
    """The journal's `catalogue` section."""
    modes = modes_of_run(engine, run_id)
    return {"by_mode": {k: v for k, v in modes.items() if k is not None},
            "misses": list_misses(engine, run_id=run_id, limit=20)}

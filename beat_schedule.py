"""The Celery beat schedule, built from settings.

Run beat with `chaosfleet beat` (or `celery -A workers beat`): the scheduler is
workers.beat.DedupScheduler (celery-redbeat's lock plus (entry, slot) dedup), so
running two beats for availability never double-fires. Entries:

- `nightly-suite`: the nightly suite (CHAOSFLEET_NIGHTLY_SUITE, default `nightly`)
  at CHAOSFLEET_NIGHTLY_CRON (UTC, default `0 2 * * *`; empty disables it);
- `revert-expired-leases`: the lease janitor (every worker also runs one
  in-process; this entry covers fleets whose workers are all busy or gone);
- `evaluate-early-warnings`: the failure catalogue's early-warning evaluation.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from chaosfleet.core.errors import ConfigError
from chaosfleet.core.settings import Settings


def parse_cron(expr: str) -> crontab:
    """A five-field crontab expression (minute hour day-of-month month day-of-week)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"nightly_cron: {expr!r} needs 5 fields "
                          "(minute hour day-of-month month day-of-week)")
    minute, hour, dom, month, dow = fields
    try:
        return crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month,
                       day_of_week=dow)
    except ValueError as exc:
        raise ConfigError(f"nightly_cron: {expr!r}: {exc}") from None


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    period = settings.janitor_period
    schedule: dict[str, dict[str, Any]] = {
        "revert-expired-leases": {
            "task": "chaosfleet.revert_expired",
            "schedule": period,
            # a janitor pass that could not run in time is replaced by the next one
            "options": {"queue": "faults", "expires": period * 2},
        },
        "evaluate-early-warnings": {
            "task": "chaosfleet.evaluate_warnings",
            "schedule": settings.warning_period,
            "options": {"queue": "control", "expires": settings.warning_period},
        },
    }
    if settings.nightly_cron.strip():
        schedule["nightly-suite"] = {
            "task": "chaosfleet.run_suite",
            "schedule": parse_cron(settings.nightly_cron),
            "kwargs": {"suite": settings.nightly_suite, "target": settings.nightly_target,
                       "trigger": "beat"},
            # a nightly run that could not start within an hour waits for tomorrow
            "options": {"queue": "control", "expires": 3600},
        }
    return schedule

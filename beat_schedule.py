"""The Celery beat schedule, built from settings.

Run beat with `celery -A workers beat`. Entries today: the lease janitor (every
worker also runs one in-process; this entry covers fleets whose workers are all
busy or gone) and the early-warning evaluation of the failure catalogue. The
nightly suite entry arrives with suites.
"""

from __future__ import annotations

from typing import Any

from chaosfleet.settings import Settings


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    period = settings.janitor_period
    return {
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

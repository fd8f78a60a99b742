"""Sending to the fleet's queues: a run's slices and fault commands (the runner's
`Dispatcher`), on the Celery app the process's `Fleet` holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery import Celery

from chaosfleet.runner.controller import DISPATCH_LEAD
from chaosfleet.traffic.plan import SlicePlan
from faults.leases import Lease

SLICE_SLACK = 10.0  # seconds past a slice's last operation before its soft limit


def expires_in(seconds: float) -> datetime:
    """A Celery `expires` as an absolute time. A float there means *seconds from
    now*: passing `time.time() + n` queued messages for 56 years."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


class CeleryDispatcher:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_slice(self, plan: SlicePlan) -> None:
        # No `expires`: a retry after a lost worker must still run to settle the
        # operations the dead attempt owed; the run's stop key ends late slices.
        soft = DISPATCH_LEAD + plan.duration + plan.target.timeout + SLICE_SLACK
        self.app.send_task(
            "chaosfleet.run_slice", args=[plan.model_dump_json()], queue="traffic",
            soft_time_limit=soft, time_limit=soft + 5,
        )

    def send_apply(self, lease: Lease) -> None:
        # No `expires`: Celery would judge it on the faults host's own clock; the
        # task refuses a lease already expired on the fleet's clock instead.
        self.app.send_task(
            "chaosfleet.apply_fault", args=[lease.model_dump_json()], queue="faults")

    def send_revert(self, lease_id: str) -> None:
        self.app.send_task("chaosfleet.revert_fault", args=[lease_id], queue="faults",
                           expires=expires_in(3600))

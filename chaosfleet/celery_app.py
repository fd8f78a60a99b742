"""The fleet's Celery configuration: Redis broker, three queues, settings that lose no task.

- `control`: run controllers (long, one per process);
- `traffic`: traffic slices (many operations each);
- `faults`:  fault apply/revert and the janitor, on their own worker, so fault
  work never waits behind traffic.

Senders and workers build their app here, so a task routed by one is consumed by the
other; what only a worker needs (tasks, bootsteps, beat) is added in `workers/app.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery
from kombu import Queue, pools

from chaosfleet.core.settings import Settings

QUEUES = ("control", "traffic", "faults")


def build_celery(s: Settings, include: Sequence[str] = (), set_as_current: bool = True) -> Celery:
    """The fleet's Celery app. Workers build it with their tasks (`workers/app.py`);
    a CLI or API process builds a bare one that only sends, with the same routes."""
    app = Celery("chaosfleet", include=list(include), set_as_current=set_as_current)
    app.conf.update(
        broker_url=s.redis_url,
        result_backend=s.redis_url,
        result_expires=7 * 86400,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="control",
        task_routes={
            "chaosfleet.run_scenario": {"queue": "control"},
            "chaosfleet.run_slice": {"queue": "traffic"},
            "chaosfleet.noop": {"queue": "traffic"},
            "chaosfleet.apply_fault": {"queue": "faults"},
            "chaosfleet.revert_fault": {"queue": "faults"},
            "chaosfleet.revert_expired": {"queue": "faults"},
            "chaosfleet.evaluate_warnings": {"queue": "control"},
            "chaosfleet.run_suite": {"queue": "control"},
        },
        task_serializer="json",
        accept_content=["json"],
        # at-least-once: ack after the work, requeue when a worker process dies,
        # and count that as a (bounded) retry
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_retry_on_worker_lost=True,
        # a broker outage must not kill a running controller: it would never record
        # its verdict (a Redis restart without persistence loses the message too);
        # every task here is safe to redeliver instead
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # a redelivery only after the longest task could have finished
        broker_transport_options={"visibility_timeout": s.max_run_seconds + 300},
        broker_connection_retry_on_startup=True,
        # bounded default time limits (prefork enforces them); tasks set their own
        task_soft_time_limit=120,
        task_time_limit=150,
        # long tasks: never hold more than the one in hand; roles may override
        worker_prefetch_multiplier=1,
        # soft shutdown: a stopping worker finishes what it can before requeueing
        worker_soft_shutdown_timeout=10.0,
        worker_enable_soft_shutdown_on_idle=True,
        worker_hijack_root_logger=False,
        # worker halt storms may restart the traffic pools (faults/halts.py)
        worker_pool_restarts=True,
        task_track_started=True,
    )
    return app


def reset_broker_connections(celery_app: Celery) -> None:
    """Drop pooled broker connections (they die with a restarted Redis); the next
    send opens fresh ones. The same reset Celery does after a fork."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    pools.reset()  # kombu's registry would hand the closed pool back
    celery_app._after_fork()

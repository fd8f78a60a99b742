"""The Celery app: Redis broker, three queues, settings that lose no task.

- `control`: run controllers (long, one per process);
- `traffic`: traffic slices (many operations each);
- `faults`:  fault apply/revert and the janitor, on their own worker, so fault
  work never waits behind traffic.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from kombu import Queue, pools

from chaosfleet.logs import use_format
from chaosfleet.settings import get_settings

QUEUES = ("control", "traffic", "faults")


def create_app() -> Celery:
    s = get_settings()
    app = Celery("chaosfleet", include=["workers.tasks", "workers.signals"])
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
    from beat_schedule import build_beat_schedule
    from workers.janitor import JanitorStep

    app.conf.beat_schedule = build_beat_schedule(s)
    app.conf.update(
        beat_scheduler="workers.beat:DedupScheduler",
        redbeat_redis_url=s.redis_url,
        redbeat_key_prefix=f"{s.key_prefix}:redbeat",
        redbeat_lock_timeout=int(s.beat_lock_timeout),
        # ticks (and lock extensions, and a waiting beat's lock attempts) this often
        beat_max_loop_interval=max(1, int(s.beat_lock_timeout / 5)),
    )

    app.steps["worker"].add(JanitorStep)
    return app


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def format_logs(logger: logging.Logger, **_: Any) -> None:
    """Workers and beat log in the fleet's format (CHAOSFLEET_LOG_FORMAT), with the
    run's context on each record (chaosfleet/logs.py)."""
    use_format(logger, get_settings().log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per Toxiproxy call is noise


def reset_broker_connections(celery_app: Celery) -> None:
    """Drop pooled broker connections (they die with a restarted Redis); the next
    send opens fresh ones. The same reset Celery does after a fork."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    pools.reset()  # kombu's registry would hand the closed pool back
    celery_app._after_fork()


app = create_app()

"""The Celery app of the fleet's workers: the shared configuration
(`chaosfleet/celery_app.py`) plus what only a worker needs: its tasks and signal
handlers, the janitor bootstep, beat's schedule and the log format."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from chaosfleet.celery_app import build_celery
from chaosfleet.core.logs import use_format
from chaosfleet.core.settings import get_settings


def create_app() -> Celery:
    from beat_schedule import build_beat_schedule
    from workers import control  # noqa: F401  registers the fleet's control command
    from workers.janitor import JanitorStep
    from workers.presence import PresenceStep

    s = get_settings()
    app = build_celery(s, include=["workers.tasks", "workers.signals"])
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
    app.steps["worker"].add(PresenceStep)
    return app


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def format_logs(logger: logging.Logger, **_: Any) -> None:
    """Workers and beat log in the fleet's format (CHAOSFLEET_LOG_FORMAT), with the
    run's context on each record (chaosfleet/core/logs.py)."""
    use_format(logger, get_settings().log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per Toxiproxy call is noise


app = create_app()

"""A worker process's `Fleet` (chaosfleet/fleet.py), built on `worker_process_init`
and again in any forked child: sockets and the record writer's thread do not
survive a fork. Tasks, signal handlers and the janitor take their clients here."""

from __future__ import annotations

import os
from typing import Any

from celery import signals

from chaosfleet.core.settings import get_settings
from chaosfleet.fleet import Fleet

_fleet: Fleet | None = None


def fleet() -> Fleet:
    """This process's fleet, on the workers' own Celery app."""
    global _fleet
    if _fleet is None:
        from workers.app import app

        _fleet = Fleet(get_settings(), celery=app)
        _fleet.install_clock()
    return _fleet


def forget_fleet() -> None:
    """Drop the parent's clients; the next `fleet()` builds this process's own."""
    global _fleet
    _fleet = None


os.register_at_fork(after_in_child=forget_fleet)


@signals.worker_process_init.connect
def build_process_fleet(**_: Any) -> None:
    forget_fleet()
    fleet()

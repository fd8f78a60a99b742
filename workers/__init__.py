"""The Celery app of the fleet: `celery -A workers worker` works as Celery users expect."""

from workers.app import app

__all__ = ["app"]

"""chaosfleet: synthetic traffic and chaos injection on a Celery fleet."""

__version__ = "0.1.0"

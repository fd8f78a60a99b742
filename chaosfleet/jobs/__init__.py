"""Submitting, following and cancelling runs and suites: what the CLI, the API and the
suite task share. Takes its Celery app and clients from a `Fleet`, never from `workers`."""

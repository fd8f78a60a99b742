"""The fleet's Celery app with redbeat's lock switched off, so that two beats both
schedule: the (entry, slot) dedup alone must keep each slot to one firing."""

from workers.app import app

app.conf.redbeat_lock_key = None

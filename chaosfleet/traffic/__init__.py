"""Traffic slices: many synthetic operations per Celery task, recorded in batches."""

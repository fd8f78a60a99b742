"""The HTTP API (FastAPI): catalogue queries, run and suite triggers, Prometheus metrics."""

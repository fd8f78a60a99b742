# One image for the fleet (workers, beat) and the bundled reference target.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chaosfleet chaosfleet
COPY workers workers
COPY scenarios scenarios
COPY faults faults
COPY catalogue catalogue
COPY reftarget reftarget
COPY beat_schedule.py ./
COPY deploy deploy
RUN pip install --no-cache-dir . && useradd --create-home fleet
USER fleet
CMD ["chaosfleet", "--help"]

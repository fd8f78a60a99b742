"""Record runs: one row when a run starts, updated once with its verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from catalogue.models import RunRecord


def record_run_started(
    engine: Engine, run_id: str, scenario: str, target: str, seed: int, trigger: str,
    spec: dict[str, Any], target_spec: dict[str, Any],
) -> None:
    with Session(engine) as session, session.begin():
        session.merge(RunRecord(
            id=run_id, scenario=scenario, target=target, seed=seed, trigger=trigger,
            status="running", reason="", started_at=datetime.now(UTC), scenario_spec=spec,
            target_spec=target_spec,
        ))


def record_run_finished(
    engine: Engine, run_id: str, verdict: str, reason: str, journal_path: str | None
) -> None:
    with Session(engine) as session, session.begin():
        run = session.get(RunRecord, run_id)
        if run is None:
            return
        run.status, run.reason, run.journal_path = verdict, reason, journal_path
        run.finished_at = datetime.now(UTC)


def get_run(engine: Engine, run_id: str) -> RunRecord | None:
    with Session(engine) as session:
        return session.get(RunRecord, run_id)


def list_runs(engine: Engine, limit: int = 20) -> list[RunRecord]:
    with Session(engine) as session:
        stmt = select(RunRecord).order_by(RunRecord.started_at.desc()).limit(limit)
        return list(session.scalars(stmt))

"""Journals in the catalogue database: the shared store every host reads reports
from. The controller writes each run's journal here as well as to its own disk;
a suite writes its own. Stored as the JSON text, validated when read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from catalogue.models import StoredJournal
from chaosfleet.reports.schemas import parse_journal


def store_journal(engine: Engine, journal_id: str, kind: str, doc: dict[str, Any]) -> None:
    """Insert or replace the journal of a run or suite."""
    with Session(engine) as session, session.begin():
        session.merge(StoredJournal(id=journal_id, kind=kind, doc=json.dumps(doc),
                                    written_at=datetime.now(UTC)))


def load_journal_text(engine: Engine, journal_id: str) -> str | None:
    """The stored JSON text, or None when no journal has that id."""
    with Session(engine) as session:
        row = session.get(StoredJournal, journal_id)
        return row.doc if row is not None else None


def load_journal(engine: Engine, journal_id: str) -> tuple[str, dict[str, Any]] | None:
    """("run" | "suite", the validated document), or None when none is stored. A
    stored journal that does not validate is a ConfigError, as a bad file is."""
    text = load_journal_text(engine, journal_id)
    return None if text is None else parse_journal(text, f"the stored journal {journal_id}")

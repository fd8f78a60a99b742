"""Ask a target how many effects a run's operations left: duplicates mean an
operation was applied twice (a redelivery or a replay the target did not dedupe)."""

from __future__ import annotations

import os
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from chaosfleet.core.config import HttpEffects, HttpTarget, PythonTarget
from chaosfleet.core.errors import HarnessError
from chaosfleet.targets import python as python_kind
from chaosfleet.targets.http import HttpClient


def _count_in_sql(effects: HttpEffects, key_prefix: str) -> dict[str, Any]:
    """The audit as a query on the target's own database (for a service with no
    audit endpoint): its first row's two columns are rows and keys."""
    assert effects.sql is not None and effects.database_url_env is not None
    url = os.environ.get(effects.database_url_env)
    if not url:
        raise ValueError(f"effects.database_url_env: {effects.database_url_env} is not set")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(text(effects.sql), {"prefix": key_prefix}).one()
    finally:
        engine.dispose()
    return {"rows": row[0], "keys": row[1]}


def count_effects(target: HttpTarget | PythonTarget, key_prefix: str) -> dict[str, int] | None:
    """`{"rows": n, "keys": k}`, or None when the target declares no audit."""
    if target.effects is None:
        return None
    try:
        if isinstance(target, PythonTarget):
            result = python_kind.count_effects(target, key_prefix)
        elif target.effects is None:
            return None
        elif target.effects.sql is not None:
            result = _count_in_sql(target.effects, key_prefix)
        else:
            assert target.effects.path is not None
            with HttpClient(target) as client:
                response = client.get(target.effects.path, params={"prefix": key_prefix})
            response.raise_for_status()
            result = response.json()
        return {"rows": int(result["rows"]), "keys": int(result["keys"])}
    except (httpx.HTTPError, SQLAlchemyError, KeyError, TypeError, ValueError) as exc:
        raise HarnessError(f"the target's effects audit failed: {type(exc).__name__}: {exc}"
                           ) from None

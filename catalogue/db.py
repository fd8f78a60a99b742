"""The catalogue database: PostgreSQL when configured, embedded SQLite otherwise."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def build_engine(url: str) -> Engine:
    """A new engine; bounded waits so recording never hangs."""
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"timeout": 5})
    return create_engine(
        url, pool_size=2, max_overflow=2, pool_timeout=5, pool_pre_ping=True,
        connect_args={"connect_timeout": 3},
    )


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    """One engine per URL in this process (workers key theirs by pid as well)."""
    return build_engine(url)


def create_schema(engine: Engine) -> None:
    from catalogue import models  # noqa: F401  (registers the tables)

    Base.metadata.create_all(engine)

"""The catalogue database: PostgreSQL when configured, embedded SQLite otherwise.

The schema is owned by Alembic (`catalogue/migrations/`): `create_schema` upgrades
to the newest revision under a lock, so many workers starting at once migrate once.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

MIGRATIONS = Path(__file__).with_name("migrations")
LEGACY_REVISION = "0001"  # what `create_all` built before migrations existed
_PG_LOCK = 0x63686173  # advisory lock id for migrations ("chas")


class Base(DeclarativeBase):
    pass


def build_engine(url: str, pre_ping: bool = True,
                 statement_timeout: float | None = None) -> Engine:
    """A new engine; bounded waits so recording never hangs. `pre_ping=False` skips
    the round trip that checks a pooled connection before each use: for a caller that
    retries a write once on a new connection instead (the record writer). With
    `statement_timeout` (seconds), PostgreSQL cancels a statement that runs or waits
    for a lock longer than that."""
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"timeout": 5})
    connect_args: dict[str, object] = {"connect_timeout": 3}
    if statement_timeout is not None:
        ms = int(statement_timeout * 1000)
        connect_args["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
    return create_engine(
        url, pool_size=2, max_overflow=2, pool_timeout=5, pool_pre_ping=pre_ping,
        connect_args=connect_args,
    )


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    """One engine per URL in this process (workers key theirs by pid as well)."""
    return build_engine(url)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """One migrator at a time: a PostgreSQL advisory lock, or a file lock beside
    the SQLite file."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK})
            try:
                yield conn
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK})
                conn.commit()
        return
    database = engine.url.database or ""
    lock_path = Path(database + ".migrate.lock") if database not in ("", ":memory:") else None
    with contextlib.ExitStack() as stack:
        if lock_path is not None:
            handle = stack.enter_context(lock_path.open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield stack.enter_context(engine.connect())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade (or downgrade, with a revision below the current one) the schema.
    A database built by `create_all` before migrations is stamped first."""
    with _migration_lock(engine) as conn:
        tables = set(inspect(conn).get_table_names())
        if "runs" in tables and "alembic_version" not in tables:
            command.stamp(alembic_config(conn), LEGACY_REVISION)
            conn.commit()
        current = MigrationContext.configure(conn).get_current_revision()
        config = alembic_config(conn)
        if revision == "head" or current is None or _is_ahead(revision, current):
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)
        conn.commit()


def _is_ahead(revision: str, current: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    ancestors = {r.revision for r in script.iterate_revisions(revision, "base")}
    return current in ancestors and revision != current


def create_schema(engine: Engine) -> None:
    """The newest schema (idempotent; safe from many processes at once)."""
    migrate(engine, "head")

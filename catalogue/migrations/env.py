"""Alembic environment: run with a connection handed over by catalogue/db.py
(`migrate`), or with `sqlalchemy.url` from the command line (`alembic -x url=...`)."""

from alembic import context
from sqlalchemy import create_engine

from catalogue import models  # noqa: F401  (registers the tables)
from catalogue.db import Base

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=postgresql+psycopg://...")
    with create_engine(url).connect() as conn:
        _migrate(conn)


def _migrate(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run()

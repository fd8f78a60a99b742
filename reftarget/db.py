"""The reference target's schema, engine and per-attempt query deadline."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    text,
)
from sqlalchemy.engine import Connection, Engine

from reftarget.settings import TargetSettings

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(128), unique=True, nullable=True),
    # the client's key, always recorded (even with idempotency off): an audit trail
    Column("request_key", String(128), nullable=True, index=True),
    Column("customer", String(100), nullable=False),
    Column("sku", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("value", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

halts = Table(
    "halts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("component", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)


def build_engine(settings: TargetSettings) -> Engine:
    """A small pool with a short checkout timeout, so exhaustion fails fast."""
    timeouts = settings.enabled("timeouts")
    return create_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout if timeouts else 30.0,
        pool_pre_ping=False,  # a ping would block outside the query deadline
        connect_args={"connect_timeout": settings.connect_timeout if timeouts else 30,
                      "application_name": "reftarget"},  # its sessions, countable in PG
    )


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:  # databases created before the audit column existed
        conn.execute(text("ALTER TABLE orders ADD COLUMN IF NOT EXISTS request_key "
                          "VARCHAR(128)"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_orders_request_key "
                          "ON orders (request_key)"))


class QueryDeadline:
    """Bounds one attempt's queries by shutting the connection's socket down at the
    deadline. A latency or blackhole fault delays data inside a proxy while TCP
    still acknowledges it, so neither statement_timeout nor TCP timeouts fire; a
    shutdown makes the blocked call fail at once and SQLAlchemy invalidates the
    connection instead of leaking it to the pool."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.fired = False

    @contextlib.contextmanager
    def guard(self, conn: Connection) -> Iterator[None]:
        fd = conn.connection.dbapi_connection.pgconn.socket  # type: ignore[union-attr]
        timer = threading.Timer(self.seconds, self._fire, args=(fd,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _fire(self, fd: int) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            sock = socket.socket(fileno=socket.dup(fd))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.close()

"""Recording off the traffic path: a writer thread per process, a local spool when
the catalogue database is down, and a backfill when it returns (invariant 4).

Callers hand over batches of rows (`Batch`) and never wait on the database. The
writer tries the database with bounded waits behind a circuit breaker; a batch it
cannot write goes to an append-only spool file on local disk, fsynced, and is
backfilled (idempotently: every row has a stable key) as soon as the database
answers again. Nothing is dropped unless the local disk refuses the spool too,
and that is counted (`dropped`) and logged.

Counters live in Redis: `<prefix>:recording` for the fleet (spooled, backfilled,
dropped) and `<prefix>:run:<id>:recording` per run (spooled, backfilled,
pending, and `pending@<host>`: what each host's spool holds); the controller waits
for a run's `pending` to reach zero before it balances the ledger, and names the
hosts whose spool still holds records when it cannot.
"""

from __future__ import annotations

import functools
import json
import logging
import operator
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
import sqlalchemy.exc
from sqlalchemy import Float, Integer, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from catalogue.models import DeadLetter, FailureMatch, LedgerEntry

log = logging.getLogger("chaosfleet.recording")

# dead letters before ledger rows: a row saying `dead_lettered` always has its letter
TABLES: dict[str, Any] = {"dead_letters": DeadLetter, "failure_matches": FailureMatch,
                          "ledger": LedgerEntry}
Batch = dict[str, list[dict[str, Any]]]


COPY_FROM = 200  # ledger rows from which PostgreSQL gets them by COPY, not INSERT
# a write that runs or waits for a lock longer (a migration's lock, a stuck server) is
# cancelled and its batch spooled: a slice's final flush waits at most 30 s
WRITE_TIMEOUT = 10.0


def write_batch(engine: Engine, batch: Batch) -> None:
    """One transaction; rows already there (a backfill retried) are ignored. A batch
    of a few ledger rows and nothing else (how most slices end) is one statement in
    autocommit: its BEGIN and COMMIT cost a slice two more round trips."""
    postgres = engine.dialect.name == "postgresql"
    dialect = postgresql if postgres else sqlite
    ledger = batch.get("ledger") or []
    if postgres and 0 < len(ledger) < COPY_FROM and not any(
            batch.get(table) for table in TABLES if table != "ledger"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            _insert_ignoring_conflicts(conn, "ledger", ledger)
        return
    with engine.begin() as conn:
        for table, model in TABLES.items():
            rows = batch.get(table)
            if not rows:
                continue
            if postgres and table == "ledger":
                if len(rows) >= COPY_FROM:
                    _copy_ignoring_conflicts(conn, table, rows)
                else:
                    _insert_ignoring_conflicts(conn, table, rows)
            else:
                conn.execute(dialect.insert(model).on_conflict_do_nothing(), rows)


def _copy_types(model: Any, columns: list[str]) -> list[str]:
    """PostgreSQL's name for each column's type, as binary COPY needs them (a type
    not named here would be sent wrong, so it is refused)."""
    names = []
    for column in columns:
        kind = model.__table__.columns[column].type
        if isinstance(kind, Integer):
            names.append("int4")
        elif isinstance(kind, Float):
            names.append("float8")
        elif isinstance(kind, String):
            names.append("text")
        else:
            raise TypeError(f"binary COPY: no PostgreSQL type for {column} ({kind})")
    return names


def _copy_ignoring_conflicts(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """COPY the rows straight into `table`, under a savepoint. COPY has no ON
    CONFLICT: if one of them is already there (a retried backfill), the savepoint is
    rolled back and the rows go through a temporary table and an INSERT that skips
    those, which costs PostgreSQL a second write of every row. Rows go in COPY's
    binary format: psycopg encodes one in about 0.5 us of the traffic process's
    CPU, against about 2 us for the text format (bench/RESULTS.md)."""
    columns = list(rows[0])
    names = ", ".join(columns)
    values = operator.itemgetter(*columns)  # a row's values in column order, in C
    types = _copy_types(TABLES[table], columns)
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor() as cursor:
        try:
            with raw.transaction():  # a savepoint: SQLAlchemy's transaction is open
                _copy_rows(cursor, f"COPY {table} ({names}) FROM STDIN", rows, values, types)
            return
        except psycopg.errors.UniqueViolation:
            pass
        staging = f"_copy_{table}"
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) "
                       "ON COMMIT DELETE ROWS")
        _copy_rows(cursor, f"COPY {staging} ({names}) FROM STDIN", rows, values, types)
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
                       "ON CONFLICT DO NOTHING")


@functools.cache
def _insert_statement(table: str, columns: tuple[str, ...], n: int) -> str:
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * n)} "
            "ON CONFLICT DO NOTHING")


def _insert_ignoring_conflicts(conn: Connection, table: str,
                               rows: list[dict[str, Any]]) -> None:
    """Fewer than COPY_FROM rows (a short slice's, or its last second's) in one
    statement and one round trip, its text built once per process and row count:
    SQLAlchemy compiled its INSERT ... ON CONFLICT anew for every batch, about 0.4 ms
    of CPU on the path that ends every slice (bench/RESULTS.md)."""
    columns = tuple(rows[0])
    values = operator.itemgetter(*columns)
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor() as cursor:
        cursor.execute(_insert_statement(table, columns, len(rows)),
                       [value for row in rows for value in values(row)])


def _copy_rows(cursor: psycopg.Cursor[Any], statement: str, rows: list[dict[str, Any]],
               values: Callable[[dict[str, Any]], Any], types: list[str]) -> None:
    with cursor.copy(statement + " (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(values(row))


def batch_size(batch: Batch) -> int:
    return sum(len(rows) for rows in batch.values())


def runs_of(batch: Batch) -> dict[str, int]:
    """Rows per run id in a batch (for the per-run pending count)."""
    counts: dict[str, int] = {}
    for rows in batch.values():
        for row in rows:
            counts[row["run_id"]] = counts.get(row["run_id"], 0) + 1
    return counts


# -- the spool: local, append-only, one file per process


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot spool {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    return datetime.fromisoformat(obj["$dt"]) if obj.keys() == {"$dt"} else obj


class Spool:
    """Batches the database could not take, one JSON line each, in files named
    after the writing process (its pid and start time, so a pid reused after a
    reboot is not taken for the writer). Only the writer thread of that process
    appends to its file; a file whose process is gone is anyone's to backfill."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _own(self) -> Path:
        return self.directory / f"{_identity(os.getpid())}.jsonl"

    def put(self, batch: Batch) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(batch, default=_encode, separators=(",", ":")) + "\n"
        with self._own().open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def files(self) -> list[Path]:
        """Files this process may backfill: its own, and those of dead processes."""
        if not self.directory.is_dir():
            return []
        mine = self._own().name
        return sorted(p for p in self.directory.glob("*.jsonl")
                      if p.name == mine or not _alive(p.stem))

    def pending(self) -> bool:
        return bool(self.files())

    def drain(self, write: Callable[[Batch], None],
              on_file: Callable[[list[Batch]], None] = lambda _: None) -> None:
        """Write every spooled batch, file by file; a file is removed only once all
        its batches are in, and then `on_file` gets them. Raises on the first batch
        the database refuses (that file and the rest stay spooled)."""
        for path in self.files():
            claimed = path.with_suffix(f".draining-{os.getpid()}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another process took it
            try:
                batches = [json.loads(line, object_hook=_decode)
                           for line in claimed.read_text(encoding="utf-8").splitlines()
                           if line.strip()]
                for batch in batches:
                    write(batch)
                claimed.unlink()
            except BaseException:
                claimed.rename(path)  # back in the spool; rows already in are ignored
                raise
            on_file(batches)

    def recover_claims(self) -> None:
        """Files a dead process was draining go back to the spool."""
        if not self.directory.is_dir():
            return
        for path in self.directory.glob("*.draining-*"):
            if not _alive(path.suffix.removeprefix(".draining-")):
                path.rename(path.with_suffix(".jsonl"))


def _started(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (Linux), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _identity(pid: int) -> str:
    started = _started(pid)
    return f"{pid}-{started}" if started else str(pid)


def _alive(name: str) -> bool:
    """Whether the process that named a spool file (`pid` or `pid-start`) still runs."""
    pid_text, _, started = name.partition("-")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or _started(pid) in (started, None)


# -- counters


@dataclass
class Counters:
    client: redis.Redis | None
    prefix: str
    host: str = field(default_factory=socket.gethostname)  # whose spool these are

    def add(self, batch: Batch, what: str) -> None:
        """`what`: spooled, backfilled or dropped."""
        if self.client is None:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(f"{self.prefix}:recording", what, batch_size(batch))
            for run_id, n in runs_of(batch).items():
                key = f"{self.prefix}:run:{run_id}:recording"
                pipe.hincrby(key, what, n)
                if what in ("spooled", "backfilled"):
                    pipe.hincrby(key, "pending", n if what == "spooled" else -n)
                    pipe.hincrby(key, f"pending@{self.host}", n if what == "spooled" else -n)
                pipe.expire(key, 7 * 86_400)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("recording counters not updated (%s): %s", what, exc)


def read_counters(client: redis.Redis, prefix: str, run_id: str | None = None) -> dict[str, int]:
    key = f"{prefix}:run:{run_id}:recording" if run_id else f"{prefix}:recording"
    raw = client.hgetall(key)
    counts = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    return {name: counts.get(name, 0)
            for name in ("spooled", "backfilled", "dropped", *(["pending"] if run_id else []))}


def spool_holders(client: redis.Redis, prefix: str, run_id: str) -> dict[str, int]:
    """Hosts whose spool holds records of the run, with how many."""
    raw = client.hgetall(f"{prefix}:run:{run_id}:recording")
    held = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        if name.startswith("pending@") and int(value) > 0:
            held[name.removeprefix("pending@")] = int(value)
    return held


# -- the writer


def _dropped(exc: Exception) -> bool:
    """The connection is gone (a restart, an operator's shutdown), as opposed to the
    database answering: a statement it refused or cancelled (a timeout) is not retried."""
    state = getattr(getattr(exc, "orig", None) or exc, "sqlstate", None)
    return state is None or state.startswith("57P")


@dataclass
class Breaker:
    """After a failed write, skip the database for `cool_down` seconds (spool
    directly), then let one write through to probe it."""

    cool_down: float = 2.0
    opened_at: float | None = None

    def allows(self) -> bool:
        return self.opened_at is None or time.monotonic() - self.opened_at >= self.cool_down

    def failed(self) -> None:
        self.opened_at = time.monotonic()

    def succeeded(self) -> None:
        self.opened_at = None


@dataclass
class RecordWriter:
    """The one thread per process that talks to the catalogue database for the
    traffic path. `submit` never blocks; `flush` waits (bounded) until everything
    submitted is in the database or in the spool."""

    engine: Engine
    spool: Spool
    counters: Counters
    breaker: Breaker = field(default_factory=Breaker)
    prepare: Callable[[Batch], Batch] = lambda batch: batch  # e.g. match failures
    idle_every: float = 1.0
    _queue: queue.Queue[Batch | threading.Event] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, batch: Batch) -> None:
        if batch_size(batch):
            self._ensure_thread()
            self._queue.put(batch)

    def flush(self, timeout: float = 30.0) -> bool:
        """True once every batch submitted before it is written or spooled: a marker
        queued behind them, set by the one writer when it gets there."""
        self._ensure_thread()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self.spool.recover_claims()
                self._thread = threading.Thread(target=self._run, name="record-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=self.idle_every)
            except queue.Empty:
                self._backfill()
                continue
            if isinstance(batch, threading.Event):  # a flush marker: all before it is done
                batch.set()
                self._queue.task_done()
                continue
            try:
                self._handle(self.prepare(batch))
            except Exception:  # the writer must outlive any one batch
                log.exception("record writer: batch not handled")
            finally:
                self._queue.task_done()

    def _write(self, batch: Batch) -> None:
        """Write a batch; once more on a new connection if the database dropped the
        one it took (a restart): the writer's engine skips the ping before each use,
        a round trip on the path that ends every slice (bench/RESULTS.md)."""
        try:
            write_batch(self.engine, batch)
        except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
            if not _dropped(exc):
                raise
            self.engine.pool.dispose()  # the rest of the pool went with it
            write_batch(self.engine, batch)

    def _handle(self, batch: Batch) -> None:
        if self.breaker.allows():
            try:
                self._write(batch)
                self.breaker.succeeded()
                self._backfill()
                return
            except Exception as exc:
                self.breaker.failed()
                log.warning("catalogue database refused a batch (%s); spooling", exc)
        try:
            self.spool.put(batch)
            self.counters.add(batch, "spooled")
        except OSError:
            log.exception("spool refused %d records: dropped", batch_size(batch))
            self.counters.add(batch, "dropped")

    def _backfill(self) -> None:
        if not self.breaker.allows() or not self.spool.pending():
            return
        def count(batches: list[Batch]) -> None:
            for batch in batches:
                self.counters.add(batch, "backfilled")

        try:
            self.spool.drain(self._write, count)
            self.breaker.succeeded()
        except Exception as exc:
            self.breaker.failed()
            log.info("backfill deferred: %s", exc)

"""The failure catalogue on real databases: migrations on PostgreSQL and SQLite,
the record writer's spool and backfill across a real database outage, queries,
misses and drafted entries."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import ProgrammingError

from catalogue.db import Base, build_engine, current_revision, get_engine, migrate
from catalogue.failures import (
    FailureFilter,
    FailureQueryError,
    RecoveryUpdate,
    failure_stats,
    get_failure,
    list_failures,
    list_misses,
    match_batch,
    observed,
    propose,
    unrecovered,
    update_recovery,
)
from catalogue.matching import Failure, Matcher
from catalogue.models import FailureMatch, LedgerEntry
from catalogue.modes import Catalogue, FailureMode, load_catalogue
from catalogue.recording import Counters, RecordWriter, Spool, read_counters, write_batch
from chaosfleet.core.errors import HarnessError
from tests.conftest import require, wait_for

pytestmark = pytest.mark.integration

ADMIN = "postgresql+psycopg://chaosfleet:chaosfleet@127.0.0.1:5432/chaosfleet"
PROXY = ("catalogue-db-test", "127.0.0.1:25499", "127.0.0.1:5432")


@pytest.fixture
def scratch_pg():
    """A PostgreSQL database of its own, dropped afterwards."""
    require("postgresql")
    name = f"cf_scratch_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = f"postgresql+psycopg://chaosfleet:chaosfleet@127.0.0.1:5432/{name}"
    yield url
    # an autovacuum worker (a superuser's process, which FORCE may not end) can be
    # in the database for a moment: retry within a bound
    deadline = time.monotonic() + 20
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            break
        except ProgrammingError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    admin.dispose()


def _schema_matches_models(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_migrations_upgrade_and_downgrade_cleanly(dialect, scratch_pg, tmp_path):
    url = scratch_pg if dialect == "postgresql" else f"sqlite:///{tmp_path}/c.db"
    engine = build_engine(url)
    migrate(engine)
    assert current_revision(engine) == "0005"
    assert _schema_matches_models(engine) == [], "migrations and models disagree"
    migrate(engine, "0001")
    tables = set(inspect(engine).get_table_names())
    assert "failure_matches" not in tables and "ledger" in tables
    migrate(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert _schema_matches_models(engine) == []
    engine.dispose()


def test_a_database_built_before_migrations_is_stamped_then_upgraded(scratch_pg):
    engine = build_engine(scratch_pg)
    migrate(engine, "0001")
    with engine.begin() as conn:  # what `create_all` left behind: tables, no version
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO ledger VALUES ('op-1','r1','s',0,'op',1,'ok',1.0,"
                          "NULL,NULL,NULL,0)"))
    migrate(engine)
    assert current_revision(engine) == "0005"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 1
    engine.dispose()


def test_many_processes_migrating_at_once_migrate_once(scratch_pg):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.map(_migrate_url, [scratch_pg] * 4)
    assert current_revision(build_engine(scratch_pg)) == "0005"


def _migrate_url(url: str) -> None:
    migrate(build_engine(url))


# -- the record writer, spool and backfill


def _batch(run_id: str, n: int, start: int = 0) -> dict:
    now = time.time()
    return {
        "ledger": [{"op_id": f"{run_id}-{i}", "run_id": run_id, "scenario": "s",
                    "slice_index": 0, "operation": "create_order", "attempt": 1,
                    "outcome": "dead_lettered", "latency_ms": 1.0, "error_class": "http_503",
                    "fault": None, "input_hash": "ab" * 8, "at": now}
                   for i in range(start, start + n)],
        "failures": [observed(run_id=run_id, scenario="s", code="unavailable",
                              message="database pool exhausted", status=503,
                              correlation_id=f"{run_id}-{i}", at=now)
                     for i in range(start, start + n)],
    }


def _count(engine, model, run_id) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)
                            .where(model.run_id == run_id)).scalar_one()


def test_writer_spools_while_the_database_is_down_and_backfills_every_record(
        scratch_pg, toxiproxy, redis_client, tmp_path):
    name, listen, upstream = PROXY
    toxiproxy.ensure_proxy(name, listen, upstream)
    toxiproxy.set_enabled(name, True)
    through_proxy = scratch_pg.replace("127.0.0.1:5432", listen)
    migrate(build_engine(scratch_pg))
    engine = build_engine(through_proxy)
    matcher = Matcher(load_catalogue())
    writer = RecordWriter(engine, Spool(tmp_path / "spool"), Counters(redis_client, "t"),
                          prepare=lambda b: match_batch(b, matcher), idle_every=0.2)
    run_id = f"r{uuid.uuid4().hex[:8]}"
    try:
        writer.submit(_batch(run_id, 10))
        assert writer.flush(10)
        assert _count(engine, LedgerEntry, run_id) == 10

        toxiproxy.set_enabled(name, False)  # the catalogue database is gone
        started = time.monotonic()
        for k in range(5):
            writer.submit(_batch(run_id, 20, 10 + 20 * k))
        assert writer.flush(30), "batches must be spooled, not stuck"
        handed_over = time.monotonic() - started
        counts = read_counters(redis_client, "t", run_id)
        assert counts["spooled"] == 200 and counts["pending"] == 200 and counts["dropped"] == 0
        assert list((tmp_path / "spool").glob("*.jsonl")), "spooled on local disk"
        (own,) = (tmp_path / "spool").glob(f"{os.getpid()}-*.jsonl")
        raw = own.read_text()
        assert "database pool exhausted" in raw  # normalised message, matched already
        assert json.loads(raw.splitlines()[0])["failure_matches"][0]["mode_id"] == \
            "db-pool-exhausted"

        toxiproxy.set_enabled(name, True)  # back: the idle writer backfills by itself
        wait_for(lambda: read_counters(redis_client, "t", run_id)["pending"] == 0, 30,
              "every spooled record backfilled")
        assert _count(engine, LedgerEntry, run_id) == 110
        assert _count(engine, FailureMatch, run_id) == 110
        counts = read_counters(redis_client, "t", run_id)
        assert counts["backfilled"] == 200 and counts["dropped"] == 0
        assert not list((tmp_path / "spool").glob("*.jsonl"))
        assert handed_over < 30
    finally:
        toxiproxy.set_enabled(name, True)
        toxiproxy.delete_proxy(name)
        engine.dispose()


def test_a_writer_without_pings_writes_through_a_dropped_connection_without_spooling(
        scratch_pg, toxiproxy, redis_client, tmp_path):
    """The writer's engine does not ping a connection before each use; when the
    database dropped the one it holds (a restart: here its proxy cut every
    connection), the write is tried once more on a new connection, not spooled."""
    name, listen, upstream = PROXY
    toxiproxy.ensure_proxy(name, listen, upstream)
    toxiproxy.set_enabled(name, True)
    migrate(build_engine(scratch_pg))
    engine = build_engine(scratch_pg.replace("127.0.0.1:5432", listen), pre_ping=False)
    writer = RecordWriter(engine, Spool(tmp_path / "spool"), Counters(redis_client, "t"))
    run_id = f"r{uuid.uuid4().hex[:8]}"
    only_ledger = {"ledger": _batch(run_id, 3)["ledger"]}  # the autocommit path
    try:
        writer.submit(only_ledger)
        assert writer.flush(10)
        for k, batch in enumerate(({"ledger": _batch(run_id, 3, 3)["ledger"]},
                                   _batch(run_id, 3, 6))):  # and a transaction's
            toxiproxy.set_enabled(name, False)  # every open connection is cut
            toxiproxy.set_enabled(name, True)
            writer.submit(batch)
            assert writer.flush(10)
            assert _count(engine, LedgerEntry, run_id) == 6 + 3 * k
        assert read_counters(redis_client, "t", run_id)["spooled"] == 0
        assert not list((tmp_path / "spool").glob("*.jsonl"))
    finally:
        toxiproxy.set_enabled(name, True)
        toxiproxy.delete_proxy(name)
        engine.dispose()


def test_a_write_held_up_by_a_lock_is_spooled_within_its_timeout_not_retried(
        scratch_pg, redis_client, tmp_path):
    """Recording never blocks traffic: a ledger locked by someone else (a migration, an
    operator's open transaction) makes the writer's statement time out once (it is
    not a dropped connection, so not retried); the batch is spooled, then backfilled
    once the lock is gone."""
    migrate(build_engine(scratch_pg))
    engine = build_engine(scratch_pg, pre_ping=False, statement_timeout=2.0)
    writer = RecordWriter(engine, Spool(tmp_path / "spool"), Counters(redis_client, "t"),
                          idle_every=0.2)
    run_id = f"r{uuid.uuid4().hex[:8]}"
    locker = create_engine(scratch_pg)
    try:
        with locker.begin() as conn:
            conn.execute(text("LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            writer.submit({"ledger": _batch(run_id, 3)["ledger"]})
            assert writer.flush(10), "the batch must be spooled, not stuck behind the lock"
            waited = time.monotonic() - started
            assert read_counters(redis_client, "t", run_id)["spooled"] == 3
        assert 2.0 <= waited < 3.8  # one timeout of 2 s: a retry would wait 4
        wait_for(lambda: read_counters(redis_client, "t", run_id)["pending"] == 0, 30,
                 "the spooled batch backfilled once the lock is gone")
        assert _count(engine, LedgerEntry, run_id) == 3
    finally:
        locker.dispose()
        engine.dispose()


def test_a_dead_process_spool_is_backfilled_by_another(scratch_pg, redis_client, tmp_path):
    migrate(build_engine(scratch_pg))
    engine = build_engine(scratch_pg)
    spool_dir = tmp_path / "spool"
    run_id = f"r{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_spool_and_die, args=(str(spool_dir), run_id))
    child.start()
    child.join(30)
    assert child.exitcode == -9, "the spooling process died with SIGKILL"
    (spooled,) = spool_dir.glob(f"{child.pid}-*.jsonl")  # named after pid and start time

    matcher = Matcher(load_catalogue())
    writer = RecordWriter(engine, Spool(spool_dir), Counters(redis_client, "t"),
                          prepare=lambda b: match_batch(b, matcher), idle_every=0.1)
    writer.submit(_batch(run_id, 1, 1000))  # wakes the writer; its backfill finds the file
    assert writer.flush(10)
    wait_for(lambda: _count(engine, LedgerEntry, run_id) == 31, 10, "dead process's records in")
    assert not spooled.exists()
    engine.dispose()


def test_a_spool_file_whose_pid_was_reused_is_backfilled(tmp_path):
    """After a reboot, the pid in a spool file's name may belong to another process:
    the start time in the name tells them apart."""
    spool = Spool(tmp_path)
    spool.put(_batch("run-own", 1))
    (own,) = tmp_path.glob("*.jsonl")
    reused = tmp_path / f"{os.getppid()}-1.jsonl"  # a live pid, but not started then
    reused.write_text(own.read_text())
    parent_start = Path(f"/proc/{os.getppid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    live = tmp_path / f"{os.getppid()}-{parent_start}.jsonl"
    live.write_text(own.read_text())
    assert set(spool.files()) == {own, reused}  # the live writer's own file is left alone


def test_a_run_names_the_hosts_whose_spool_holds_its_records(redis_client):
    from chaosfleet.core.presence import WorkerPresence, announce
    from chaosfleet.runner.catalogue import await_recording

    Counters(redis_client, "t", host="host-gone").add(_batch("run-s", 7), "spooled")
    started = time.monotonic()
    with pytest.raises(HarnessError) as gone:
        await_recording(redis_client, "t", "run-s", 60, lambda: None)
    assert time.monotonic() - started < 10, "a host that is down is not waited for"
    # 7 operations: a ledger row and a failure each
    assert "14 on host host-gone (no worker of it is running" in str(gone.value)
    assert "chaosfleet catalogue backfill" in str(gone.value)

    announce(redis_client, "t", WorkerPresence(node="traffic@host-up", host="host-up", pid=1,
                                               queues=("traffic",), concurrency=1,
                                               config_hash="x"))
    Counters(redis_client, "t", host="host-up").add(_batch("run-u", 3), "spooled")
    with pytest.raises(HarnessError) as waiting:
        await_recording(redis_client, "t", "run-u", 1, lambda: None)
    assert "6 on host host-up." in str(waiting.value)  # up: waited for, not called down
    Counters(redis_client, "t", host="host-up").add(_batch("run-u", 3), "backfilled")
    assert await_recording(redis_client, "t", "run-u", 1, lambda: None)["pending"] == 0


def test_catalogue_backfill_writes_a_hosts_stranded_spool(tmp_path, catalogue_url):
    """The host came back: its spool holds a dead process's records of a run."""
    import redis as redis_lib
    from click.testing import CliRunner

    from chaosfleet.cli.main import main
    from chaosfleet.core.settings import get_settings

    s = get_settings()
    client = redis_lib.Redis.from_url(s.redis_url)
    run_id = f"run-bf-{uuid.uuid4().hex[:6]}"
    spool_dir = tmp_path / "spool"
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_spool_and_die, args=(str(spool_dir), run_id))
    child.start()
    child.join(30)
    Counters(client, s.key_prefix).add(_batch(run_id, 30), "spooled")
    done = CliRunner().invoke(main, ["catalogue", "backfill", "--spool", str(spool_dir)],
                              catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "backfilled 60 records from 1 spool file(s)" in done.output  # ledger + failures
    assert _count(get_engine(catalogue_url), LedgerEntry, run_id) == 30
    assert read_counters(client, s.key_prefix, run_id)["pending"] == 0
    assert list(spool_dir.glob("*.jsonl")) == []
    again = CliRunner().invoke(main, ["catalogue", "backfill", "--spool", str(spool_dir)])
    assert "backfilled 0 records" in again.output


def _spool_and_die(spool_dir: str, run_id: str) -> None:
    from pathlib import Path

    Spool(Path(spool_dir)).put(_batch(run_id, 30))
    os.kill(os.getpid(), 9)


# -- queries, recovery updates, misses and proposals


@pytest.fixture
def failures_db(scratch_pg):
    engine = build_engine(scratch_pg)
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_large_ledger_batch_is_copied_and_a_retried_one_skips_the_rows_already_there(
        failures_db):
    """Batches of COPY_FROM rows or more go by COPY: straight into the ledger, or, when
    some rows are there already (a backfill retried), through the path that skips
    them, leaving the rows first written as they were; every value arrives as it was
    given (binary COPY: whole numbers and None in float columns, any text)."""
    from catalogue.recording import COPY_FROM

    def rows(first: int, n: int, latency: float | None) -> list[dict[str, object]]:
        return [{"op_id": f"copy-{i}", "run_id": "copy", "scenario": "s", "slice_index": 0,
                 "operation": "get", "attempt": 1, "outcome": "ok", "latency_ms": latency,
                 "error_class": None, "fault": None, "input_hash": "ab\tc", "at": 1,
                 "request_path": "/a\\b\né"} for i in range(first, first + n)]

    write_batch(failures_db, {"ledger": rows(0, COPY_FROM, latency=1)})
    write_batch(failures_db, {"ledger": rows(COPY_FROM // 2, COPY_FROM, latency=None)})
    with failures_db.connect() as conn:
        found = dict(conn.execute(select(LedgerEntry.op_id, LedgerEntry.latency_ms)).all())
        odd = conn.execute(select(LedgerEntry.input_hash, LedgerEntry.request_path,
                                  LedgerEntry.at)).first()
    assert len(found) == COPY_FROM + COPY_FROM // 2  # each row once
    assert found["copy-0"] == found[f"copy-{COPY_FROM - 1}"] == 1.0  # the first write kept
    assert found[f"copy-{COPY_FROM}"] is None  # the new rows of the retried batch written
    assert tuple(odd) == ("ab\tc", "/a\\b\né", 1.0)


def test_a_small_ledger_batch_retried_skips_the_rows_already_there(failures_db):
    """Batches under COPY_FROM rows go as one multi-row INSERT that skips rows
    already written, keeping them as they were."""
    def rows(first: int, n: int, latency: float | None) -> list[dict[str, object]]:
        return [{"op_id": f"few-{i}", "run_id": "few", "scenario": "s", "slice_index": 0,
                 "operation": "get", "attempt": 1, "outcome": "ok", "latency_ms": latency,
                 "error_class": None, "fault": "f'; --", "input_hash": None, "at": 2,
                 "request_path": None} for i in range(first, first + n)]

    write_batch(failures_db, {"ledger": rows(0, 1, latency=1.0)})
    write_batch(failures_db, {"ledger": rows(0, 3, latency=None)})  # the first one again
    with failures_db.connect() as conn:
        found = dict(conn.execute(select(LedgerEntry.op_id, LedgerEntry.latency_ms)).all())
        faults = set(conn.execute(select(LedgerEntry.fault)).scalars())
    assert found == {"few-0": 1.0, "few-1": None, "few-2": None}
    assert faults == {"f'; --"}  # a value, never SQL


def _record(engine, run_id: str, failures: list[tuple[str, str, int | None]],
            at: float | None = None) -> None:
    matcher = Matcher(load_catalogue())
    at = at or time.time()
    raw = [observed(run_id=run_id, scenario="s", code=c, message=m, status=s,
                    correlation_id=f"{run_id}-{i}", at=at + i * 0.001)
           for i, (c, m, s) in enumerate(failures)]
    write_batch(engine, match_batch({"failures": raw}, matcher))


def test_queries_filter_page_and_aggregate_ten_thousand_failures(failures_db):
    kinds = [("unavailable", "database pool exhausted", 503),
             ("unavailable", "circuit breaker open", 503),
             ("client_timeout", "ReadTimeout", None),
             ("http_500", "flux capacitor overheated", 500)]
    for r in range(10):
        _record(failures_db, f"run{r}", [kinds[i % 4] for i in range(1000)])
    page = list_failures(failures_db, FailureFilter(run_id="run3", limit=50, offset=100))
    assert len(page) == 50 and {p["run_id"] for p in page} == {"run3"}
    pool = list_failures(failures_db, FailureFilter(mode_id="db-pool-exhausted", limit=10_000))
    assert len(pool) == 2500
    timeouts = list_failures(failures_db, FailureFilter(error_code="client_timeout",
                                                        limit=10_000))
    assert len(timeouts) == 2500 and all(t["mode_id"] == "dependency-timeout" for t in timeouts)
    stats = failure_stats(failures_db, FailureFilter())
    assert stats["total"] == 10_000
    assert stats["by_mode"] == {"db-pool-exhausted": 2500, "circuit-open": 2500,
                                "dependency-timeout": 2500, "(miss)": 2500}
    assert stats["by_match_type"] == {"pattern": 5000, "exact": 2500, "miss": 2500}
    future = FailureFilter(since=datetime.now(UTC) + timedelta(hours=1))
    assert list_failures(failures_db, future) == []
    (miss,) = list_misses(failures_db)
    assert miss["occurrences"] == 2500 and miss["runs"] == 10


def test_operators_update_recovery_with_notes(failures_db):
    _record(failures_db, "runA", [("unavailable", "circuit breaker open", 503)])
    (row,) = list_failures(failures_db, FailureFilter(run_id="runA"))
    assert row["recovered"] is None
    assert unrecovered(failures_db) == []  # never attempted, not a defect
    updated = update_recovery(failures_db, row["id"],
                              RecoveryUpdate(recovered=False, notes="breaker stuck", by="ann"))
    assert updated["recovered"] is False and updated["notes"] == "breaker stuck"
    assert [u["id"] for u in unrecovered(failures_db)] == [row["id"]]
    update_recovery(failures_db, row["id"], RecoveryUpdate(recovered=True, by="ann"))
    assert get_failure(failures_db, row["id"])["recovered"] is True
    with pytest.raises(FailureQueryError, match="no failure"):
        update_recovery(failures_db, "nope", RecoveryUpdate(recovered=True))
    # the 8 characters `catalogue list` prints are enough to name it
    assert get_failure(failures_db, row["id"][:8])["id"] == row["id"]
    for bad in ("\x00", "%", row["id"][:3], "f" * 37):
        with pytest.raises(FailureQueryError, match="no failure"):
            get_failure(failures_db, bad)


def test_failures_needing_attention_are_not_cut_short_by_newer_ones(failures_db):
    """The limit applies to the failures that need attention, not to every failure
    before filtering: five newer, never-attempted failures do not hide the one."""
    _record(failures_db, "runOld", [("unavailable", "circuit breaker open", 503)])
    (old,) = list_failures(failures_db, FailureFilter(run_id="runOld"))
    update_recovery(failures_db, old["id"], RecoveryUpdate(recovered=False, by="ann"))
    _record(failures_db, "runNew", [("unavailable", "circuit breaker open", 503)] * 5)
    assert [u["id"] for u in unrecovered(failures_db, limit=1)] == [old["id"]]


def test_a_miss_is_proposed_and_the_proposal_once_added_matches_it(failures_db):
    _record(failures_db, "runB", [("http_502", "Bad gateway from upstream 10.0.0.7", 502)] * 3)
    (miss,) = list_misses(failures_db, run_id="runB")
    assert miss["occurrences"] == 3
    draft = propose(failures_db, miss["signature"])
    (entry,) = yaml.safe_load(draft)
    catalogue = load_catalogue()
    extended = Catalogue(version=catalogue.version + 1,
                         modes=[*catalogue.modes, FailureMode.model_validate(entry)])
    match = Matcher(extended).match(Failure("http_502", "Bad gateway from upstream 10.9.8.1",
                                            502))
    assert match.mode is not None and match.mode.id == entry["id"]
    unknown = Failure("http_502", "Bad gateway from upstream 10.9.8.1", 502)
    assert Matcher(catalogue).match(unknown).mode is None
    with pytest.raises(FailureQueryError, match="no catalogue miss"):
        propose(failures_db, "0" * 16)


# -- early warnings


def test_early_warnings_fire_on_thresholds_and_keep_a_trend(failures_db):
    from catalogue.warnings import current_warnings, evaluate

    catalogue = load_catalogue()
    assert evaluate(failures_db, catalogue, 300)  # an empty window: everything ok
    assert current_warnings(failures_db) == []

    now = time.time()
    write_batch(failures_db, {"ledger": [
        {"op_id": f"w-{i}", "run_id": "w", "scenario": "s", "slice_index": 0,
         "operation": "create_order", "attempt": 1, "outcome": "ok", "latency_ms": 5.0,
         "error_class": None, "fault": None, "input_hash": None, "at": now}
        for i in range(100)]})
    _record(failures_db, "w", [("unavailable", "database pool exhausted", 503)] * 10, at=now)
    evaluate(failures_db, catalogue, 300)
    _record(failures_db, "w2", [("unavailable", "database pool exhausted", 503)] * 20, at=now)
    evaluate(failures_db, catalogue, 300)

    warnings = {(w["mode_id"], w["metric"]): w for w in current_warnings(failures_db)}
    pool = warnings[("db-pool-exhausted", "error_rate")]
    assert pool["level"] == "critical" and pool["value"] == pytest.approx(0.3)
    assert pool["threshold"] == 0.25 and "pg_stat_activity" in pool["action"]
    assert pool["trend"] == [0.0, pytest.approx(0.1), pytest.approx(0.3)]
    assert pool["rising"] is True
    assert ("circuit-open", "matches_per_minute") not in warnings  # nothing of that mode
    assert all(w["level"] in ("warning", "critical") for w in warnings.values())


def test_a_large_range_is_read_in_batches_with_progress(failures_db):
    from catalogue.failures import count_failures, iter_failures

    at = time.time()  # many failures share one timestamp: the keyset must still page
    for r in range(3):
        _record(failures_db, f"big{r}", [("unavailable", "circuit breaker open", 503)] * 850,
                at=at)
    flt = FailureFilter(status="all")
    assert count_failures(failures_db, flt) == 2550
    seen: list[int] = []
    rows = list(iter_failures(failures_db, flt, batch=1000, progress=seen.append))
    assert len(rows) == 2550 and len({r["id"] for r in rows}) == 2550
    assert seen == [1000, 2000, 2550]
    keys = [(r["occurred_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)

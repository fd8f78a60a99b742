"""Shared fixtures. Services are real: Redis, PostgreSQL and Toxiproxy on 127.0.0.1.

A test that needs a service skips with the reason when it is not there, and fails
instead when CI=true, so CI can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The whole test session (and every worker it starts) uses these; set before any
# chaosfleet module reads its settings.
TEST_ENV = {
    "CHAOSFLEET_REDIS_URL": "redis://127.0.0.1:6379/14",
    "CHAOSFLEET_KEY_PREFIX": "cftest",
    "CHAOSFLEET_DATABASE_URL": "postgresql+psycopg://chaosfleet:chaosfleet@127.0.0.1:5432/"
    "chaosfleet_test",
    "CHAOSFLEET_JANITOR_PERIOD": "0.5",
    "REFTARGET_DB_PASSWORD": "reftarget",
}
os.environ.update(TEST_ENV)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SERVICES = {"redis": 6379, "postgresql": 5432, "toxiproxy": 8474}
REPO = Path(__file__).resolve().parent.parent


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require(*names: str) -> None:
    missing = [n for n in names if not port_open(SERVICES[n])]
    if not missing:
        return
    reason = (f"needs {', '.join(missing)} on 127.0.0.1 "
              f"(start them with scripts/services.sh)")
    if IN_CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def published_schemas(pattern: str) -> list[Path]:
    """Schema files scripts/schemas.sh fetched from PyPI; skip (fail under CI) without."""
    found = sorted((REPO / ".chaosfleet" / "schemas").glob(pattern))
    if found:
        return found
    reason = f"needs {pattern} (fetch it with scripts/schemas.sh)"
    if IN_CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from chaosfleet.core.settings import reset_settings

    monkeypatch.setenv("CHAOSFLEET_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("CHAOSFLEET_STATE_DIR", str(tmp_path / "state"))
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def redis_client():
    """A real Redis database of its own, empty before and after each test."""
    require("redis")
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/13")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def catalogue_url() -> str:
    """The test catalogue database on the real PostgreSQL, created if missing, with
    its schema dropped and migrated anew once per session."""
    require("postgresql")
    from sqlalchemy import create_engine, text

    admin = create_engine("postgresql+psycopg://chaosfleet:chaosfleet@127.0.0.1:5432/chaosfleet",
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname='chaosfleet_test'"))
        if exists.scalar() is None:
            conn.execute(text("CREATE DATABASE chaosfleet_test"))
    admin.dispose()
    from catalogue.db import create_schema, get_engine

    engine = get_engine(TEST_ENV["CHAOSFLEET_DATABASE_URL"])
    with engine.begin() as conn:  # a clean schema for this session, built by the migrations
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    create_schema(engine)
    return TEST_ENV["CHAOSFLEET_DATABASE_URL"]


@pytest.fixture
def toxiproxy():
    """The fleet's bounded client on the real Toxiproxy, with the reference proxies
    present and free of toxics before and after each test."""
    require("toxiproxy")
    from chaosfleet.core.config import load_config
    from chaosfleet.core.settings import BUNDLED_CONFIG
    from faults.toxiproxy import ToxiproxyClient

    client = ToxiproxyClient("http://127.0.0.1:8474", timeout=2.0)
    proxies = load_config(BUNDLED_CONFIG).target("reference").proxies
    for name, proxy in proxies.items():
        client.ensure_proxy(name, proxy.listen, proxy.upstream)

    def clean() -> None:
        for name in proxies:
            for toxic in client.toxics(name):
                client.remove_toxic(name, toxic["name"])

    clean()
    yield client
    clean()
    client.close()


def toxics_seen_independently(proxy: str) -> list[str]:
    """Toxic names on a proxy, read with toxiproxy-python rather than the fleet's own
    client, so a check of the fleet's work does not trust the fleet's code."""
    from toxiproxy import Toxiproxy

    found = Toxiproxy().get_proxy(proxy)
    return sorted(found.toxics()) if found else []


@pytest.fixture
def hung_listener():
    """A TCP port on loopback that accepts connections and never answers: what a
    hung server looks like to a client."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def target_sessions(application_name_like: str) -> int:
    """Sessions of the reference target's database role whose application_name matches,
    counted in PostgreSQL as the fleet's role: the reference role has no free slot
    while a pool-exhaustion fault holds them."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 dbname=chaosfleet user=chaosfleet "
                         "password=chaosfleet") as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'reftarget' "
                           "AND application_name LIKE %s", (application_name_like,)).fetchone()
        return int(row[0]) if row else 0


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout:g}s")


class JsonHandler:
    """A mixin for the small HTTP apps some tests serve on loopback: quiet, and
    `_answer(status, body)` writes a JSON answer."""

    def log_message(self, *args: object) -> None:
        return

    def _answer(self, status: int, body: dict[str, object] | None = None) -> None:
        import json

        raw = json.dumps(body or {}).encode()
        self.send_response(status)  # type: ignore[attr-defined]
        self.send_header("content-type", "application/json")  # type: ignore[attr-defined]
        self.send_header("content-length", str(len(raw)))  # type: ignore[attr-defined]
        self.end_headers()  # type: ignore[attr-defined]
        self.wfile.write(raw)  # type: ignore[attr-defined]

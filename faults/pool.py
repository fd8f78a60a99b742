"""DB pool exhaustion: hold the target role's connection slots for the window.

The held connections go through the target's allowlisted database proxy (its
listen address is read from Toxiproxy, so the fault cannot reach anything the
allowlist does not name) as the target's own role, named after the lease in
`application_name`. Slots are a role-wide resource in PostgreSQL (`CONNECTION
LIMIT`), so the target cannot open a connection while they are held; with
`evict` its pooled sessions are ended too, so it must reconnect into the
exhausted database.

The connections live in the process that applied the fault. A watchdog thread
closes them as soon as the lease is released or expires, whoever released it;
if that process is killed, the kernel closes them. A revert from any other
process waits for them to vanish and, if the holder is wedged, bounces the
proxy, which drops every connection through it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import psycopg

from faults.base import TOXIC_PREFIX, FaultContext, FaultError, FaultFamily, FaultReport
from faults.specs import PoolExhaustionSpec

log = logging.getLogger("chaosfleet.faults.pool")

CONNECT_TIMEOUT = 2  # libpq's minimum
RELEASE_WITHIN = 3.0  # a revert waits this long for the holder to let go
WATCH_EVERY = 0.1
EVICT_RACE = 0.3  # seconds to keep reconnecting after evicting (the target's backoff is 50 ms+)
SLOTS_FULL = ("too many connections", "remaining connection slots")

_held: dict[str, list[psycopg.Connection[Any]]] = {}
_held_lock = threading.Lock()


def _close_all(conns: list[psycopg.Connection[Any]]) -> None:
    for conn in conns:
        with contextlib.suppress(Exception):
            conn.close()


def _slots_full(exc: psycopg.OperationalError) -> bool:
    return any(marker in str(exc) for marker in SLOTS_FULL)


def proxy_address(listen: str, toxiproxy_url: str) -> tuple[str, int]:
    """Where to reach a proxy from this host. A proxy listening on every address
    (`0.0.0.0:25432`, `[::]:25432`, `:25432`) is reached at the host that serves
    Toxiproxy's API, so a faults worker on another host (or in another container)
    connects to the Toxiproxy host, never to its own loopback."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = urlsplit(toxiproxy_url).hostname or "127.0.0.1"
    return host, int(port)


class PoolExhaustionFault:
    def __init__(self, spec: PoolExhaustionSpec, name: str):
        self.spec = spec
        self.lease_id = name
        # application_name is at most 63 bytes in PostgreSQL
        self.name = (TOXIC_PREFIX + name)[:63]

    # -- connecting

    def _conninfo(self, ctx: FaultContext, app: str) -> dict[str, Any]:
        proxy = ctx.toxiproxy.get_proxy(self.spec.proxy)
        if proxy is None:
            raise FaultError(f"proxy {self.spec.proxy!r} does not exist in toxiproxy")
        host, port = proxy_address(str(proxy["listen"]), ctx.toxiproxy.base_url)
        info: dict[str, Any] = {
            "host": host, "port": port, "dbname": self.spec.database,
            "user": self.spec.user, "application_name": app,
            "connect_timeout": CONNECT_TIMEOUT,
        }
        password = os.environ.get(self.spec.password_env)
        if password is not None:
            info["password"] = password
        return info

    def _connect(self, info: dict[str, Any]) -> psycopg.Connection[Any]:
        return psycopg.connect(**info, autocommit=True)

    # -- the protocol

    def validate(self, ctx: FaultContext) -> None:
        self._conninfo(ctx, self.name)

    def apply(self, ctx: FaultContext) -> None:
        with _held_lock:
            if self.lease_id in _held:
                return
        info = self._conninfo(ctx, self.name)
        conns: list[psycopg.Connection[Any]] = []
        try:
            self._top_up(info, conns)
            deadline = time.monotonic() + 1.0  # win the slots the evicted sessions freed
            while (self.spec.evict and len(conns) < self.spec.connections
                   and time.monotonic() < deadline):
                time.sleep(WATCH_EVERY / 2)
                self._top_up(info, conns)
        except BaseException:
            _close_all(conns)
            raise
        if not conns:
            raise FaultError(f"could not hold a single connection through {self.spec.proxy}: "
                             "the role's slots are already full")
        with _held_lock:
            _held[self.lease_id] = conns
        if ctx.redis is not None:
            ctx.redis.set(self._held_key(ctx), len(conns), ex=86_400)
        log.info("holding %d connection(s) through %s", len(conns), self.spec.proxy)
        threading.Thread(target=self._watch, args=(ctx, info, conns),
                         name=f"hold-{self.lease_id}", daemon=True).start()

    def _top_up(self, info: dict[str, Any], conns: list[psycopg.Connection[Any]]) -> None:
        """Take free slots up to N; with `evict`, first end the role's other
        sessions, so a target reconnecting in a loop never keeps a slot. An ended
        backend frees its slot a moment after `pg_terminate_backend` returns, and
        the target is retrying all along: keep trying for a short while, faster
        than its backoff, or it wins the slot back."""
        evicted = self._evict_others(conns[0]) if self.spec.evict and conns else 0
        race_until = time.monotonic() + (EVICT_RACE if evicted else 0.0)
        while len(conns) < self.spec.connections:
            try:
                conns.append(self._connect(info))
            except psycopg.OperationalError as exc:
                if not _slots_full(exc):
                    raise FaultError(f"connecting through {self.spec.proxy}: {exc}") from None
                if time.monotonic() >= race_until:
                    return
                time.sleep(0.002)

    def _evict_others(self, conn: psycopg.Connection[Any]) -> int:
        """End the role's sessions that are not the fleet's, in this database."""
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = current_user AND datname = current_database() "
            "AND pid <> pg_backend_pid() AND application_name NOT LIKE %s",
            (TOXIC_PREFIX + "%",)).fetchall()
        return sum(1 for (ok,) in rows if ok)

    def _watch(self, ctx: FaultContext, info: dict[str, Any],
               conns: list[psycopg.Connection[Any]]) -> None:
        """Hold until the lease is gone, keeping every slot taken meanwhile."""
        while ctx.lease_alive(self.lease_id):
            time.sleep(WATCH_EVERY)
            if self.spec.evict and len(conns) < self.spec.connections:
                try:
                    self._top_up(info, conns)
                except (FaultError, psycopg.Error) as exc:
                    log.warning("topping up %s: %s", self.lease_id, exc)
        self._release_local()
        _close_all(conns)  # any taken while a revert elsewhere was letting go

    def _release_local(self) -> int:
        with _held_lock:
            conns = _held.pop(self.lease_id, [])
        _close_all(conns)
        if conns:
            log.info("released %d held connection(s) of %s", len(conns), self.lease_id)
        return len(conns)

    def revert(self, ctx: FaultContext) -> None:
        """Let go here if this process holds them; otherwise the holder's watchdog
        lets go (the lease is marked releasing before any revert). Confirm in
        PostgreSQL that no session of this fault is left."""
        self._release_local()
        deadline = time.monotonic() + RELEASE_WITHIN
        while time.monotonic() < deadline:
            if self._count_sessions(ctx) == 0:
                return
            time.sleep(WATCH_EVERY)
        log.warning("held connections of %s outlived %ss; bouncing %s", self.lease_id,
                    RELEASE_WITHIN, self.spec.proxy)
        ctx.toxiproxy.set_enabled(self.spec.proxy, False)
        ctx.toxiproxy.set_enabled(self.spec.proxy, True)
        if self._count_sessions(ctx, wait=RELEASE_WITHIN):
            raise FaultError(f"sessions of {self.name} are still open after the bounce")

    def _count_sessions(self, ctx: FaultContext, wait: float = 0.0) -> int | None:
        """Sessions of this fault in PostgreSQL; None when no slot is free to ask."""
        deadline = time.monotonic() + wait
        while True:
            try:
                with self._connect(self._conninfo(ctx, TOXIC_PREFIX + "inspect")) as conn:
                    row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE application_name = %s", (self.name,)).fetchone()
                    count = int(row[0]) if row else 0
            except psycopg.OperationalError as exc:
                if not _slots_full(exc):
                    raise FaultError(f"counting sessions through {self.spec.proxy}: {exc}"
                                     ) from None
                count = None
            if not count or time.monotonic() >= deadline:
                return count
            time.sleep(WATCH_EVERY)

    def _held_key(self, ctx: FaultContext) -> str:
        return f"{ctx.key_prefix}:fault:{self.lease_id}:held"

    def inspect(self, ctx: FaultContext) -> FaultReport:
        left = self._count_sessions(ctx, wait=1.0)
        held = ctx.redis.get(self._held_key(ctx)) if ctx.redis is not None else None
        report = FaultReport(measured={"held": int(held) if held else 0})
        if left is None:
            report.residue.append(f"{self.spec.user}'s connection slots are still full")
        elif left:
            report.residue.append(f"{left} held connection(s) of {self.name}")
        return report

    def describe(self) -> str:
        evict = ", other sessions evicted" if self.spec.evict else ""
        return (f"{self.spec.connections} connections held as {self.spec.user} "
                f"through {self.spec.proxy}{evict}")


def build(spec: PoolExhaustionSpec, name: str, target: object = None) -> PoolExhaustionFault:
    return PoolExhaustionFault(spec, name)


FAMILY = FaultFamily("pool", (PoolExhaustionSpec,), build)

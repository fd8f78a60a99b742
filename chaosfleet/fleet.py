"""The composition root: one `Fleet` per process builds every client from settings.

The CLI, the API and each worker process make one `Fleet` and take their Redis client,
catalogue database, fleet config, fault control, record writer and Celery app from
it, so no module below builds a client of its own. Each client is built the first
time it is asked for: a command that needs no database never connects to one.

A `Fleet` belongs to the process that built it: a forked child builds its own
(workers do that on `worker_process_init`, see `workers/runtime.py`), because
sockets and the record writer's thread do not survive a fork.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

import redis

from chaosfleet.core.config import FleetConfig, load_config
from chaosfleet.core.presence import PoolProcess, WorkerPresence, pool_processes, read_presence
from chaosfleet.core.settings import Settings

if TYPE_CHECKING:  # the catalogue and the fault library load SQLAlchemy and httpx
    from celery import Celery
    from sqlalchemy.engine import Engine

    from catalogue.matching import Matcher
    from catalogue.recording import RecordWriter
    from chaosfleet.dispatch import CeleryDispatcher
    from faults.control import FaultControl

log = logging.getLogger("chaosfleet.fleet")


def connect_redis(url: str) -> redis.Redis:
    """The fleet's one way to open Redis: bounded timeouts, so a dead Redis is an
    error within seconds, never a hang."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                health_check_interval=10)


class Fleet:
    """Every client an entry point needs, built once from `settings`. Tests and
    embedding code may hand in their own Redis client, config or Celery app."""

    def __init__(self, settings: Settings, *, redis_client: redis.Redis | None = None,
                 config: FleetConfig | None = None, celery: Celery | None = None) -> None:
        self.settings = settings
        # a given client stands in for the built one (cached_property reads __dict__)
        for name, given in (("redis", redis_client), ("config", config), ("celery", celery)):
            if given is not None:
                self.__dict__[name] = given

    def install_clock(self) -> None:
        """Make this fleet's Redis the process's clock (chaosfleet/core/clock.py); it is
        first read when a time is first asked for."""
        from chaosfleet.core import clock

        clock.install(lambda: self.redis.time(), self.settings.clock_offset)

    @cached_property
    def redis(self) -> redis.Redis:
        return connect_redis(self.settings.redis_url)

    @cached_property
    def config(self) -> FleetConfig:
        """The fleet config, read once (restart workers after editing it)."""
        return load_config(self.settings.config_path)

    @cached_property
    def celery(self) -> Celery:
        """A sending-only Celery app with the workers' routes; it does not become
        Celery's current app, so it never shadows a worker's own."""
        from chaosfleet.celery_app import build_celery

        return build_celery(self.settings, set_as_current=False)

    @cached_property
    def catalogue_engine(self) -> Engine:
        from catalogue.db import build_engine, create_schema

        engine = build_engine(self.settings.catalogue_url)
        try:
            create_schema(engine)
        except Exception as exc:  # down now: records spool; whoever starts next migrates
            log.warning("catalogue database not migrated from this process: %s", exc)
        return engine

    @cached_property
    def matcher(self) -> Matcher:
        """The failure catalogue, compiled once."""
        from catalogue.matching import Matcher
        from catalogue.modes import load_catalogue

        return Matcher(load_catalogue(self.settings.catalogue_path))

    @cached_property
    def faults(self) -> FaultControl:
        from faults.base import FaultContext
        from faults.control import FaultControl
        from faults.toxiproxy import ToxiproxyClient

        s = self.settings
        ctx = FaultContext(toxiproxy=ToxiproxyClient(s.toxiproxy_url, s.toxiproxy_timeout),
                           traffic_processes=lambda: pool_processes(self.workers()),
                           signal_traffic_process=self.signal_traffic_process,
                           restart_traffic_pools=self.restart_traffic_pools)
        return FaultControl(self.redis, s.key_prefix, ctx)

    @cached_property
    def record_writer(self) -> RecordWriter:
        """This process's record writer (its thread starts on first use)."""
        from catalogue.db import build_engine
        from catalogue.failures import match_batch
        from catalogue.recording import WRITE_TIMEOUT, Counters, RecordWriter, Spool

        s = self.settings
        matcher = self.matcher
        self.catalogue_engine  # noqa: B018  built first: it migrates the schema
        # an engine of its own: no ping before each use (RecordWriter._write), and
        # bounded statements
        engine = build_engine(s.catalogue_url, pre_ping=False, statement_timeout=WRITE_TIMEOUT)
        return RecordWriter(engine, Spool(s.spool_dir),
                            Counters(self.redis, s.key_prefix),
                            prepare=lambda batch: match_batch(batch, matcher))

    @cached_property
    def dispatcher(self) -> CeleryDispatcher:
        """Sends a run's slices and fault commands on this fleet's Celery app."""
        from chaosfleet.dispatch import CeleryDispatcher

        return CeleryDispatcher(self.celery)

    def workers(self) -> list[WorkerPresence]:
        """Every worker of this fleet, on any host, as it announced itself."""
        return read_presence(self.redis, self.settings.key_prefix)

    def signal_traffic_process(self, process: PoolProcess, signal_name: str) -> bool:
        """Ask the worker that owns `process` (on whatever host) to signal it; True
        when it did. The worker refuses a process id that is not its pool's."""
        replies = self.celery.control.broadcast(
            "chaosfleet_signal_pool", arguments={"pid": process.pid, "signal_name": signal_name},
            destination=[process.node], reply=True, timeout=1.0, limit=1) or []
        return any(reply.get(process.node, {}).get("ok") for reply in replies)

    def restart_traffic_pools(self) -> int:
        """Ask every worker consuming the traffic queue (on any host) to restart its
        pool; only those, so a storm never restarts the pool it runs in."""
        names = [w.node for w in self.workers() if w.serves_traffic]
        if names:
            self.celery.control.pool_restart(destination=names, reload=False)
        return len(names)

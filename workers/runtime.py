"""Per-process clients for tasks, made once per process (and again after a fork)."""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from pathlib import Path

import redis
from sqlalchemy.engine import Engine

from catalogue.db import build_engine, create_schema
from catalogue.failures import match_batch
from catalogue.matching import Matcher
from catalogue.modes import load_catalogue
from catalogue.recording import Counters, RecordWriter, Spool
from chaosfleet.config import FleetConfig, load_config
from chaosfleet.settings import get_settings
from faults.base import FaultContext
from faults.control import FaultControl
from faults.halts import find_traffic_pool_pids
from faults.toxiproxy import ToxiproxyClient

log = logging.getLogger("chaosfleet.runtime")


@lru_cache(maxsize=4)
def _redis(pid: int) -> redis.Redis:
    return redis.Redis.from_url(
        get_settings().redis_url, socket_timeout=5, socket_connect_timeout=3,
        health_check_interval=10,
    )


def redis_client() -> redis.Redis:
    return _redis(os.getpid())


_traffic_workers: tuple[float, list[str]] = (0.0, [])
TRAFFIC_WORKERS_TTL = 10.0  # seconds a list of traffic workers is reused


def restart_traffic_pools() -> int:
    """Ask every worker consuming the traffic queue (on any host) to restart its
    pool; only those, so a storm never restarts the pool it runs in. The list of
    workers costs a one-second broadcast, so it is reused for a few seconds."""
    global _traffic_workers
    from workers.app import app

    found_at, names = _traffic_workers
    if time.monotonic() - found_at > TRAFFIC_WORKERS_TTL or not names:
        replies = app.control.inspect(timeout=1.0).active_queues() or {}
        names = [name for name, queues in replies.items()
                 if any(q.get("name") == "traffic" for q in queues)]
        _traffic_workers = (time.monotonic(), names)
    if names:
        app.control.pool_restart(destination=names, reload=False)
    return len(names)


@lru_cache(maxsize=4)
def _faults(pid: int) -> FaultControl:
    s = get_settings()
    ctx = FaultContext(toxiproxy=ToxiproxyClient(s.toxiproxy_url, s.toxiproxy_timeout),
                       local_traffic_pids=find_traffic_pool_pids,
                       restart_traffic_pools=restart_traffic_pools)
    return FaultControl(redis_client(), s.key_prefix, ctx)


def fault_control() -> FaultControl:
    return _faults(os.getpid())


@lru_cache(maxsize=4)
def _config(path: str) -> FleetConfig:
    return load_config(Path(path))


def fleet_config() -> FleetConfig:
    """The fleet config, read once per process (restart workers after editing it)."""
    return _config(str(get_settings().config_path))


@lru_cache(maxsize=4)
def _catalogue(pid: int, url: str) -> Engine:
    engine = build_engine(url)
    try:
        create_schema(engine)
    except Exception as exc:  # down now: records spool; whoever starts next migrates
        log.warning("catalogue database not migrated from this process: %s", exc)
    return engine


def catalogue_engine() -> Engine:
    return _catalogue(os.getpid(), get_settings().catalogue_url)


@lru_cache(maxsize=1)
def matcher() -> Matcher:
    """The failure catalogue, compiled once per process."""
    return Matcher(load_catalogue(get_settings().catalogue_path))


@lru_cache(maxsize=4)
def _writer(pid: int) -> RecordWriter:
    s = get_settings()
    return RecordWriter(catalogue_engine(), Spool(s.spool_dir),
                        Counters(redis_client(), s.key_prefix),
                        prepare=lambda batch: match_batch(batch, matcher()))


def record_writer() -> RecordWriter:
    """This process's record writer (its thread starts on first use)."""
    return _writer(os.getpid())

"""The fleet's side of the benchmarks: real workers (prefork, as in production), a
real run through the controller, the ledger on; figures read from the ledger.

The environment (Redis database 11, the `chaosfleet_bench` database, a bench fleet
config naming the nginx target) is set by `bench.env` before anything imports the
fleet's settings.
"""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import text

from bench.locust_side import LoadResult
from chaosfleet.cli.procs import Proc, start_workers, stop_all
from tests.e2e.hosts import Host, start_host

LOG_DIR = Path(tempfile.gettempdir()) / "chaosfleet-bench-logs"


@dataclass
class Fleet:
    procs: dict[str, Proc]
    traffic_processes: int
    hosts: list[Host] = field(default_factory=list)

    def traffic_pids(self) -> list[int]:
        """The traffic worker's pool processes (children of its main process)."""
        main = self.procs["traffic"].popen.pid
        children = Path(f"/proc/{main}/task/{main}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []


@contextmanager
def fleet(traffic_processes: int, traffic_hosts: int = 0) -> Iterator[Fleet]:
    """control, faults and a traffic worker with `traffic_processes` processes; or,
    with `traffic_hosts`, that many simulated hosts (tests/e2e/hosts.py: their own
    PID and UTS namespaces and working directories), sharing the processes."""
    os.environ["CHAOSFLEET_TRAFFIC_CONCURRENCY"] = str(traffic_processes)
    from chaosfleet.core.settings import get_settings, reset_settings

    reset_settings()
    redis.Redis.from_url(get_settings().redis_url).flushdb()
    tag = uuid.uuid4().hex[:6]
    env = {"CHAOSFLEET_TRAFFIC_CONCURRENCY": str(traffic_processes)}
    procs = dict(zip(("control", "faults"),
                     start_workers(("control", "faults"), tag, LOG_DIR, env=env), strict=True))
    hosts: list[Host] = []
    try:
        if traffic_hosts:
            root = Path(tempfile.mkdtemp(prefix="bench-hosts-"))
            hosts = [start_host(f"bench-host-{i}", ["traffic"], root / str(i), env,
                                concurrency=traffic_processes // traffic_hosts)
                     for i in range(traffic_hosts)]
            for host in hosts:
                host.wait_ready()
        else:
            procs["traffic"] = start_workers(["traffic"], tag, LOG_DIR, env=env,
                                             concurrency=traffic_processes)[0]
        yield Fleet(procs, traffic_processes, hosts)
    finally:
        for host in hosts:
            host.stop()
        stop_all(procs.values())


def http_scenario(folder: Path, rate: float, seconds: int, concurrency: int,
                  faults: str = "[]") -> Path:
    path = folder / f"bench-http-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: bench-http
        target: bench-nginx
        seed: 7
        traffic:
          rate: {rate}
          duration: {seconds}s
          concurrency: {concurrency}
          operations: [{{name: get}}]
        faults: {faults}
        steady_state: {{probes: [up], max_error_rate: 1}}
        during_fault: {{max_p95_ms: null, max_timeout_rate: null}}
        recovery: {{within: 1s, max_error_rate: 1}}
        """))
    return path


def run_scenario(path: Path) -> dict:
    """Trigger a run as `chaosfleet run` does and return its journal."""
    from chaosfleet.cli.common import fleet as clients
    from chaosfleet.core.settings import get_settings
    from chaosfleet.jobs.trigger import follow_run, prepare_run, submit_run

    settings = get_settings()
    request = prepare_run(path, clients().config, settings)
    submit_run(clients().celery, request)
    final = follow_run(request, redis.Redis.from_url(settings.redis_url), settings,
                       lambda _: None)
    if not final.get("journal"):
        raise RuntimeError(f"bench run {request.run_id} ended without a journal: {final}")
    return json.loads(Path(final["journal"]).read_text())


def ledger_figures(run_id: str, seconds: float) -> LoadResult:
    from catalogue.db import get_engine
    from chaosfleet.core.settings import get_settings

    engine = get_engine(get_settings().catalogue_url)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE outcome <> 'ok'), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) "
            "FROM ledger WHERE run_id = :r"), {"r": run_id}).one()
    return LoadResult(rps=row[0] / seconds, p50_ms=row[2] or 0.0, p99_ms=row[3] or 0.0,
                      requests=row[0], failures=row[1])


def run_http(rate: float, seconds: int, concurrency: int) -> tuple[LoadResult, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
        journal = run_scenario(http_scenario(Path(folder), rate, seconds, concurrency))
    if journal["verdict"] == "error":
        raise RuntimeError(f"bench run failed: {journal['reason']}")
    return ledger_figures(journal["run_id"], seconds), journal


def peak_rss_mib(pids: list[int]) -> float:
    """The largest peak resident set (VmHWM) among the given processes."""
    peaks = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return max(peaks, default=0.0)

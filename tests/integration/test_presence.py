"""Worker presence in real Redis, and a worker halt storm that spreads over hosts."""

import json
import time

import pytest

from chaosfleet.core import presence
from chaosfleet.core.presence import (
    PoolProcess,
    WorkerPresence,
    announce,
    pool_processes,
    read_presence,
    traffic_processes,
    withdraw,
)
from faults.base import FaultContext
from faults.halts import WorkerHaltStorm
from faults.specs import WorkerHaltStormSpec
from faults.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration


def worker(node: str, host: str, queues=("traffic",), pool=(11, 12)) -> WorkerPresence:
    return WorkerPresence(node=node, host=host, pid=1, queues=queues, concurrency=len(pool) or 1,
                          pool=pool, config_hash="abc")


def test_workers_announce_from_every_host_and_leave(redis_client):
    announce(redis_client, "t", worker("traffic-a@h1", "h1", pool=(11, 12)))
    announce(redis_client, "t", worker("traffic-b@h2", "h2", pool=(21, 22, 23)))
    announce(redis_client, "t", worker("faults-c@h3", "h3", queues=("faults",), pool=(31,)))
    found = read_presence(redis_client, "t")
    assert [w.node for w in found] == ["faults-c@h3", "traffic-a@h1", "traffic-b@h2"]
    assert traffic_processes(found) == 5  # the faults worker's pool is not traffic
    assert {(p.host, p.pid) for p in pool_processes(found)} == {
        ("h1", 11), ("h1", 12), ("h2", 21), ("h2", 22), ("h2", 23)}
    withdraw(redis_client, "t", "traffic-a@h1")
    assert [w.node for w in read_presence(redis_client, "t")] == ["faults-c@h3", "traffic-b@h2"]


def test_a_worker_that_stops_announcing_drops_out(redis_client, monkeypatch):
    monkeypatch.setattr(presence, "ANNOUNCE_TTL", 0.3)
    announce(redis_client, "t", worker("traffic-a@h1", "h1"))
    assert read_presence(redis_client, "t")
    deadline = time.monotonic() + 5
    while read_presence(redis_client, "t") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_presence(redis_client, "t") == []
    assert redis_client.zcard("t:workers") == 0  # the index is pruned too


def test_a_garbage_record_is_not_a_worker(redis_client):
    announce(redis_client, "t", worker("traffic-a@h1", "h1"))
    redis_client.zadd("t:workers", {"junk@h9": time.time() + 60})
    redis_client.set("t:worker:junk@h9", b"\xff{not json")
    assert [w.node for w in read_presence(redis_client, "t")] == ["traffic-a@h1"]


def test_a_worker_halt_storm_reaches_processes_on_every_host(redis_client):
    processes = [PoolProcess("traffic-a@h1", "h1", 11), PoolProcess("traffic-a@h1", "h1", 12),
                 PoolProcess("traffic-b@h2", "h2", 21), PoolProcess("traffic-b@h2", "h2", 22)]
    sent: list[tuple[PoolProcess, str]] = []

    def signal(process: PoolProcess, name: str) -> bool:
        sent.append((process, name))
        return process.pid != 22  # one process has exited meanwhile

    ctx = FaultContext(toxiproxy=ToxiproxyClient("http://127.0.0.1:1"), redis=redis_client,
                       key_prefix="t", traffic_processes=lambda: processes,
                       signal_traffic_process=signal)
    storm = WorkerHaltStorm(WorkerHaltStormSpec(type="worker_halt_storm", every=0.001,
                                                start=0, duration=1), "lease-x")
    for _ in range(60):
        storm.tick(ctx)
        time.sleep(0.002)
    report = storm.inspect(ctx)
    hits = [p for p, _ in sent if p.pid != 22]
    assert {p.host for p, _ in sent} == {"h1", "h2"} and {n for _, n in sent} == {"SIGKILL"}
    assert report.measured["signals"] == len(hits)
    assert report.measured["hosts"] == {h: sum(p.host == h for p in hits) for h in ("h1", "h2")}
    # hosts in turn: h1 and h2 alternate, whichever process of each is picked
    assert [p.host for p, _ in sent][:6] == ["h1", "h2"] * 3
    assert report.measured["processes"] == 3
    ((_, passed, detail),) = report.checks
    assert passed and "to 3 traffic processes on 2 host(s)" in detail
    assert "missed their process" in detail


def test_chaosfleet_workers_lists_the_fleet_and_checks_this_host():
    import socket

    import redis
    from click.testing import CliRunner

    from chaosfleet.cli.main import main
    from chaosfleet.core.settings import get_settings

    s = get_settings()
    client = redis.Redis.from_url(s.redis_url)
    client.delete(f"{s.key_prefix}:workers")
    alone = CliRunner().invoke(main, ["workers", "--here"])
    assert alone.exit_code == 1 and "no worker on" in alone.output
    here = socket.gethostname()
    announce(client, s.key_prefix, worker(f"traffic-x@{here}", here, pool=(5, 6, 7)))
    announce(client, s.key_prefix, WorkerPresence(
        node="faults-y@elsewhere", host="elsewhere", pid=9, queues=("faults",), concurrency=2,
        config_hash="other", skew=5.02))
    try:
        healthy = CliRunner().invoke(main, ["workers", "--here"])
        assert healthy.exit_code == 0, healthy.output
        listed = CliRunner().invoke(main, ["workers"])
        assert "2 worker(s) on 2 host(s)" in listed.output and "disagree" in listed.output
        assert "+5.02s" in listed.output
        shown = CliRunner().invoke(main, ["workers", "--output", "json"])
        assert {w["node"] for w in json.loads(shown.output)} == {f"traffic-x@{here}",
                                                                "faults-y@elsewhere"}
    finally:
        withdraw(client, s.key_prefix, f"traffic-x@{here}")
        withdraw(client, s.key_prefix, "faults-y@elsewhere")

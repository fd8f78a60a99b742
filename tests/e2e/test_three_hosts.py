"""The fleet as three hosts on one machine (tests/e2e/hosts.py): host A runs the
control and faults workers, hosts B and C one traffic worker each (2 processes).
Each host has its own host name, /proc and working directory; they share only
Redis, PostgreSQL and Toxiproxy on 127.0.0.1. Host C's clock runs 5 s ahead, and
it reaches the catalogue database through a Toxiproxy proxy of its own, so the
last test can cut it off."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from catalogue.recording import read_counters, spool_holders
from chaosfleet.core.settings import get_settings
from chaosfleet.jobs.trigger import follow_run
from chaosfleet.runner.state import RunState
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import TEST_ENV, wait_for
from tests.e2e.conftest import run_to_verdict, submit, write_scenario
from tests.e2e.hosts import Host, require_namespaces, run_as_host, start_host

pytestmark = pytest.mark.e2e

TRAFFIC_HOSTS = {"cf-host-b", "cf-host-c"}
CATALOGUE_PROXY = "cf-host-c-catalogue"

HALT_STORM = """\
name: three-host-halt-storm
target: reference
seed: 23
traffic:
  rate: 40
  duration: 15s
  concurrency: 16
  operations:
    - name: create_order
      payload:
        customer: {faker: name}
        sku: {faker: bothify, args: ["SKU-####"]}
        quantity: {faker: pyint, kwargs: {min_value: 1, max_value: 9}}
faults:
  - {type: worker_halt_storm, signal: SIGKILL, every: 1s, start: 3s, duration: 6s}
steady_state: {probes: [healthy]}
during_fault: {max_timeout_rate: 0}
recovery: {within: 6s, max_error_rate: 0.02}
"""

HOST_KILL = """\
name: three-host-kill
target: reference
seed: 29
traffic:
  rate: 40
  duration: 15s
  concurrency: 8
  operations:
    - name: create_order
      payload:
        customer: {faker: name}
        sku: {faker: bothify, args: ["SKU-####"]}
        quantity: {faker: pyint, kwargs: {min_value: 1, max_value: 9}}
steady_state: {probes: [healthy]}
recovery: {within: 5s}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def three_hosts(e2e_dir, reference_target):
    require_namespaces()
    redis.Redis.from_url(TEST_ENV["CHAOSFLEET_REDIS_URL"]).flushdb()
    toxiproxy = ToxiproxyClient("http://127.0.0.1:8474")
    port = free_port()
    toxiproxy.ensure_proxy(CATALOGUE_PROXY, f"127.0.0.1:{port}", "127.0.0.1:5432")
    c_env = {"CHAOSFLEET_CLOCK_OFFSET": "5",
             "CHAOSFLEET_DATABASE_URL": TEST_ENV["CHAOSFLEET_DATABASE_URL"].replace(
                 "127.0.0.1:5432", f"127.0.0.1:{port}")}
    root = e2e_dir / "hosts"
    hosts = {"a": start_host("cf-host-a", ["control", "faults"], root / "a"),
             "b": start_host("cf-host-b", ["traffic"], root / "b"),
             "c": start_host("cf-host-c", ["traffic"], root / "c", c_env)}
    try:
        for host in hosts.values():
            host.wait_ready()
        yield hosts, c_env
    finally:
        for host in hosts.values():
            host.stop()
        toxiproxy.delete_proxy(CATALOGUE_PROXY)


def test_db_pool_exhaustion_passes_from_a_faults_host_that_is_not_toxiproxys(three_hosts,
                                                                           reference_target):
    final, journal = run_to_verdict("db-pool-exhaustion", reference_target(""))
    assert final["verdict"] == "passed", final["reason"]
    fleet = journal["fleet"]
    assert set(fleet["hosts"]) == {"cf-host-a", *TRAFFIC_HOSTS}
    assert fleet["traffic_processes"] == 4 and fleet["slices_per_window"] == 2
    faults_hosts = {w["host"] for w in fleet["workers"] if "faults" in w["queues"]}
    assert faults_hosts == {"cf-host-a"} != {socket.gethostname()}  # Toxiproxy's host
    # host C's clock is 5 s ahead: named, and no janitor reverted the fault early
    assert any("on cf-host-c is +5." in note for note in journal["notes"]), journal["notes"]
    (fault,) = journal["faults"]
    assert fault["reverted_by"] != "janitor"
    assert fault["reverted"] >= fault["end"] - 0.2  # not before its scheduled end
    assert journal["ledger"]["lost"] == 0


def test_a_halt_storm_hits_both_traffic_hosts_and_its_report_is_read_elsewhere(
        three_hosts, reference_target, tmp_path):
    hosts, _ = three_hosts
    path = write_scenario(tmp_path, "three-host-halt-storm", HALT_STORM)
    final, journal = run_to_verdict(path, reference_target(""))
    assert final["verdict"] == "passed", final["reason"]
    (measured,) = journal["fault_measurements"]
    assert set(measured["hosts"]) == TRAFFIC_HOSTS and min(measured["hosts"].values()) >= 2
    assert journal["ledger"]["lost"] == 0
    assert journal["effects"]["duplicates"] == 0
    assert journal["effects"]["keys"] == journal["ledger"]["ok"]
    # the report, on a host that did not run the controller and has no journal file
    b: Host = hosts["b"]
    assert Path(final["journal"]).is_relative_to(hosts["a"].workdir)
    assert not (b.workdir / "reports").exists()
    shown = b.run("report", journal["run_id"])
    assert shown.returncode == 0, shown.stderr
    for check in journal["checks"]:
        assert check["name"] in shown.stdout


def test_a_traffic_host_killed_with_records_in_its_spool_is_named_in_the_verdict(
        three_hosts, reference_target, tmp_path):
    hosts, c_env = three_hosts
    c: Host = hosts["c"]
    s = get_settings()
    client = redis.Redis.from_url(s.redis_url)
    toxiproxy = ToxiproxyClient("http://127.0.0.1:8474")
    toxiproxy.set_enabled(CATALOGUE_PROXY, False)  # host C is cut off from the catalogue
    request = submit(write_scenario(tmp_path, "three-host-kill", HOST_KILL),
                     reference_target(""))
    run_id = request.run_id
    wait_for(lambda: spool_holders(client, s.key_prefix, run_id).get("cf-host-c"), 45,
             "host C spooled records of the run")
    assert list((c.workdir / ".chaosfleet" / "spool").glob("*.jsonl"))
    c.kill()  # all of host C at once, mid-run, its spool unsent
    held = spool_holders(client, s.key_prefix, run_id)["cf-host-c"]
    final = follow_run(request, client, s, lambda _: None)
    assert final["verdict"] == "error"
    assert f"{held} on host cf-host-c (no worker of it is running" in final["reason"]
    assert RunState(client, s.key_prefix, run_id).progress()["phase"] == "done"

    # the host comes back, with the catalogue in reach: its spool is written
    toxiproxy.set_enabled(CATALOGUE_PROXY, True)
    back = run_as_host("cf-host-c", c.workdir, c_env, "catalogue", "backfill")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"backfilled {held} records" in back.stdout
    assert spool_holders(client, s.key_prefix, run_id) == {}
    assert read_counters(client, s.key_prefix, run_id)["pending"] == 0

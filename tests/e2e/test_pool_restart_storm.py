"""Worker halt storm by Celery pool restarts: every traffic worker's pool is
restarted once a second (each child exits after its slice in hand and is
replaced). The pool really is replaced, and no operation is lost or doubled."""

import pytest

from chaosfleet.cli.procs import stop_all
from tests.e2e.conftest import run_to_verdict, start_fleet, traffic_pids, write_scenario

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: pool-restart-storm
target: reference
seed: 5
traffic:
  rate: 30
  duration: 14s
  concurrency: 8
  operations:
    - name: create_order
      payload:
        customer: {faker: name}
        sku: {faker: bothify, args: ["SKU-####"]}
        quantity: {faker: pyint, kwargs: {min_value: 1, max_value: 9}}
faults:
  - {type: worker_halt_storm, signal: pool_restart, every: 1s, start: 2s, duration: 6s}
steady_state: {probes: [healthy]}
during_fault: {max_timeout_rate: 0}
recovery: {within: 6s, max_error_rate: 0.02}
"""


def test_pool_restart_storm_replaces_the_pool_and_loses_nothing(e2e_dir, reference_target,
                                                                tmp_path):
    base_url = reference_target("")
    fleet = start_fleet(e2e_dir)
    try:
        before = traffic_pids()
        assert before, "the traffic worker's pool must be visible"
        final, journal = run_to_verdict(write_scenario(tmp_path, "prs", SCENARIO), base_url)
        after = traffic_pids()
    finally:
        stop_all(fleet.values())
    assert final["verdict"] == "passed", final["reason"]
    assert before.isdisjoint(after), "every pool process must have been replaced"
    (measured,) = journal["fault_measurements"]
    assert measured["signals"] >= 3
    assert journal["ledger"]["lost"] == 0
    assert journal["ledger"]["dead_lettered"] == 0
    assert journal["effects"]["duplicates"] == 0
    assert journal["effects"]["keys"] == journal["ledger"]["ok"]

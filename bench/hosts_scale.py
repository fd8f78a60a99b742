"""Traffic over three simulated hosts against one, with the same total of traffic
processes (3): the fleet's throughput must not drop when it spreads over hosts
(issue 17's bound: ratio >= 0.9). Hosts are PID/UTS namespaces with their own
working directories (tests/e2e/hosts.py), so each announces itself, and slices are
spread over them by Celery alone. Alternating rounds, median of the paired ratios;
figures in bench/last-hosts.json.

    .venv/bin/python -m bench.hosts_scale
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.env import use_bench_environment

ROUNDS = 3
PROCESSES = 3
SECONDS = 10
IN_FLIGHT = 32
RATE = 60_000  # well above what this machine serves: the offer must not be the ceiling


def across_hosts() -> dict[str, Any]:
    from bench.fleet_side import fleet, run_http
    from bench.perf import ratio_rows
    from tests.e2e.hosts import require_namespaces

    require_namespaces()
    pairs = []
    for i in range(ROUNDS):
        print(f"  round {i + 1}/{ROUNDS}: 1 host x {PROCESSES} processes, then "
              f"{PROCESSES} hosts x 1", file=sys.stderr)
        with fleet(PROCESSES):
            one, _ = run_http(RATE, SECONDS, IN_FLIGHT)
        with fleet(PROCESSES, traffic_hosts=PROCESSES):
            many, journal = run_http(RATE, SECONDS, IN_FLIGHT)
        hosts = journal["fleet"]["hosts"]
        if len([h for h in hosts if h.startswith("bench-host-")]) != PROCESSES:
            raise RuntimeError(f"the run did not see {PROCESSES} traffic hosts: {hosts}")
        pairs.append((many.rps, one.rps))
    many_rps, one_rps, ratio = ratio_rows(pairs)
    return {"one_host_rps": one_rps, "three_hosts_rps": many_rps, "ratio": ratio,
            "rounds": [{"three_hosts_rps": m, "one_host_rps": o} for m, o in pairs]}


def main() -> None:
    use_bench_environment()
    from bench.ledger_dlq import prepare
    from bench.nginx import serve_static

    prepare()
    started = time.monotonic()
    with serve_static():
        result = across_hosts()
    result["seconds"] = round(time.monotonic() - started)
    result["date"] = time.strftime("%Y-%m-%d")
    Path(__file__).with_name("last-hosts.json").write_text(json.dumps(result, indent=2))
    print(f"HTTP req/s, {PROCESSES} traffic hosts vs 1 ({PROCESSES} processes in all): "
          f"{result['three_hosts_rps']:,.0f} vs {result['one_host_rps']:,.0f}, "
          f"ratio {result['ratio']:.2f}; rounds "
          + ", ".join(f"{r['three_hosts_rps'] / r['one_host_rps']:.2f}"
                      for r in result["rounds"]))


if __name__ == "__main__":
    main()

"""Traffic over three simulated hosts against one, with the same total of traffic
processes (3): the fleet's throughput must not drop when it spreads over hosts
(issue 17's bound: ratio >= 0.9). Hosts are PID/UTS namespaces with their own
working directories (tests/e2e/hosts.py), so each announces itself, and slices are
spread over them by Celery alone. Rounds alternate which side runs first; the median
of the paired ratios, and the figures, go to bench/last-hosts.json.

    .venv/bin/python -m bench.hosts_scale
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.env import use_bench_environment

ROUNDS = 4  # an even count: each side goes first as often
PROCESSES = 3
SECONDS = 10
IN_FLIGHT = 32
RATE = 60_000  # well above what this machine serves: the offer must not be the ceiling


def run_on_hosts(hosts: int) -> float:
    """Requests/s of one run on `hosts` simulated hosts (1: one plain worker)."""
    from bench.fleet_side import fleet, run_http

    with fleet(PROCESSES, traffic_hosts=0 if hosts == 1 else hosts):
        result, journal = run_http(RATE, SECONDS, IN_FLIGHT)
    if hosts > 1:
        seen = [h for h in journal["fleet"]["hosts"] if h.startswith("bench-host-")]
        if len(seen) != hosts:
            raise RuntimeError(f"the run did not see {hosts} traffic hosts: {seen}")
    return result.rps


def across_hosts() -> dict[str, Any]:
    from bench.perf import ratio_rows
    from tests.e2e.hosts import require_namespaces

    require_namespaces()
    pairs = []
    for i in range(ROUNDS):
        # the order alternates: the ledger grows run by run, and the second run of a
        # fixed pair would always write into the bigger table
        sides = [1, PROCESSES] if i % 2 == 0 else [PROCESSES, 1]
        print(f"  round {i + 1}/{ROUNDS}: " + ", then ".join(
            f"{n} host(s) x {PROCESSES // n}" for n in sides), file=sys.stderr)
        rps = {n: run_on_hosts(n) for n in sides}
        pairs.append((rps[PROCESSES], rps[1]))
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

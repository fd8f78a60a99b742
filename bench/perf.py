"""`make bench`'s performance half: the fleet against Locust and raw Celery, fault
timing, scale-out and memory, on this machine, printed as one table.

Each comparison runs both sides in this one invocation, alternating, for several
rounds, and reports the median of the paired ratios: a noisy moment on a shared
machine hits both sides, not one. Needs Redis, PostgreSQL and Toxiproxy
(scripts/services.sh); installs nginx (Debian) and Locust (its own virtualenv,
bench/.venv-locust) on first use. Figures land in bench/last-perf.json too.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.env import use_bench_environment

ROUNDS = 6            # an even count: the fleet and Locust each go first three times
SECONDS = 10          # traffic per HTTP round
PROCESSES = 2         # load-generating processes on each side
IN_FLIGHT = 32        # per fleet slice; Locust gets PROCESSES x IN_FLIGHT users
RATE = 60_000         # the fleet's offered rate: well above what this machine can serve


def ratio_rows(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Medians of each side and of the per-round ratios."""
    a, b = zip(*pairs, strict=True)
    return statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in pairs)


def http_vs_locust(url: str) -> dict[str, Any]:
    from bench.fleet_side import fleet, peak_rss_mib, run_http
    from bench.locust_side import run_locust

    rounds = []
    with fleet(PROCESSES) as f:
        for i in range(ROUNDS):
            fleet_first = i % 2 == 0  # each side goes first as often
            print(f"  round {i + 1}/{ROUNDS}: "
                  + ("fleet, then Locust" if fleet_first else "Locust, then fleet"),
                  file=sys.stderr)
            if not fleet_first:
                theirs = run_locust(url, PROCESSES, PROCESSES * IN_FLIGHT, SECONDS)
            ours, journal = run_http(RATE, SECONDS, IN_FLIGHT)
            if fleet_first:
                theirs = run_locust(url, PROCESSES, PROCESSES * IN_FLIGHT, SECONDS)
            rounds.append((ours, theirs, journal.get("not_sent", 0)))
        memory = peak_rss_mib(f.traffic_pids())
    fleet_rps, locust_rps, ratio = ratio_rows([(o.rps, t.rps) for o, t, _ in rounds])
    return {
        "fleet_rps": fleet_rps, "locust_rps": locust_rps, "ratio": ratio,
        "fleet_p50_ms": statistics.median(o.p50_ms for o, _, _ in rounds),
        "fleet_p99_ms": statistics.median(o.p99_ms for o, _, _ in rounds),
        "locust_p50_ms": statistics.median(t.p50_ms for _, t, _ in rounds),
        "locust_p99_ms": statistics.median(t.p99_ms for _, t, _ in rounds),
        "fleet_failures": sum(o.failures for o, _, _ in rounds),
        "locust_failures": sum(t.failures for _, t, _ in rounds),
        "peak_rss_mib": memory,
        "rounds": [{"fleet_rps": o.rps, "locust_rps": t.rps} for o, t, _ in rounds],
    }


def scale_out() -> dict[str, Any]:
    from bench.fleet_side import fleet, run_http

    pairs = []
    for i in range(2):
        print(f"  round {i + 1}/2: 1 traffic process, then 2", file=sys.stderr)
        with fleet(1):
            one, _ = run_http(RATE, SECONDS, IN_FLIGHT)
        with fleet(2):
            two, _ = run_http(RATE, SECONDS, IN_FLIGHT)
        pairs.append((two.rps, one.rps))
    two_rps, one_rps, ratio = ratio_rows(pairs)
    return {"one_rps": one_rps, "two_rps": two_rps, "ratio": ratio}


def fleet_internals() -> dict[str, Any]:
    import redis

    from bench import dispatch, fault_timing
    from bench.fleet_side import fleet
    from chaosfleet.cli.common import fleet as clients
    from chaosfleet.cli.procs import ROLES
    from chaosfleet.core.settings import get_settings

    target = clients().config.target("bench-nginx")
    client = redis.Redis.from_url(get_settings().redis_url)
    with fleet(1):
        print("  dispatch: slices and raw no-op tasks, one traffic process", file=sys.stderr)
        costs = dispatch.measure(client, target)  # type: ignore[arg-type]
        print("  fault timing: 30 scheduled faults, then 5 SIGKILLs", file=sys.stderr)
        timing = fault_timing.apply_and_revert()
        killed = fault_timing.expiry_to_revert_after_sigkill(target)  # type: ignore[arg-type]
    # one process shows a slice's cost end to end, every step waiting on the last; a
    # traffic worker as shipped runs several, as the fleet runs slices
    shipped = ROLES["traffic"][1]
    with fleet(shipped):
        print(f"  dispatch: the same, {shipped} traffic processes", file=sys.stderr)
        shipped_costs = dispatch.measure(client, target)  # type: ignore[arg-type]
    return {"dispatch": costs, "dispatch_shipped": {**shipped_costs, "processes": shipped},
            "faults": timing, "sigkill": killed}


def python_target() -> dict[str, Any]:
    import redis

    from bench.python_overhead import measure
    from catalogue.db import get_engine
    from chaosfleet.core.settings import get_settings

    settings = get_settings()
    return measure(get_engine(settings.catalogue_url), redis.Redis.from_url(settings.redis_url))


def print_table(r: dict[str, Any]) -> None:
    h, s, i, p, f = r["http"], r["scale"], r["internals"], r["python"], r["internals"]["faults"]
    d, ds, k = i["dispatch"], i["dispatch_shipped"], i["sigkill"]
    rows = [
        ("HTTP req/s, fleet vs Locust (2 processes, 64 in flight)",
         f"{h['fleet_rps']:,.0f} vs {h['locust_rps']:,.0f}", f"{h['ratio']:.2f}"),
        ("  p50 / p99 ms, fleet", f"{h['fleet_p50_ms']:.1f} / {h['fleet_p99_ms']:.1f}", ""),
        ("  p50 / p99 ms, Locust", f"{h['locust_p50_ms']:.1f} / {h['locust_p99_ms']:.1f}", ""),
        ("python target, no-op callable: slice ops/s (overhead/op)",
         f"{p['noop']['fleet']:,.0f} ({p['noop']['overhead_us']:.1f} us)", ""),
        ("python target, 20 us callable: slice vs bare loop ops/s",
         f"{p['work_20us']['fleet']:,.0f} vs {p['work_20us']['bare']:,.0f}",
         f"{p['work_20us']['ratio']:.2f}"),
        ("python target, validate_order: slice vs bare loop ops/s",
         f"{p['validate_order']['fleet']:,.0f} vs {p['validate_order']['bare']:,.0f}",
         f"{p['validate_order']['ratio']:.2f}"),
        ("dispatch ms/task, slice (1 op) vs raw no-op, 1 process",
         f"{d['slice_ms']:.2f} vs {d['noop_ms']:.2f}", f"{d['ratio']:.2f}"),
        (f"  the same, {ds['processes']} processes (the traffic role's default)",
         f"{ds['slice_ms']:.2f} vs {ds['noop_ms']:.2f}", f"{ds['ratio']:.2f}"),
        ("fault start -> toxic active, p50 / p99 ms",
         f"{f['apply_p50_ms']:.0f} / {f['apply_p99_ms']:.0f}", ""),
        ("fault end -> seen reverted, p50 / p99 ms",
         f"{f['revert_p50_ms']:.0f} / {f['revert_p99_ms']:.0f}", ""),
        ("lease expiry -> revert after SIGKILL, median / max ms",
         f"{k['median_ms']:.0f} / {k['max_ms']:.0f}", ""),
        ("HTTP req/s, 2 traffic processes vs 1", f"{s['two_rps']:,.0f} vs {s['one_rps']:,.0f}",
         f"{s['ratio']:.2f}"),
        ("peak RSS of one traffic process under load", f"{h['peak_rss_mib']:.0f} MiB", ""),
    ]
    print(f"\n{'benchmark':58} {'result':>22} {'ratio':>7}")
    for name, value, ratio in rows:
        print(f"{name:58} {value:>22} {ratio:>7}")


def main() -> None:
    use_bench_environment()
    from bench.ledger_dlq import prepare
    from bench.locust_side import ensure_locust
    from bench.nginx import serve_static

    prepare()  # the bench database and its schema
    ensure_locust()
    started = time.monotonic()
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"),
                               "machine": f"{platform.machine()}, {_cores()} cores, "
                                          f"{_memory_gib():.0f} GiB, Python "
                                          f"{platform.python_version()}"}
    with serve_static() as url:
        print("HTTP: fleet vs Locust against nginx", file=sys.stderr)
        results["http"] = http_vs_locust(url)
        print("scale-out: 1 vs 2 traffic processes", file=sys.stderr)
        results["scale"] = scale_out()
        print("fleet internals", file=sys.stderr)
        results["internals"] = fleet_internals()
    print("python target overhead", file=sys.stderr)
    results["python"] = python_target()
    results["seconds"] = round(time.monotonic() - started)
    Path(__file__).with_name("last-perf.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\n{results['machine']}; {results['date']}; took {results['seconds']} s")


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


if __name__ == "__main__":
    main()

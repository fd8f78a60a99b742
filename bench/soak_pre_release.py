"""`make soak`: the pre-release suite, N times in a row, against the healthy
reference target, while a CPU-bound process at normal priority keeps one core busy.

A release gate that fails healthy releases on a busy machine gets switched off;
this measures whether it does. Each round plans the suite afresh, runs it on one
fleet (one worker per role, as the demo starts them) and records its verdict, the
checks that failed, how late each fault was applied, the fleet's own send lag, and
the tightest margin of the latency and error-rate checks. Prints one line per
round and a summary; writes bench/last-soak.json.

    .venv/bin/python -m bench.soak_pre_release [--rounds 10] [--no-load]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROUNDS = 10
PORT = 8080


def burn() -> None:
    """One core, busy, at normal priority (no nice)."""
    x = 0
    while True:
        x = (x * 31 + 7) % 1_000_003


def margins(journal: dict[str, Any]) -> dict[str, float]:
    """How far each measured latency / error-rate check is from its limit, as a
    fraction of the limit (0.8: 80 % of the headroom left)."""
    out: dict[str, float] = {}
    for c in journal.get("checks", []):
        m = re.search(r"p95 ([\d.]+) ms .*\(max ([\d.]+) ms\)", c["detail"])
        if m:
            out[c["name"]] = 1 - float(m.group(1)) / float(m.group(2))
        m = re.search(r"^([\d.]+)% errors of .*\(max ([\d.]+)%\)", c["detail"])
        if m:
            out[c["name"]] = 1 - float(m.group(1)) / float(m.group(2))
    return out


def summarise_run(journal: dict[str, Any]) -> dict[str, Any]:
    faults = journal.get("faults", [])
    late = [f["applied"] - f["start"] for f in faults if f.get("applied") is not None]
    return {
        "scenario": journal["scenario"]["name"], "verdict": journal["verdict"],
        "failed": [f"{c['name']}: {c['detail']}" for c in journal["checks"] if not c["passed"]]
        or ([journal["reason"]] if journal["verdict"] != "passed" else []),
        "apply_late_max_s": round(max(late), 3) if late else None,
        "lag_p95_ms": (journal.get("harness") or {}).get("lag_p95_ms"),
        "margins": margins(journal),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-load", action="store_true", help="without the CPU-bound process")
    args = parser.parse_args()

    from chaosfleet.cli.common import fleet as clients
    from chaosfleet.cli.demo import DEMO_ENV, REFERENCE_TARGET
    from chaosfleet.cli.procs import ROLES, start_reference_target, start_workers, stop_all
    from chaosfleet.core.settings import get_settings
    from chaosfleet.jobs.suites import plan_suite, run_suite
    from faults.proxies import ensure_target_proxies

    s = get_settings()
    log_dir = Path(s.state_dir).resolve() / "logs"
    ensure_target_proxies(clients().config, REFERENCE_TARGET, s)
    rounds: list[dict[str, Any]] = []
    with ExitStack() as stack:
        if not args.no_load:
            hog = multiprocessing.Process(target=burn, daemon=True)
            hog.start()
            stack.callback(hog.terminate)
        target = start_reference_target(PORT, log_dir)
        stack.callback(target.stop)
        workers = start_workers(ROLES, "soak", log_dir, env=DEMO_ENV)
        stack.callback(stop_all, workers)
        for i in range(1, args.rounds + 1):
            spec, requests = plan_suite("pre-release", clients().config, s, REFERENCE_TARGET)
            began = time.monotonic()
            result = run_suite(spec, requests, clients())
            runs = [summarise_run(json.loads(Path(r.journal).read_text()))
                    for r in result.runs if r.journal and Path(r.journal).exists()]
            row = {"round": i, "verdict": str(result.verdict), "reason": result.reason,
                   "wall_s": round(time.monotonic() - began, 1), "runs": runs}
            rounds.append(row)
            tight = min((m for r in runs for m in r["margins"].values()), default=None)
            late = max((r["apply_late_max_s"] or 0 for r in runs), default=0)
            lag = max((r["lag_p95_ms"] or 0 for r in runs), default=0)
            margin = f"{tight:.0%}" if tight is not None else "-"
            print(f"round {i:2}: {row['verdict']:7} {row['wall_s']:6.1f}s  fault applied "
                  f"<= {late:.2f}s late  send lag p95 <= {lag:g} ms  tightest margin {margin}",
                  flush=True)
            for r in runs:
                for reason in r["failed"]:
                    print(f"          {r['scenario']}: {reason}", flush=True)
    passed = sum(r["verdict"] == "passed" for r in rounds)
    print(f"{passed} of {len(rounds)} rounds passed"
          f"{'' if args.no_load else ' with one core kept busy'}")
    out = Path(__file__).with_name("last-soak.json")
    out.write_text(json.dumps({"load": not args.no_load, "rounds": rounds}, indent=2))
    return 0 if passed == len(rounds) else 1


if __name__ == "__main__":
    sys.exit(main())

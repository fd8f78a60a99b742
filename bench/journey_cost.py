"""What journeys cost the fleet: CPU per request of an HTTP slice whose traffic is
journeys (3 steps: a capture from each answer feeds the next request's query
template) against the same slice sending single operations, against the static
nginx, ledger on, at the same offered rate. Rounds alternate; the median of the
paired ratios is reported.

    .venv/bin/python -m bench.journey_cost
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from typing import Any

import redis

from bench.env import use_bench_environment
from bench.nginx import PORT

RATE = 1500.0  # requests per second: below what one slice can send, so both sides send all
SECONDS = 4.0
ROUNDS = 3


def target() -> Any:
    from chaosfleet.core.config import FleetConfig

    spec = {"kind": "http", "base_url": f"http://127.0.0.1:{PORT}", "operations": {
        "get": {"method": "GET", "path": "/"},
        "get_with": {"method": "GET", "path": "/", "query": {"seen": "{code}"}}}}
    return FleetConfig.model_validate({"targets": {"nginx": spec}}).target("nginx")


def plan(journeys: bool) -> Any:
    from chaosfleet.traffic.plan import SlicePlan
    from scenarios.model import Journey, OperationMix

    payload = {"who": {"faker": "word"}}
    mix = [OperationMix.model_validate({"name": "get", "payload": payload})]
    steps = [{"operation": "get", "payload": payload, "capture": {"code": "status"}},
             {"operation": "get_with", "payload": payload, "capture": {"code": "status"}},
             {"operation": "get_with", "payload": payload}]
    flows = [Journey.model_validate({"name": "walk", "steps": steps})]
    units = RATE / len(steps) if journeys else RATE  # the same requests per second
    return SlicePlan(run_id=f"bench{uuid.uuid4().hex[:8]}", scenario="bench", index=0,
                     run_started_at=time.time(), offset=0, duration=SECONDS, rate=units,
                     concurrency=32, seed=1, operations=[] if journeys else mix,
                     journeys=flows if journeys else [], target=target())


def cpu_per_request(journeys: bool, engine: Any, client: redis.Redis) -> tuple[float, int]:
    """Process CPU seconds per request sent, and the requests sent."""
    from catalogue.ledger import ledger_totals
    from chaosfleet.cli.common import fleet as clients
    from chaosfleet.traffic.drivers import run_slice
    from chaosfleet.traffic.recorder import Recorder
    from chaosfleet.traffic.stats import StatsBatch

    p = plan(journeys)
    recorder = Recorder(p, StatsBatch(client, f"bench:{p.run_id}", p.run_started_at), engine,
                        writer=clients().record_writer)
    cpu = time.process_time()
    run_slice(p, recorder, lambda: False)
    used = time.process_time() - cpu
    client.delete(f"bench:{p.run_id}")
    totals = ledger_totals(engine, p.run_id)
    requests = totals["ok"] + totals["rejected"] + totals["dead_lettered"]
    return used / max(1, requests), requests


def main() -> None:
    use_bench_environment()
    from bench.ledger_dlq import prepare
    from bench.nginx import serve_static
    from chaosfleet.core.settings import get_settings

    engine = prepare()  # the bench database, afresh
    client = redis.Redis.from_url(get_settings().redis_url)
    pairs = []
    with serve_static():
        for i in range(ROUNDS):
            single, n1 = cpu_per_request(False, engine, client)
            journey, n2 = cpu_per_request(True, engine, client)
            pairs.append((journey, single))
            print(f"round {i + 1}: single {single * 1e6:.0f} us/request ({n1} requests), "
                  f"journey {journey * 1e6:.0f} us/request ({n2} requests), "
                  f"ratio {journey / single:.3f}", file=sys.stderr)
    ratio = statistics.median(j / s for j, s in pairs)
    print(f"journeys vs single operations, fleet CPU per request: {ratio:.3f} "
          f"(goal <= 1.10: {'met' if ratio <= 1.10 else 'not met'})")


if __name__ == "__main__":
    main()

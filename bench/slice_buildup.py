"""Where an HTTP slice's CPU goes: the raw client, then the fleet's path built up on it
piece by piece, in one process against the bench nginx, rounds alternating. Each level
runs 32 senders for a second and a half and reports the CPU per request (every thread
of the process) and its median ratio to the raw client's, paired round by round:

- `raw`: pyreqwest alone, the headers a fleet request carries;
- `exchanged`: the fleet's request built and its answer read (`HttpSlice.exchange`);
- `recorded`: and recorded (`HttpSlice.record`; the rows are dropped at flush);
- `slice`: a whole slice (`run_slice`: planning, pacing, stats), the ledger off;
- `slice+ledger`: the same with the ledger written through the record writer.

    .venv/bin/python -m bench.slice_buildup [ROUNDS]    # 8 rounds: about 4 minutes

A piece costs more here than in a tight loop of its own, because it runs between the
client's runtime thread and the kernel: this is the figure that matters for a slice.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.env import use_bench_environment

SECONDS = 1.5
IN_FLIGHT = 32
LEVELS = ["raw", "exchanged", "recorded", "slice", "slice+ledger"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(send: Callable[[int], Awaitable[Any]]) -> int:
    """IN_FLIGHT loops sending back to back for SECONDS; how many were sent."""
    count = 0
    stop_at = time.monotonic() + SECONDS

    async def one_loop() -> None:
        nonlocal count
        while time.monotonic() < stop_at:
            count += 1
            await send(count)

    await asyncio.gather(*(one_loop() for _ in range(IN_FLIGHT)))
    return count


def main(rounds: int) -> None:
    use_bench_environment()
    import redis

    from bench.ledger_dlq import prepare
    from bench.nginx import serve_static
    from chaosfleet.cli.common import fleet as clients
    from chaosfleet.core.config import HttpTarget
    from chaosfleet.core.settings import get_settings
    from chaosfleet.traffic import http_client
    from chaosfleet.traffic.drivers import HttpSlice, run_slice
    from chaosfleet.traffic.plan import SlicePlan
    from chaosfleet.traffic.recorder import Recorder
    from chaosfleet.traffic.stats import StatsBatch
    from scenarios.model import OperationMix

    engine = prepare()
    client_redis = redis.Redis.from_url(get_settings().redis_url)
    target = clients().config.target("bench-nginx")
    assert isinstance(target, HttpTarget)

    def recorder(ledger: bool) -> Recorder:
        plan = SlicePlan(run_id=f"bu{uuid.uuid4().hex[:8]}", scenario="bench", index=0,
                         run_started_at=time.time(), offset=0, duration=SECONDS,
                         rate=60_000, concurrency=IN_FLIGHT, seed=1,
                         operations=[OperationMix(name="get")], target=target)
        return Recorder(plan, StatsBatch(client_redis, f"bench:{plan.run_id}",
                                         plan.run_started_at),
                        engine if ledger else None,
                        writer=clients().record_writer if ledger else None)

    def run(level: str, client: http_client.Client) -> tuple[float, float]:
        """(requests/s, µs of CPU per request) of one level."""
        rec = recorder(ledger=level == "slice+ledger")
        driver = HttpSlice(rec.plan, target, rec, client)
        url = target.base_url.rstrip("/") + "/"
        headers = {"X-Request-ID": "x", "traceparent": f"00-{'a' * 32}-{'b' * 16}-01"}

        async def raw(n: int) -> Any:
            request = client.request("GET", url).headers(headers).build()
            response = await request.send()
            return response.status, (await response.bytes()).to_bytes(), response.headers

        async def exchanged(n: int) -> Any:
            return await driver.exchange("get", {}, rec.plan.op_id(n), rec.plan.op_id(n))

        async def recorded(n: int) -> None:
            op_id = rec.plan.op_id(n)
            driver.record(op_id, "get", "-", n, await exchanged(n), {})

        cpu, began = _cpu(), time.monotonic()
        if level.startswith("slice"):
            sent = run_slice(rec.plan, rec, lambda: False)
        else:
            send = {"raw": raw, "exchanged": exchanged, "recorded": recorded}[level]
            sent = http_client._this_threads_loop().run_until_complete(_drive(send))
            rec.take_batch()
        return sent / (time.monotonic() - began), (_cpu() - cpu) / sent * 1e6

    figures: dict[str, list[tuple[float, float]]] = {level: [] for level in LEVELS}
    with serve_static():
        client = http_client.client_for(target.timeout, IN_FLIGHT)
        run("raw", client)  # warm: the connections, the loop, the pools
        run("slice+ledger", client)
        for i in range(rounds):
            print(f"  round {i + 1}/{rounds}", file=sys.stderr)
            for level in LEVELS if i % 2 == 0 else LEVELS[::-1]:
                figures[level].append(run(level, client))
    raw_cpu = [us for _, us in figures["raw"]]
    print(f"{'level':14s} {'req/s':>8s} {'µs CPU/req':>11s} {'vs raw':>7s}")
    for level in LEVELS:
        rates, cpus = zip(*figures[level], strict=True)
        ratio = statistics.median(us / base for us, base in zip(cpus, raw_cpu, strict=True))
        print(f"{level:14s} {statistics.median(rates):8,.0f} {statistics.median(cpus):11.1f}"
              f" {ratio:7.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)

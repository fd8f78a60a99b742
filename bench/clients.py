"""Raw HTTP client speed, to choose the traffic slices' client by measurement
(issue 18): aiohttp (what slices use today) and pyreqwest (Rust's reqwest, for
asyncio), each on asyncio's own event loop and on uvloop. One process, the same
in-flight count, the same static nginx, rounds alternating; every answer is read
in full and counted only when it is a 200.

    .venv/bin/python -m bench.clients      # figures in bench/last-clients.json

Clients only: no payloads, no ledger, no Celery. It measures the ceiling each
client gives a slice, not the fleet.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

ROUNDS = 3
SECONDS = 5.0
IN_FLIGHT = 32

Send = Callable[[], Awaitable[int]]


async def drive(send: Send, seconds: float, in_flight: int) -> dict[str, float]:
    """`in_flight` loops sending back to back for `seconds`; requests/s and latency."""
    latencies: list[float] = []
    failures = 0
    stop_at = time.monotonic() + seconds

    async def one_loop() -> None:
        nonlocal failures
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            try:
                ok = await send() == 200
            except Exception:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - began)
            else:
                failures += 1

    started = time.monotonic()
    await asyncio.gather(*(one_loop() for _ in range(in_flight)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "failures": failures,
            "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0.0,
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0.0}


async def with_aiohttp(url: str) -> dict[str, float]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=IN_FLIGHT, limit_per_host=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=5)) as session:
        async def send() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        return await drive(send, SECONDS, IN_FLIGHT)


async def with_pyreqwest(url: str) -> dict[str, float]:
    from pyreqwest.client import ClientBuilder

    builder = ClientBuilder().max_connections(IN_FLIGHT).timeout(timedelta(seconds=5))
    async with builder.build() as client:
        async def send() -> int:
            response = await client.get(url).build().send()
            await response.bytes()
            return response.status

        return await drive(send, SECONDS, IN_FLIGHT)


def on_loop(loop: str, main: Coroutine[Any, Any, dict[str, float]]) -> dict[str, float]:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


CANDIDATES: dict[str, tuple[str, Callable[[str], Coroutine[Any, Any, dict[str, float]]]]] = {
    "aiohttp": ("asyncio", with_aiohttp),
    "aiohttp + uvloop": ("uvloop", with_aiohttp),
    "pyreqwest": ("asyncio", with_pyreqwest),
    "pyreqwest + uvloop": ("uvloop", with_pyreqwest),
}


def compare(url: str) -> dict[str, Any]:
    rounds: list[dict[str, dict[str, float]]] = []
    for i in range(ROUNDS):
        print(f"  round {i + 1}/{ROUNDS}: " + ", ".join(CANDIDATES), file=sys.stderr)
        rounds.append({name: on_loop(loop, make(url))
                       for name, (loop, make) in CANDIDATES.items()})
    summary = {}
    for name in CANDIDATES:
        summary[name] = {
            "rps": statistics.median(r[name]["rps"] for r in rounds),
            "p50_ms": statistics.median(r[name]["p50_ms"] for r in rounds),
            "p99_ms": statistics.median(r[name]["p99_ms"] for r in rounds),
            "failures": sum(r[name]["failures"] for r in rounds),
            "vs_aiohttp": statistics.median(r[name]["rps"] / r["aiohttp"]["rps"]
                                            for r in rounds),
        }
    return {"summary": summary, "rounds": rounds}


def main() -> None:
    from bench.nginx import serve_static

    with serve_static() as url:
        result = compare(url)
    result["date"] = time.strftime("%Y-%m-%d")
    Path(__file__).with_name("last-clients.json").write_text(json.dumps(result, indent=2))
    print(f"\n{'client (1 process, 32 in flight)':34} {'req/s':>9} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'vs aiohttp':>10}")
    for name, row in result["summary"].items():
        print(f"{name:34} {row['rps']:>9,.0f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
              f"{row['vs_aiohttp']:>10.2f}")


if __name__ == "__main__":
    main()

"""Profile one traffic slice in-process with pyinstrument: `python -m bench.profile_slice
http|python [--bare]`. The HTTP slice drives the benchmark's nginx; the Python slice calls
`reftarget.pytarget:validate_order`. Both record as a traffic worker does. `--bare`
runs the same slice without the profiler and prints only its rate and the CPU time
per operation (every thread of the process: the slice, the ledger writer, the
client's runtime), which a busy shared machine moves less than the rate."""

from __future__ import annotations

import sys
import time
import uuid

from bench.env import use_bench_environment


def main(kind: str, bare: bool = False) -> None:
    use_bench_environment()
    import redis
    from pyinstrument import Profiler

    from bench.ledger_dlq import prepare
    from bench.nginx import serve_static
    from bench.python_overhead import plan_of
    from chaosfleet.cli.common import fleet as clients
    from chaosfleet.core.settings import get_settings
    from chaosfleet.traffic.drivers import run_slice
    from chaosfleet.traffic.plan import SlicePlan
    from chaosfleet.traffic.recorder import Recorder
    from chaosfleet.traffic.stats import StatsBatch
    from scenarios.model import OperationMix

    engine = prepare()
    client = redis.Redis.from_url(get_settings().redis_url)
    with serve_static():
        if kind == "http":
            plan = SlicePlan(run_id=f"prof{uuid.uuid4().hex[:6]}", scenario="bench", index=0,
                             run_started_at=time.time(), offset=0, duration=5, rate=60_000,
                             concurrency=32, seed=1, operations=[OperationMix(name="get")],
                             target=clients().config.target("bench-nginx"))
        else:  # python, or python:CALLABLE of bench.python_overhead (noop, work_20us)
            plan = plan_of(5, 1, kind.partition(":")[2] or "validate_order")
        recorder = Recorder(plan, StatsBatch(client, f"bench:{plan.run_id}",
                                             plan.run_started_at), engine,
                            writer=clients().record_writer)
        profiler = Profiler(interval=0.0005)
        if not bare:
            profiler.start()
        started, cpu = time.perf_counter(), time.process_time()
        sent = run_slice(plan, recorder, lambda: False)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if not bare:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False))
    print(f"{sent} operations in {elapsed:.1f}s ({sent / elapsed:,.0f}/s, "
          f"{cpu / max(sent, 1) * 1e6:.1f} us of this process's CPU each"
          f"{'' if bare else ', under the profiler'})")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(next((a for a in args if not a.startswith("-")), "http"), bare="--bare" in args)

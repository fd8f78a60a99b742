"""Profile a traffic slice's fixed cost in-process: `python -m bench.profile_dispatch`
runs 300 one-operation slices (as bench/dispatch.py sends them) through the task
function itself (Celery's eager `apply`), under pyinstrument, against the bench nginx."""

from __future__ import annotations

import time
import uuid

from bench.dispatch import ONE_OP_WINDOW
from bench.env import use_bench_environment

SLICES = 300


def main() -> None:
    use_bench_environment()
    from pyinstrument import Profiler

    from bench.ledger_dlq import prepare
    from bench.nginx import serve_static
    from chaosfleet.cli.common import fleet as clients
    from chaosfleet.traffic.plan import SlicePlan
    from scenarios.model import OperationMix
    from workers.tasks import run_slice

    prepare()
    target = clients().config.target("bench-nginx")
    run_id = f"bench{uuid.uuid4().hex[:8]}"
    now = time.time()
    plans = [SlicePlan(run_id=run_id, scenario="bench", index=i, run_started_at=now,
                       offset=0, duration=ONE_OP_WINDOW, rate=1 / ONE_OP_WINDOW,
                       concurrency=1, seed=1, operations=[OperationMix(name="get")],
                       target=target).model_dump_json()
             for i in range(SLICES)]
    with serve_static():
        run_slice.apply(args=[plans[0]])  # warm: imports, connections, the loop
        profiler = Profiler(interval=0.0002)
        profiler.start()
        started = time.perf_counter()
        for plan in plans[1:]:
            run_slice.apply(args=[plan])
        elapsed = time.perf_counter() - started
        profiler.stop()
    print(profiler.output_text(unicode=False, color=False))
    print(f"{SLICES - 1} slices in {elapsed:.2f}s: {1000 * elapsed / (SLICES - 1):.2f} ms each "
          "(under the profiler)")


if __name__ == "__main__":
    main()

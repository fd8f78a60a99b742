"""The HTTP pacer (chaosfleet/traffic/drivers.py), on plain in-memory objects."""

import asyncio
import time

from chaosfleet.core import clock
from chaosfleet.core.config import PythonTarget
from chaosfleet.traffic.cursor import SliceCursor, SliceProgress
from chaosfleet.traffic.drivers import HttpPacer
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch
from scenarios.model import OperationMix

TARGET = PythonTarget.model_validate({"kind": "python", "operations": {
    "noop": {"call": "bench.noop_target:accept"}}})


def test_the_pacer_hands_out_every_operation_in_order_and_none_before_it_is_due():
    """With senders asking at once, some operations already due (handed out without
    the turn) and the rest waited for in turn: each goes once, in order, never early."""
    plan = SlicePlan(run_id="pace1", scenario="s", index=0, run_started_at=time.time() - 0.2,
                     offset=0, duration=0.6, rate=200, concurrency=6, seed=1,
                     operations=[OperationMix(name="noop")], target=TARGET)
    rec = Recorder(plan, StatsBatch(None, "k", plan.run_started_at), engine=None)  # type: ignore[arg-type]
    pacer = HttpPacer(plan, SliceCursor(plan, SliceProgress()), rec, lambda: False)
    handed: list[tuple[int, float, float]] = []

    async def sender() -> None:
        while (op := await pacer.next()) is not None:
            handed.append((op.n, op.due, clock.now()))  # fleet time, as `due`
            await asyncio.sleep(0.004 if op.n % 3 else 0)  # some senders busy, some not

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(*(sender() for _ in range(6))), timeout=10)

    asyncio.run(main())
    assert [n for n, _, _ in handed] == list(range(plan.op_count))
    assert all(at >= due - 0.002 for _, due, at in handed)  # the clock's resolution
    assert handed[0][2] - handed[0][1] > 0.1  # the first ones were overdue: handed out at once

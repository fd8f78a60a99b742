"""The recorder's cheap path for a clean success writes the same ledger row as the
general path (`LedgerRow.as_row`), so the two cannot drift apart."""

import time

from catalogue.records import LedgerOutcome, LedgerRow
from chaosfleet.core.config import PythonTarget
from chaosfleet.core.outcomes import Outcome
from chaosfleet.traffic.plan import FaultMark, SlicePlan
from chaosfleet.traffic.recorder import Recorder
from chaosfleet.traffic.stats import StatsBatch
from scenarios.model import OperationMix

TARGET = PythonTarget.model_validate({"kind": "python", "operations": {
    "noop": {"call": "bench.noop_target:accept"}}})


def recorder(**plan: object) -> Recorder:
    slice_plan = SlicePlan(run_id="rows1", scenario="s", index=3, run_started_at=time.time(),
                           offset=0, duration=1, rate=1, concurrency=1, seed=1,
                           operations=[OperationMix(name="noop")], target=TARGET, **plan)
    return Recorder(slice_plan, StatsBatch(None, "k", slice_plan.run_started_at),  # type: ignore[arg-type]
                    engine=None, attempt=2)


def test_a_success_row_is_the_ledger_row_of_the_general_path():
    at = time.time()
    marks = [FaultMark(start=at - 1, end=at + 1, label="latency#1")]
    for plan in ({}, {"fault_marks": marks}):
        rec = recorder(**plan)
        rec.record("rows1-3-7", "noop", at, Outcome.OK, 1.23456, None, "abcd", 7,
                   request_path="/orders/" + "x" * 400)
        expected = LedgerRow(
            op_id="rows1-3-7", run_id="rows1", scenario="s", slice_index=3, operation="noop",
            attempt=2, outcome=LedgerOutcome.OK, latency_ms=1.23, error_class=None,
            fault=rec.fault_at(at), input_hash="abcd", at=at,
            request_path="/orders/" + "x" * 292).as_row()
        assert rec._entries == [expected]
        assert rec.stats.pending()[f"c|{int(at - rec.plan.run_started_at)}|ok"] == 1
    assert expected["fault"] == "latency#1"

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
        assert rec.total == 1
        assert rec.take_batch()["ledger"] == [expected]
        assert rec.stats.pending()[f"c|{int(at - rec.plan.run_started_at)}|ok"] == 1
        assert rec.take_batch()["ledger"] == [] and rec.total == 1  # taken once
    assert expected["fault"] == "latency#1"


def test_successes_counted_at_flush_give_the_stats_of_counting_them_one_by_one():
    """`record_successes` is `record(at, OK, ...)` for many answers at once: the same
    per-second cells, latency buckets and sum, total and over-budget count."""
    start = time.time()
    answers = [(start + i * 0.37, (i * 7.3) % 900) for i in range(40)] + [(start - 5, 3.0)]
    one_by_one, at_once = (StatsBatch(None, "k", start) for _ in range(2))  # type: ignore[arg-type]
    for at, ms in answers:
        one_by_one.record(at, Outcome.OK, ms, None)
        if ms > 250:
            one_by_one.record_over_budget()
    at_once.record_successes(answers, budget_ms=250)
    assert at_once.pending() == one_by_one.pending()
    assert at_once.total == one_by_one.total == len(answers)
    assert at_once.pending()["o|over_budget"] == sum(ms > 250 for _, ms in answers) > 0

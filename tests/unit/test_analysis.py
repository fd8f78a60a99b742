"""The verdict logic on hand-built timelines: each expectation can fail on its own."""

import pytest

from chaosfleet.core.outcomes import Outcome
from chaosfleet.runner.analysis import (
    Verdict,
    judge,
    percentile_ms,
    probe_recovery,
    traffic_recovery,
)
from chaosfleet.runner.probes import ProbeSample
from chaosfleet.traffic.stats import Second, latency_bucket, parse_stats
from scenarios.model import Scenario

T0 = 1_000_000.0


def scenario(**overrides) -> Scenario:
    spec = {
        "name": "s", "target": "t",
        "traffic": {"rate": 10, "duration": 30, "operations": [{"name": "op"}]},
        "faults": [{"type": "latency", "proxy": "p", "latency_ms": 900, "start": 5,
                    "duration": 5}],
        "steady_state": {"probes": ["healthy"], "max_error_rate": 0.05},
        "during_fault": {"settle": 2, "max_p95_ms": 400, "max_timeout_rate": 0,
                         "probes_seen": ["breaker_open"]},
        "recovery": {"within": 8, "max_error_rate": 0.05},
    }
    spec.update(overrides)
    return Scenario.model_validate(spec)


def timeline(fault_errors=10, recover_at=11, slow_ms=5, timeouts_at=None, total=30):
    """Ten ops a second; errors during the fault window and until `recover_at`."""
    series = []
    for t in range(total):
        failing = 5 <= t < recover_at
        errors = fault_errors if failing else 0
        sec = Second(t, {Outcome.OK: 10 - errors, Outcome.ERROR: errors},
                     {latency_bucket(slow_ms if failing else 3): 10})
        if timeouts_at == t:
            sec.counts[Outcome.TIMEOUT] = 1
        series.append(sec)
    return series


def probes(open_during=True, healthy_from=10.5):
    samples = []
    for i in range(60):
        at = i * 0.5
        samples.append(ProbeSample(T0 + at, "healthy", not (5 <= at < healthy_from), ""))
        samples.append(ProbeSample(T0 + at, "breaker_open", open_during and 6 <= at < 10, ""))
    return samples


def failed_checks(series, samples, sc=None):
    checks, _ = judge(sc or scenario(), series, samples, T0, ["latency(...)"])
    return [c.name for c in checks if not c.passed]


def test_a_healthy_recovery_passes_every_check():
    assert failed_checks(timeline(), probes()) == []


def test_slow_failures_fail_the_fail_fast_check():
    assert failed_checks(timeline(slow_ms=900), probes()) == ["fault 0: fails fast"]


def test_one_hung_request_fails_the_no_hang_check():
    failed = failed_checks(timeline(timeouts_at=5), probes())
    assert failed == ["fault 0: no hung requests"]


def test_a_breaker_that_never_opens_is_caught():
    assert failed_checks(timeline(), probes(open_during=False)) == [
        "fault 0: probe breaker_open seen"]


def test_errors_that_outlast_the_recovery_bound_fail():
    failed = failed_checks(timeline(recover_at=25), probes(healthy_from=25))
    assert "fault 0: traffic recovered" in failed
    assert "fault 0: steady state restored" in failed


def test_a_noisy_baseline_fails():
    series = timeline()
    series[2].counts = {Outcome.OK: 5, Outcome.ERROR: 5}
    assert failed_checks(series, probes()) == ["baseline error rate"]


def test_probe_recovery_ignores_probes_outside_the_steady_state():
    """Other probes sampled in between (here breaker_open, failing once the breaker
    closed) must not hide that every steady-state probe passed."""
    samples = [ProbeSample(T0 + 10.1, "breaker_open", False, ""),
               ProbeSample(T0 + 10.2, "healthy", True, ""),
               ProbeSample(T0 + 10.6, "breaker_open", False, ""),
               ProbeSample(T0 + 10.7, "healthy", True, "")]
    assert probe_recovery(samples, ["healthy"], T0 + 10, T0 + 18) == pytest.approx(0.2)
    assert probe_recovery(samples, ["healthy", "breaker_open"], T0 + 10, T0 + 18) is None


def test_time_to_recover_is_measured_from_the_fault_end():
    assert traffic_recovery(timeline(recover_at=13), 10.0, 8, 0.05, 30) == 3.0
    assert traffic_recovery(timeline(recover_at=25), 10.0, 8, 0.05, 30) is None


def test_stats_round_trip_through_the_redis_hash_format():
    raw = {"c|0|ok": 3, "c|2|error": 1, "l|2|5": 1, "e|http_503": 1}
    series, errors = parse_stats(raw)
    assert [s.t for s in series] == [0, 1, 2]
    assert series[1].total == 0 and series[2].error_rate == 1.0
    assert errors == {"http_503": 1}


def test_percentile_uses_the_bucket_edges():
    assert percentile_ms({latency_bucket(3): 95, latency_bucket(800): 5}, 0.95) == 5
    assert percentile_ms({latency_bucket(3): 90, latency_bucket(800): 10}, 0.95) == 1000
    assert percentile_ms({}, 0.95) is None


def test_exit_codes_separate_target_failures_from_harness_errors():
    assert [v.exit_code for v in Verdict] == [0, 1, 1, 2]


def test_the_series_ignores_counters_that_are_not_per_second():
    raw = {"c|0|ok": 3, "l|0|2": 3, "e|http_500": 1, "n|not_sent": 4,
           "m|control_chars|crashed": 1, "f|comment.body|crashed": 1, "f|(body)|rejected": 2}
    series, errors = parse_stats(raw)
    assert len(series) == 1 and series[0].counts == {"ok": 3} and errors == {"http_500": 1}
    from chaosfleet.traffic.stats import count_mutations

    assert count_mutations(raw, "f") == {"(body)": {"rejected": 2},
                                         "comment.body": {"crashed": 1}}


# -- one honest report: a single error-rate definition, not-sent seconds, cut-offs


def test_one_error_rate_everywhere_rejections_apart():
    """A second of 6 ok, 2 rejected, 1 error, 1 timeout: the error rate is 20 % in
    the analysis, the terminal report, the HTML and the JUnit alike; the rejected
    20 % is shown on its own."""
    from chaosfleet.reports import rates
    from chaosfleet.reports.html import run_context
    from chaosfleet.reports.junit import build_junit

    counts = {"ok": 6, "rejected": 2, "error": 1, "timeout": 1}
    sec = Second(0, {Outcome(k): v for k, v in counts.items()})
    assert sec.error_rate == rates.error_rate(counts) == pytest.approx(0.2)
    assert sec.rejected_rate == pytest.approx(0.2)
    journal = {"run_id": "r", "totals": counts, "timeline": [{"t": 0, **counts,
                                                               "p95_ms": 5.0}],
               "faults": [], "checks": [], "ledger": {}}
    assert run_context(journal)["error_rate"] == pytest.approx(0.2)
    suite = {"suite": {"name": "s"}, "suite_id": "x", "wall_s": 1.0,
             "runs": [{"scenario": "a", "run_id": "r", "verdict": "passed", "reason": "",
                       "wall_s": 1.0, "journal": "j"}]}
    (out,) = [e.text for e in build_junit(suite, [journal]).iter("system-out")]
    assert "error rate (errors and timeouts / sent): 20.0%" in out
    assert "rejected (4xx) / sent: 20.0%" in out and "run_id: r" in out


def test_a_second_with_nothing_sent_has_no_rate_and_never_counts_as_recovered():
    from chaosfleet.reports import rates

    assert Second(3).error_rate is None and rates.format_rate(None) == "not sent"
    series = timeline(recover_at=10)
    for t in (10, 11, 12):  # the fault ends at 10; nothing could be sent right after
        series[t] = Second(t)
    assert traffic_recovery(series, 10.0, 8, 0.05, 30) == 3.0  # from 13, not 0.0 from 10


def test_a_percentile_at_the_deadline_prints_as_a_cut_off():
    from chaosfleet.reports import rates

    assert rates.format_ms(10000.0, 5000.0) == "≥ deadline (timeouts)"
    assert rates.format_ms(5000.0, 5000.0) == "≥ deadline (timeouts)"
    assert rates.format_ms(400.0, 5000.0) == "400 ms"
    assert rates.format_ms(None, 5000.0) == "-"
    checks, _ = judge(scenario(), timeline(slow_ms=9000), probes(), T0, ["latency(...)"],
                      deadline_ms=5000)
    (fast,) = [c for c in checks if c.name == "fault 0: fails fast"]
    assert not fast.passed and "≥ deadline (timeouts)" in fast.detail


def test_checks_judge_from_when_the_fault_was_applied_not_its_schedule():
    """Scheduled at 5 s, applied at 8 s: the slow transition at 8-9 s falls inside
    the settle time from the real start, so fails-fast passes; judged from the
    schedule it would have failed (the false alarm of a busy machine)."""
    series = timeline()
    for sec in series:
        sec.latency = {latency_bucket(1500 if 8 <= sec.t < 10 else 3): 10}
        sec.counts = {Outcome.OK: 10} if sec.t < 8 else sec.counts
    sc = scenario()
    late = [(8.0, 13.0)]
    assert "fault 0: fails fast" in [c.name for c in judge(
        sc, series, probes(), T0, ["latency(...)"])[0] if not c.passed]
    checks, reports = judge(sc, series, probes(), T0, ["latency(...)"], windows=late)
    assert "fault 0: fails fast" not in [c.name for c in checks if not c.passed]
    assert (reports[0].start, reports[0].end) == (8.0, 13.0)


def test_a_baseline_full_of_rejections_fails_without_counting_them_as_errors():
    series = timeline()
    series[2].counts = {Outcome.OK: 5, Outcome.REJECTED: 5}
    checks, _ = judge(scenario(), series, probes(), T0, ["latency(...)"])
    (base,) = [c for c in checks if c.name == "baseline error rate"]
    assert not base.passed and "0.00% errors and 12.50% rejected" in base.detail


def test_the_baseline_ends_before_the_fault_could_act():
    """Scheduled at 5 s, confirmed applied at 6.3 s: a fault acts while it is being
    applied (held connections pile up from 5 s), so seconds 5 and 6 are in neither
    the baseline nor the fault's judged window."""
    series = timeline()
    series[5].counts = {Outcome.OK: 4, Outcome.ERROR: 6}
    checks, reports = judge(scenario(), series, probes(), T0, ["latency(...)"],
                            windows=[(6.3, 10.0)])
    (base,) = [c for c in checks if c.name == "baseline error rate"]
    assert base.passed and "of 40 ops" in base.detail
    assert reports[0].start == 6.3


def test_a_fleet_that_wakes_late_makes_the_run_a_harness_error():
    from chaosfleet.runner.analysis import judge_harness_lag, lag_histogram
    from chaosfleet.traffic.stats import StatsBatch

    stats = StatsBatch(client=None, key="k", run_started_at=T0)  # type: ignore[arg-type]
    for _ in range(97):
        stats.record_lag(0.002)
    for _ in range(3):
        stats.record_lag(0.8)
    summary, problem = judge_harness_lag(lag_histogram(dict(stats.counts)))
    assert problem is None and summary == {"sends_timed": 100, "lag_p95_ms": 5.0,
                                           "lag_p99_ms": 1000.0}
    for _ in range(20):
        stats.record_lag(2.5)
    summary, problem = judge_harness_lag(lag_histogram(dict(stats.counts)))
    assert problem is not None and "fell behind: p95 3000 ms" in problem
    assert judge_harness_lag(lag_histogram(dict(stats.counts)), exempt=True)[1] is None


def test_the_run_wide_contracts_name_what_broke_and_by_how_much():
    from chaosfleet.runner.contracts import (
        check_acknowledged,
        check_backoff,
        check_budget,
        check_duplicates,
    )

    ok = check_backoff({503: {"with": 40}})
    assert ok.passed and ok.detail == "40 of 40 503 answers carried a usable Retry-After"
    bad = check_backoff({429: {"with": 3}, 503: {"with": 2, "without": 5}})
    assert not bad.passed and "5 of 10 429, 503 answers" in bad.detail and "5 did not" in bad.detail
    assert check_budget(0, 3.0).passed
    assert not check_budget(4, 3.0).passed and "4 answers slower than the declared 3s" in \
        check_budget(4, 3.0).detail
    dup, n = check_duplicates({"rows": 12, "keys": 10})
    assert not dup.passed and n == 2
    fine, counts = check_acknowledged(720, 720, ["create_order"])
    assert fine.passed and counts == {"acknowledged": 720, "acknowledged_lost": 0}
    lost, counts = check_acknowledged(720, 418, ["create_order"])
    assert not lost.passed and counts["acknowledged_lost"] == 302
    assert "at least 302 answered ok but never written" in lost.detail
    more, counts = check_acknowledged(100, 130, ["create_order"])  # failed ops that wrote
    assert more.passed and counts["acknowledged_lost"] == 0


def test_times_to_recover_from_an_actual_revert_are_the_same_number_everywhere():
    """Reverted at 10.139 s: the journal and the catalogue get the one rounded value."""
    ttr = traffic_recovery(timeline(recover_at=13), 10.139, 8, 0.05, 30)
    assert ttr == 2.861 and round(ttr, 3) == ttr


@pytest.mark.parametrize("raw, done, issued, error", [
    ("done:120", True, 120, ""),
    ("error: WorkerLostError; 5 owed operations dead-lettered", False, 0,
     "WorkerLostError; 5 owed operations dead-lettered"),
    ("done:", False, 0, "done:"),  # garbage is a failure, never a finished slice
    ("something else", False, 0, "something else"),
])
def test_slice_statuses_read_back_what_was_written(raw, done, issued, error):
    from chaosfleet.runner.state import SliceStatus

    status = SliceStatus.decode(raw)
    assert (status.done, status.issued, status.error) == (done, issued, error)
    if raw.startswith(("done:1", "error: ")):
        assert status.encode() == raw


def test_fault_statuses_round_trip_and_unknown_text_is_an_error():
    from chaosfleet.runner.state import FaultPhase, FaultStatus

    for status in (FaultStatus(FaultPhase.SENT), FaultStatus(FaultPhase.APPLIED),
                   FaultStatus(FaultPhase.ERROR, "proxy gone")):
        assert FaultStatus.decode(status.encode()) == status
    assert FaultStatus.decode("weird").phase is FaultPhase.ERROR

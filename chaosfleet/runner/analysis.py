"""Turn a run's per-second stats and probe samples into checks and a verdict."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from chaosfleet.core.outcomes import Outcome
from chaosfleet.reports import rates
from chaosfleet.runner.probes import ProbeSample
from chaosfleet.traffic.stats import LATENCY_EDGES_MS, Second
from scenarios.model import Scenario

RECOVERY_HOLD = 3  # seconds the error rate must stay low to count as recovered


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the target did not meet the scenario's expectations
    ABORTED = "aborted"  # a stop condition, the kill switch or a cancel ended it
    ERROR = "error"  # the harness itself broke; never reads as passed

    @property
    def exit_code(self) -> int:
        """0 passed, 1 the target failed (or a stop condition aborted), 2 harness error."""
        return {"passed": 0, "failed": 1, "aborted": 1}.get(self.value, 2)


def lag_histogram(raw: dict[str, int]) -> dict[int, int]:
    """The fleet's own send lag by latency bucket (see StatsBatch.record_lag)."""
    return {int(name.split("|")[1]): int(v) for name, v in raw.items()
            if name.startswith("g|") and name.split("|")[1].isdigit()}


MAX_LAG_MS = 1000.0  # the fleet waking later than this (p95) invalidates per-second checks


def judge_harness_lag(hist: dict[int, int], exempt: bool = False
                      ) -> tuple[dict[str, float | int | None], str | None]:
    """The fleet's own send lag, and why it invalidates the run (None: it does not).
    `exempt`: the run makes the fleet late on purpose (a worker halt storm)."""
    p95, p99 = percentile_ms(hist, 0.95), percentile_ms(hist, 0.99)

    def shown(v: float | None) -> float | None:
        return None if v is None or v == float("inf") else v

    summary = {"sends_timed": sum(hist.values()), "lag_p95_ms": shown(p95),
               "lag_p99_ms": shown(p99)}
    if p95 is None or p95 <= MAX_LAG_MS or exempt:
        return summary, None
    return summary, (f"the fleet itself fell behind: p95 {rates.format_ms(p95, None)} late "
                     f"waking to send (max {MAX_LAG_MS:g} ms), so its per-second "
                     "measurements are not the target's; is the machine overloaded?")


def percentile_ms(histogram: dict[int, int], q: float) -> float | None:
    """Estimate a latency percentile from bucket counts (upper bucket edge)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return float(LATENCY_EDGES_MS[bucket]) if bucket < len(LATENCY_EDGES_MS) else float(
                "inf"
            )
    return None


def window(series: list[Second], start: float, end: float) -> Second:
    """Merge the seconds in [start, end) into one."""
    merged = Second(int(start))
    counts: defaultdict[str, int] = defaultdict(int)
    latency: defaultdict[int, int] = defaultdict(int)
    for sec in series:
        if start <= sec.t < end:
            for k, v in sec.counts.items():
                counts[k] += v
            for b, v in sec.latency.items():
                latency[b] += v
    merged.counts, merged.latency = dict(counts), dict(latency)
    return merged


def traffic_recovery(series: list[Second], fault_end: float, limit: float, max_rate: float,
                     horizon: float) -> float | None:
    """Seconds from the fault's end to the first second from which the error rate
    stays at or below `max_rate` for RECOVERY_HOLD seconds; None if not by `horizon`.
    A second in which nothing was sent proves nothing: it breaks the hold (only the
    seconds past the end of the traffic are left out)."""
    by_t = {s.t: s for s in series}
    for t in range(int(fault_end), int(horizon)):
        if t - fault_end > limit:
            return None
        hold = [by_t.get(u, Second(u)) for u in range(t, t + RECOVERY_HOLD) if u < len(series)]
        if hold and all(s.total and (s.error_rate or 0.0) <= max_rate for s in hold):
            return round(max(0.0, t - fault_end), 3)  # as the journal and catalogue show it
    return None


def probe_recovery(samples: list[ProbeSample], probes: list[str], fault_end: float,
                   until: float) -> float | None:
    """Seconds from the fault's end to the first sampling round where every
    steady-state probe passed."""
    rounds: defaultdict[int, dict[str, bool]] = defaultdict(dict)
    wanted = set(probes)
    ordered = sorted((s for s in samples if s.probe in wanted and fault_end <= s.at < until),
                     key=lambda s: s.at)
    round_no = 0
    for sample in ordered:
        if sample.probe in rounds[round_no]:
            round_no += 1
        rounds[round_no][sample.probe] = sample.ok
        if len(rounds[round_no]) == len(probes) and all(rounds[round_no].values()):
            return round(max(0.0, sample.at - fault_end), 3)
    return None


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class FaultReport:
    index: int
    describe: str
    start: float  # when the fault was applied (s after traffic start), else its schedule
    end: float  # when it was reverted, else its schedule
    error_rate: float | None  # None: nothing was sent in the window
    rejected_rate: float | None
    p95_ms: float | None
    timeout_rate: float
    traffic_recovery_s: float | None
    probe_recovery_s: float | None


def judge(
    scenario: Scenario,
    series: list[Second],
    samples: list[ProbeSample],
    run_started_at: float,
    descriptions: list[str],
    windows: list[tuple[float, float]] | None = None,
    deadline_ms: float | None = None,
) -> tuple[list[Check], list[FaultReport]]:
    """Every expectation of the scenario becomes a named check; all must pass.
    `windows` are the faults' actual (applied, reverted) times, so a fault applied
    late is judged from when it acted, never from its schedule."""
    checks: list[Check] = []
    faults: list[FaultReport] = []
    scheduled = scenario.fault_windows()
    windows = windows if windows is not None else scheduled
    # whole seconds before the first fault could act: it is sent at its scheduled start and
    # may act before its apply is confirmed (held connections pile up); second 0 is ramp-up
    first_fault = min((s for s, _ in scheduled + windows), default=scenario.traffic.duration)
    baseline = window(series, 1, int(first_fault))
    base_err, base_rej = baseline.error_rate or 0.0, baseline.rejected_rate or 0.0
    limit = scenario.steady_state.max_error_rate
    checks.append(Check(
        "baseline error rate",
        base_err <= limit and base_rej <= limit,
        f"{base_err:.2%} errors and {base_rej:.2%} rejected of {baseline.total} ops before "
        f"the first fault (max {limit:.2%} each)",
    ))
    expect = scenario.during_fault
    for i, (start, end) in enumerate(windows):
        during = window(series, start, end)
        settled = window(series, start + expect.settle, end)
        p95 = percentile_ms(settled.latency, 0.95)
        timeouts = during.counts.get(Outcome.TIMEOUT, 0)  # a hang anywhere in the window
        timeout_rate = timeouts / during.total if during.total else 0.0
        # the next fault that starts after this one ends (composed faults overlap)
        next_start = min((s for s, _ in windows if s >= end), default=scenario.traffic.duration)
        horizon = min(next_start, end + scenario.recovery.within + RECOVERY_HOLD)
        ttr = traffic_recovery(series, end, scenario.recovery.within,
                               scenario.recovery.max_error_rate, horizon)
        abs_end = run_started_at + end
        prr = probe_recovery(samples, scenario.steady_state.probes, abs_end,
                             abs_end + scenario.recovery.within)
        faults.append(FaultReport(i, descriptions[i], start, end, during.error_rate,
                                  during.rejected_rate, p95, timeout_rate, ttr, prr))
        label = f"fault {i}"
        if expect.max_p95_ms is not None:
            checks.append(Check(
                f"{label}: fails fast",
                p95 is not None and p95 <= expect.max_p95_ms,
                f"p95 {rates.format_ms(p95, deadline_ms)} from {expect.settle:g}s after the "
                f"fault was applied (max {expect.max_p95_ms:g} ms)"
                if p95 is not None else "no traffic recorded in the fault window",
            ))
        if expect.max_error_rate is not None:
            rate = settled.error_rate
            checks.append(Check(
                f"{label}: errors absorbed",
                rate is not None and rate <= expect.max_error_rate,
                f"{rate:.2%} errors of {settled.total} ops from {expect.settle:g}s after the "
                f"fault was applied (max {expect.max_error_rate:.2%})"
                if rate is not None else "no traffic recorded in the fault window",
            ))
        if expect.max_timeout_rate is not None:
            checks.append(Check(
                f"{label}: no hung requests",
                timeout_rate <= expect.max_timeout_rate,
                f"{timeouts} client timeouts ({timeout_rate:.2%}, max "
                f"{expect.max_timeout_rate:.2%})",
            ))
        for probe in expect.probes_seen:
            seen = any(s.ok for s in samples if s.probe == probe
                       and run_started_at + start <= s.at < abs_end)
            checks.append(Check(f"{label}: probe {probe} seen", seen,
                                "passed at least once during the fault" if seen else
                                "never passed during the fault"))
        checks.append(Check(
            f"{label}: traffic recovered",
            ttr is not None,
            f"errors back to <= {scenario.recovery.max_error_rate:.2%} after {ttr:.1f}s"
            if ttr is not None else f"not within {scenario.recovery.within:g}s",
        ))
        checks.append(Check(
            f"{label}: steady state restored",
            prr is not None,
            f"probes {', '.join(scenario.steady_state.probes)} passed {prr:.1f}s after revert"
            if prr is not None else f"probes still failing {scenario.recovery.within:g}s after",
        ))
    return checks, faults

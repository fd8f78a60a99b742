"""Prometheus metrics, read from the fleet's own records at scrape time.

Nothing is counted twice or lost on a restart: every value comes from the
catalogue database (runs, ledger, dead letters, failures) or Redis (leases, the
recording counters, each active run's live stats), so any number of API
processes report the same numbers. Counters are computed from records that are
only ever added, so they only go up; anything that can go down (a failure an
operator marks recovered, faults active now) is a gauge.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from catalogue.models import DeadLetter, FailureMatch, LedgerEntry, RunRecord
from catalogue.recording import read_counters
from chaosfleet.core import clock
from chaosfleet.core.outcomes import Outcome
from chaosfleet.runner.analysis import Verdict
from chaosfleet.runner.state import RunState
from chaosfleet.traffic.stats import LATENCY_EDGES_MS, LATENCY_SUM, parse_stats
from faults.control import kill_switch_key
from faults.leases import LeaseStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


RUN_LABELS = ["run", "scenario", "target"]


class FleetCollector(Collector):
    def __init__(self, engine: Engine, client: redis.Redis, prefix: str,
                 max_run_seconds: float = 3600):
        self.engine, self.client, self.prefix = engine, client, prefix
        self.max_run_seconds = max_run_seconds

    def collect(self) -> Iterator[Metric]:
        yield from self._database()
        yield from self._redis()
        yield from self._live_runs()

    def _database(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            runs = dict(conn.execute(select(RunRecord.status, func.count())
                                     .where(RunRecord.finished_at.is_not(None))
                                     .group_by(RunRecord.status)).tuples().all())
            ops = dict(conn.execute(select(LedgerEntry.outcome, func.count())
                                    .group_by(LedgerEntry.outcome)).tuples().all())
            letters = conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
            hits, misses, recovered, unrecovered = conn.execute(select(
                func.count(FailureMatch.mode_id),
                func.sum(case((FailureMatch.mode_id.is_(None), 1), else_=0)),
                func.sum(case((FailureMatch.recovered.is_(True), 1), else_=0)),
                func.sum(case((FailureMatch.recovered.is_(False), 1), else_=0)),
            )).one()
        m = CounterMetricFamily("chaosfleet_runs", "Finished runs by verdict", labels=["verdict"])
        for verdict in Verdict:
            m.add_metric([verdict.value], runs.get(verdict.value, 0))
        yield m
        m = CounterMetricFamily("chaosfleet_operations", "Ledger outcomes of synthetic "
                                "operations", labels=["outcome"])
        for outcome in ("ok", "rejected", "dead_lettered", "lost"):
            m.add_metric([outcome], ops.get(outcome, 0))
        yield m
        yield GaugeMetricFamily("chaosfleet_dead_letters", "Dead letters held", value=letters)
        m = CounterMetricFamily("chaosfleet_catalogue_failures", "Failures matched to a "
                                "catalogue mode (hit) or not (miss)", labels=["result"])
        m.add_metric(["hit"], hits or 0)
        m.add_metric(["miss"], misses or 0)
        yield m
        # a gauge: an operator's word moves a failure from unrecovered to recovered
        g = GaugeMetricFamily("chaosfleet_failures_by_recovery", "Failures in the catalogue "
                              "now, by recovery state", labels=["state"])
        g.add_metric(["recovered"], recovered or 0)
        g.add_metric(["unrecovered"], unrecovered or 0)
        g.add_metric(["unchecked"], (hits or 0) + (misses or 0) - (recovered or 0)
                     - (unrecovered or 0))
        yield g

    def _redis(self) -> Iterator[Metric]:
        leases = LeaseStore(self.client, self.prefix).active()
        yield GaugeMetricFamily("chaosfleet_active_leases", "Fault leases held",
                                value=len(leases))
        yield GaugeMetricFamily("chaosfleet_active_faults", "Faults applied and not reverted",
                                value=sum(1 for lease in leases if lease.applied_at))
        yield GaugeMetricFamily("chaosfleet_kill_switch_engaged", "1 while the kill switch is on",
                                value=int(bool(self.client.exists(kill_switch_key(self.prefix)))))
        m = CounterMetricFamily("chaosfleet_records", "Catalogue records spooled while the "
                                "database was down, backfilled, or dropped", labels=["state"])
        for state, n in read_counters(self.client, self.prefix).items():
            m.add_metric([state], n)
        yield m


    def _live_runs(self) -> Iterator[Metric]:
        """Series for each run in progress, labelled by run, scenario and target; they
        end with the run (its totals stay in chaosfleet_operations_total)."""
        since = clock.now() - self.max_run_seconds - 300
        with self.engine.connect() as conn:
            runs = conn.execute(select(RunRecord.id, RunRecord.scenario, RunRecord.target)
                                .where(RunRecord.finished_at.is_(None))).tuples().all()
        ops = CounterMetricFamily("chaosfleet_run_operations", "Operations of a run in "
                                  "progress, by outcome", labels=[*RUN_LABELS, "outcome"])
        rate = GaugeMetricFamily("chaosfleet_run_error_rate", "Errors and timeouts / sent "
                                 "over the run's last 3 seconds", labels=RUN_LABELS)
        faults = GaugeMetricFamily("chaosfleet_run_active_faults", "Faults of the run "
                                   "applied now", labels=RUN_LABELS)
        latency = HistogramMetricFamily("chaosfleet_run_operation_latency_seconds",
                                        "Latency of the run's answers", labels=RUN_LABELS)
        for run_id, scenario, target in runs:
            state = RunState(self.client, self.prefix, run_id)
            progress = state.progress()
            started = float(progress.get("started_at") or 0)
            if progress.get("phase") in (None, "done") or (started and started < since):
                continue
            labels = [run_id, scenario, target]
            raw = state.stats()
            series, _ = parse_stats(raw)
            for outcome in Outcome:
                ops.add_metric([*labels, outcome.value],
                               sum(sec.counts.get(outcome.value, 0) for sec in series))
            rate.add_metric(labels, float(progress.get("error_rate") or 0))
            active = progress.get("active_faults", "")
            faults.add_metric(labels, len(active.split("; ")) if active else 0)
            per_bucket = [sum(sec.latency.get(i, 0) for sec in series)
                          for i in range(len(LATENCY_EDGES_MS) + 1)]
            cumulative, buckets = 0, []
            for edge, n in zip([*(e / 1000 for e in LATENCY_EDGES_MS), float("inf")],
                               per_bucket, strict=True):
                cumulative += n
                buckets.append(("+Inf" if edge == float("inf") else f"{edge:g}", cumulative))
            latency.add_metric(labels, buckets, sum_value=raw.get(LATENCY_SUM, 0) / 1e6)
        yield from (ops, rate, faults, latency)


def render_metrics(engine: Engine, client: redis.Redis, prefix: str,
                   max_run_seconds: float = 3600) -> bytes:
    registry = CollectorRegistry()
    registry.register(FleetCollector(engine, client, prefix, max_run_seconds))
    return generate_latest(registry)

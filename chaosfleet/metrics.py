"""Prometheus metrics, read from the fleet's own records at scrape time.

Nothing is counted twice or lost on a restart: every value comes from the
catalogue database (runs, ledger, dead letters, failures) or Redis (leases, the
recording counters), so any number of API processes report the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from catalogue.models import DeadLetter, FailureMatch, LedgerEntry, RunRecord
from catalogue.recording import read_counters
from chaosfleet.runner.analysis import Verdict
from faults.control import kill_switch_key
from faults.leases import LeaseStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class FleetCollector(Collector):
    def __init__(self, engine: Engine, client: redis.Redis, prefix: str):
        self.engine, self.client, self.prefix = engine, client, prefix

    def collect(self) -> Iterator[Metric]:
        yield from self._database()
        yield from self._redis()

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
        m = CounterMetricFamily("chaosfleet_recoveries", "Failures whose recovery check "
                                "succeeded or failed", labels=["result"])
        m.add_metric(["succeeded"], recovered or 0)
        m.add_metric(["failed"], unrecovered or 0)
        yield m

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


def render_metrics(engine: Engine, client: redis.Redis, prefix: str) -> bytes:
    registry = CollectorRegistry()
    registry.register(FleetCollector(engine, client, prefix))
    return generate_latest(registry)

"""Per-second outcome counts and latency histograms, batched into one Redis hash
per run, so recording costs one round trip per slice per second, not per operation.

The hash's format is written (`StatsBatch`) and read back (`parse_stats` and the
`count_*` readers) here and nowhere else."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.client import Pipeline

from chaosfleet.core.outcomes import Outcome
from chaosfleet.reports import rates

# upper edges in ms; a final open bucket catches the rest
LATENCY_EDGES_MS = [5, 10, 25, 50, 100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000,
                    10000]


def latency_bucket(ms: float) -> int:
    return bisect.bisect_left(LATENCY_EDGES_MS, ms)


NOT_SENT = "n|not_sent"
OVER_BUDGET = "o|over_budget"  # answers slower than the target's declared budget
LAG_KIND = "g"  # how late the fleet woke to send an op, by latency bucket
MUTATION_KIND = "m"
FIELD_KIND = "f"  # malformed inputs by the field they broke
BACKOFF_KIND = "b"  # 429/503 answers, with or without a usable Retry-After
LATENCY_SUM = "s|latency_us"  # every answer's latency added up (a histogram's _sum)


def run_stats_key(prefix: str, run_id: str) -> str:
    return f"{prefix}:run:{run_id}:stats"


@dataclass
class StatsBatch:
    """Accumulates outcomes locally; `flush` writes them in one pipeline."""

    client: redis.Redis
    key: str
    run_started_at: float
    counts: Counter[str] = field(default_factory=Counter)
    total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # per (second, outcome, latency bucket): how many answers, named only when flushed
    _cells: dict[tuple[int, Outcome, int], int] = field(default_factory=dict, repr=False)
    _latency_us: int = 0

    def record(self, at: float, outcome: Outcome, latency_ms: float, error: str | None) -> None:
        cell = (max(0, int(at - self.run_started_at)), outcome,
                latency_bucket(latency_ms))
        with self._lock:
            cells = self._cells
            cells[cell] = cells.get(cell, 0) + 1
            self._latency_us += int(latency_ms * 1000)
            if error:
                self.counts[f"e|{error}"] += 1
            self.total += 1

    def record_successes(self, answers: list[tuple[float, float]],
                         budget_ms: float | None = None) -> None:
        """`record(at, OK, latency_ms, None)` for many (at, latency_ms) pairs at once;
        with `budget_ms`, those slower than it are counted over budget too."""
        start = self.run_started_at
        tally = Counter([(max(0, int(at - start)), latency_bucket(ms)) for at, ms in answers])
        latency_us = sum([int(ms * 1000) for _, ms in answers])
        over = 0 if budget_ms is None else sum(1 for _, ms in answers if ms > budget_ms)
        ok = Outcome.OK
        with self._lock:
            cells = self._cells
            for (sec, bucket), n in tally.items():
                cells[sec, ok, bucket] = cells.get((sec, ok, bucket), 0) + n
            self._latency_us += latency_us
            self.total += len(answers)
            if over:
                self.counts[OVER_BUDGET] += over

    def pending(self) -> Counter[str]:
        """Everything recorded since the last flush, by stats hash field."""
        with self._lock:
            self._fold()
            return Counter(self.counts)

    def _fold(self) -> None:
        """Name the cells' counts as the hash's fields (the lock held)."""
        counts = self.counts
        for (sec, outcome, bucket), n in self._cells.items():
            counts[f"c|{sec}|{outcome}"] += n
            counts[f"l|{sec}|{bucket}"] += n
        if self._latency_us:
            counts[LATENCY_SUM] += self._latency_us
        self._cells, self._latency_us = {}, 0

    def record_mutation(self, mutation: str, verdict: str, field: str | None = None) -> None:
        """How the target took one malformed input (see drivers.judge_mutation), by
        mutation and by the field it broke."""
        with self._lock:
            self.counts[f"{MUTATION_KIND}|{mutation}|{verdict}"] += 1
            where = (field or "(body)").replace("|", "/")[:120]
            self.counts[f"{FIELD_KIND}|{where}|{verdict}"] += 1

    def record_backoff(self, status: int, says_when: bool) -> None:
        """One 'come back later' answer, and whether it said when."""
        with self._lock:
            self.counts[f"{BACKOFF_KIND}|{status}|{'with' if says_when else 'without'}"] += 1

    def record_lag(self, seconds: float) -> None:
        """How much later than planned a slice woke up to send an operation: the
        fleet's own scheduling delay (a starved CPU), never the target's."""
        with self._lock:
            self.counts[f"{LAG_KIND}|{latency_bucket(max(0.0, seconds) * 1000)}"] += 1

    def record_over_budget(self) -> None:
        with self._lock:
            self.counts[OVER_BUDGET] += 1

    def record_not_sent(self, n: int) -> None:
        """Operations the slice never started: at its concurrency limit until the
        window closed. Counted, never sent late, so a slice ends on time."""
        if n > 0:
            with self._lock:
                self.counts[NOT_SENT] += n

    def flush(self, final: bool = False, also: Callable[[Pipeline], None] | None = None) -> None:
        """Write what accumulated. On a Redis error the counts are kept for the next
        flush; only the final flush raises, so nothing is dropped silently. `also`
        adds commands to the same round trip, after the counts (a slice's status)."""
        with self._lock:
            self._fold()
            if not self.counts and also is None:
                return
            pending, self.counts = self.counts, Counter()
        pipe = self.client.pipeline(transaction=False)
        for name, n in pending.items():
            pipe.hincrby(self.key, name, n)
        if pending:
            pipe.expire(self.key, 7 * 86400)
        if also is not None:
            also(pipe)
        try:
            pipe.execute()
        except redis.RedisError:
            with self._lock:
                self.counts.update(pending)
            if final:
                raise


# -- the reader: the same format, read back (the controller, the metrics, the journal)


@dataclass
class Second:
    t: int
    counts: dict[str, int] = field(default_factory=dict)
    latency: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def error_rate(self) -> float | None:
        """Errors and timeouts over operations sent (chaosfleet.reports.rates); None: not sent."""
        return rates.error_rate(self.counts)

    @property
    def rejected_rate(self) -> float | None:
        return rates.rejected_rate(self.counts)


def parse_stats(raw: dict[str, int]) -> tuple[list[Second], dict[str, int]]:
    """Rebuild the per-second series and error classes from the run's stats hash."""
    seconds: dict[int, Second] = {}
    errors: dict[str, int] = {}
    for name, value in raw.items():
        kind, *rest = name.split("|")
        if kind == "e":
            errors[rest[0]] = int(value)
            continue
        if kind not in ("c", "l") or len(rest) != 2:
            continue  # not a per-second series: see count_not_sent, count_mutations
        t = int(rest[0])
        sec = seconds.setdefault(t, Second(t))
        if kind == "c":
            sec.counts[rest[1]] = int(value)
        elif kind == "l":
            sec.latency[int(rest[1])] = int(value)
    if not seconds:
        return [], errors
    last = max(seconds)
    return [seconds.get(t, Second(t)) for t in range(last + 1)], errors


def count_not_sent(raw: dict[str, int]) -> int:
    return int(raw.get(NOT_SENT, 0))


def count_mutations(raw: dict[str, int], kind: str = "m") -> dict[str, dict[str, int]]:
    """Malformed inputs by mutation (kind "m") or by field ("f"), and by how the
    target took them."""
    table: dict[str, dict[str, int]] = {}
    for name, value in raw.items():
        found, *rest = name.split("|")
        if found == kind and len(rest) == 2:
            table.setdefault(rest[0], {})[rest[1]] = int(value)
    return dict(sorted(table.items()))


def count_backoff(raw: dict[str, int]) -> dict[int, dict[str, int]]:
    """429/503 answers by status: how many said when to retry ("with") and not."""
    table: dict[int, dict[str, int]] = {}
    for name, value in raw.items():
        found, *rest = name.split("|")
        if found == "b" and len(rest) == 2 and rest[0].isdigit():
            table.setdefault(int(rest[0]), {})[rest[1]] = int(value)
    return dict(sorted(table.items()))

"""Record each operation's outcome, in batches: per-second stats in Redis (for
live progress and the timeline), and in SQL one ledger row (the account), a dead
letter for each permanent failure, and each failure for the catalogue matcher.

The SQL rows go to the process's record writer (catalogue/recording.py), which
writes them off the traffic path and spools them when the database is down; the
final flush waits until every row is written or spooled. Without a writer (tests,
benchmarks) rows are written in the caller's thread; nothing is dropped on a
failed flush: rows wait for the next one, and only the final flush raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.client import Pipeline
from sqlalchemy.engine import Engine

from catalogue.failures import observed
from catalogue.recording import Batch, RecordWriter, write_batch
from catalogue.records import DeadLetterRow, LedgerOutcome, LedgerRow
from chaosfleet.core import clock
from chaosfleet.core.outcomes import Outcome
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.stats import StatsBatch
from faults.malformed import Mutation

LEDGER_OUTCOME = {
    Outcome.OK: LedgerOutcome.OK,
    Outcome.REJECTED: LedgerOutcome.REJECTED,
    Outcome.ERROR: LedgerOutcome.DEAD_LETTERED,
    Outcome.TIMEOUT: LedgerOutcome.DEAD_LETTERED,
}


OK_OUTCOME = str(LedgerOutcome.OK)
# a clean success until the next flush: op id, operation, at, latency (ms), input hash, path
Success = tuple[str, str, float, float, str, str | None]
FINAL_FLUSH_TIMEOUT = 30.0  # seconds for the writer to write or spool a slice's rows


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
class Seen:
    """What the target said about a failure: its error code (or the fleet's, such
    as client_timeout), its message and the HTTP status."""

    code: str = ""
    message: str = ""
    status: int | None = None


@dataclass
class Recorder:
    plan: SlicePlan
    stats: StatsBatch
    engine: Engine | None  # None: no ledger (only to measure what the ledger costs)
    attempt: int = 1
    writer: RecordWriter | None = None  # None: write in the caller's thread
    matcher: Any = None  # catalogue.matching.Matcher, when writing without a writer
    _entries: list[dict[str, Any]] = field(default_factory=list)
    _letters: list[dict[str, Any]] = field(default_factory=list)
    _successes: list[Success] = field(default_factory=list)  # their rows made at flush
    _failures: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        return self.stats.total + len(self._successes)

    def fault_at(self, at: float) -> str | None:
        for mark in self.plan.fault_marks:
            if mark.start <= at < mark.end:
                return mark.label
        return None

    def record(self, op_id: str, operation: str, at: float, outcome: Outcome,
               latency_ms: float, error: str | None, input_hash: str, op_index: int,
               mutation: Mutation | None = None, seen: Seen | None = None,
               request_path: str | None = None) -> None:
        if outcome is Outcome.OK and mutation is None and (seen is None or not seen.code):
            self._record_success(op_id, operation, at, latency_ms, input_hash, request_path)
            return
        entry = LedgerRow(
            op_id=op_id, run_id=self.plan.run_id, scenario=self.plan.scenario,
            slice_index=self.plan.index, operation=operation, attempt=self.attempt,
            outcome=LEDGER_OUTCOME[outcome], latency_ms=round(latency_ms, 2),
            error_class=error, fault=self.fault_at(at), input_hash=input_hash, at=at,
            request_path=request_path[:300] if request_path else None)
        letter = None
        if entry.outcome is LedgerOutcome.DEAD_LETTERED:
            context: dict[str, Any] = {
                "slice": self.plan.index, "attempt": self.attempt, "outcome": str(outcome),
                "latency_ms": entry.latency_ms}
            if mutation:  # what was broken, never the bytes (the hash names them)
                context["mutation"] = mutation.name
                context["mutation_detail"] = mutation.detail[:200]
            letter = DeadLetterRow.of(entry, f"{operation} failed: {error}", context, op_index)
        failure = self._failure(entry, outcome, mutation, seen or Seen(error or ""))
        with self._lock:
            self._entries.append(entry.as_row())
            if letter:
                self._letters.append(letter.as_row())
            if failure:
                self._failures.append(failure)
        self.stats.record(at, outcome, latency_ms, error)
        budget = self.plan.target.budget
        if budget is not None and outcome is not Outcome.TIMEOUT and latency_ms > budget * 1000:
            self.stats.record_over_budget()

    def _record_success(self, op_id: str, operation: str, at: float, latency_ms: float,
                        input_hash: str, request_path: str | None) -> None:
        """The common case, kept to one append on the traffic path: its ledger row and
        its stats are made for the whole batch at the next flush (`_success_rows`),
        where a tight loop does the same work for less (bench/RESULTS.md)."""
        with self._lock:
            self._successes.append((op_id, operation, at, latency_ms, input_hash,
                                    request_path))

    def _success_rows(self, successes: list[Success]) -> list[dict[str, Any]]:
        """The ledger rows of clean successes (the rows `LedgerRow.as_row` gives), their
        stats counted."""
        plan = self.plan
        run_id, scenario, index, attempt = plan.run_id, plan.scenario, plan.index, self.attempt
        fault_at = self.fault_at if plan.fault_marks else lambda _: None
        rows = [{"op_id": op_id, "run_id": run_id, "scenario": scenario, "slice_index": index,
                 "operation": operation, "attempt": attempt, "outcome": OK_OUTCOME,
                 "latency_ms": round(latency_ms, 2), "error_class": None,
                 "fault": fault_at(at), "input_hash": input_hash, "at": at,
                 "request_path": path[:300] if path else None}
                for op_id, operation, at, latency_ms, input_hash, path in successes]
        budget = plan.target.budget
        self.stats.record_successes([(s[2], s[3]) for s in successes],
                                    None if budget is None else budget * 1000)
        return rows

    def _failure(self, entry: LedgerRow, outcome: Outcome, mutation: Mutation | None,
                 seen: Seen) -> dict[str, Any] | None:
        """Every outcome but a clean success is a failure for the catalogue; so are a
        malformed input the target accepted and a degraded success (seen.code set)."""
        if outcome is Outcome.OK and mutation is None and not seen.code:
            return None
        context: dict[str, Any] = {"slice": self.plan.index, "attempt": self.attempt,
                                   "outcome": str(outcome)}
        if mutation:
            context["mutation"] = mutation.name
        code, message = seen.code or entry.error_class or "unknown", seen.message
        if outcome is Outcome.OK and mutation:  # it went through: a validation gap
            code, message = "malformed_accepted", mutation.name
        return observed(run_id=self.plan.run_id, scenario=self.plan.scenario, code=code,
                        message=message, status=seen.status, correlation_id=entry.op_id,
                        operation=entry.operation, fault=entry.fault,
                        input_hash=entry.input_hash, context=context, at=entry.at)

    def record_skipped(self, op_id: str, operation: str, input_hash: str, op_index: int,
                       error: str, why: str) -> None:
        """A journey step that was never sent: an earlier step failed, or a value it
        needs was not captured. Its own ledger state, `skipped` (never `ok`, never
        lost); it is not in the per-second series, which counts what was sent."""
        at = clock.now()
        entry = LedgerRow(
            op_id=op_id, run_id=self.plan.run_id, scenario=self.plan.scenario,
            slice_index=self.plan.index, operation=operation, attempt=self.attempt,
            outcome=LedgerOutcome.SKIPPED, error_class=error, input_hash=input_hash, at=at)
        with self._lock:
            self._entries.append(entry.as_row())
        if error == "capture_failed":  # the target answered, but not what the journey reads
            self._failures.append(observed(
                run_id=self.plan.run_id, scenario=self.plan.scenario, code=error,
                message=why[:300], status=None, correlation_id=op_id, operation=operation,
                fault=self.fault_at(at), input_hash=input_hash,
                context={"slice": self.plan.index, "attempt": self.attempt,
                         "outcome": "skipped", "op_index": op_index},
                at=at))

    def record_interrupted(self, op_id: str, operation: str, input_hash: str, op_index: int,
                           error: str) -> None:
        """A step of a journey whose worker died mid-way: whether it took effect is
        unknown and its journey cannot resume (the captures died with the process),
        so it is dead-lettered for a person to look at."""
        self.record(op_id, operation, clock.now(), Outcome.ERROR, 0.0, error, input_hash,
                    op_index, None, Seen(error, "the worker running this journey was lost"))

    def record_mutation(self, mutation: Mutation, verdict: str) -> None:
        self.stats.record_mutation(mutation.name, verdict, mutation.field)

    def record_backoff(self, status: int, says_when: bool) -> None:
        self.stats.record_backoff(status, says_when)

    def record_lag(self, seconds: float) -> None:
        self.stats.record_lag(seconds)

    def record_not_sent(self, n: int) -> None:
        self.stats.record_not_sent(n)

    def take_batch(self) -> Batch:
        """Every row recorded since the last take, for the writer (the stats of clean
        successes are counted on the way)."""
        with self._lock:
            batch: Batch = {"dead_letters": self._letters, "ledger": self._entries,
                            "failures": self._failures}
            successes = self._successes
            self._entries, self._letters, self._failures = [], [], []
            self._successes = []
        if successes:
            batch["ledger"] += self._success_rows(successes)
        return batch

    def flush(self, final: bool = False, also: Callable[[Pipeline], None] | None = None) -> None:
        """Hand the rows to the writer and the counts to Redis. The final flush waits
        until the rows are written or spooled; `also` goes in the counts' round trip,
        after them, so what it marks (the slice done) is only seen once they are in."""
        batch = self.take_batch()
        if self.engine is None:
            self.stats.flush(final=final, also=also)
            return
        if self.writer is not None:
            self.writer.submit(batch)
            if final and not self.writer.flush(FINAL_FLUSH_TIMEOUT):
                raise RuntimeError("record writer neither wrote nor spooled the slice's rows "
                                   f"within {FINAL_FLUSH_TIMEOUT:g}s")
        else:
            self._write_now(batch, final)
        self.stats.flush(final=final, also=also)

    def _write_now(self, batch: Batch, final: bool) -> None:
        from catalogue.failures import match_batch
        from catalogue.matching import Matcher
        from catalogue.modes import load_catalogue

        if self.matcher is None:
            self.matcher = Matcher(load_catalogue())
        try:
            write_batch(self.engine, match_batch(batch, self.matcher))  # type: ignore[arg-type]
        except Exception:
            with self._lock:  # keep them for the next flush
                self._letters[:0] = batch["dead_letters"]
                self._entries[:0] = batch["ledger"]
                self._failures[:0] = batch["failures"]
            if final:
                raise

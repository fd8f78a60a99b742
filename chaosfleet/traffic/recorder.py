"""Record each operation's outcome twice, in batches: per-second stats in Redis
(for live progress and the timeline) and one ledger row in SQL (the account).

Both are flushed together about once a second; the ledger first, since it is the
source of truth. Nothing is dropped on a failed flush: rows wait for the next one,
and only the final flush raises.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from catalogue.ledger import make_dead_letter, write_entries
from chaosfleet.traffic.plan import SlicePlan
from chaosfleet.traffic.stats import Outcome, StatsBatch
from faults.malformed import Mutation

LEDGER_OUTCOME = {
    Outcome.OK: "ok",
    Outcome.REJECTED: "rejected",
    Outcome.ERROR: "dead_lettered",
    Outcome.TIMEOUT: "dead_lettered",
}


@dataclass
class Recorder:
    plan: SlicePlan
    stats: StatsBatch
    engine: Engine | None  # None: no ledger (only to measure what the ledger costs)
    attempt: int = 1
    _entries: list[dict[str, Any]] = field(default_factory=list)
    _letters: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        return self.stats.total

    def fault_at(self, at: float) -> str | None:
        for mark in self.plan.fault_marks:
            if mark.start <= at < mark.end:
                return mark.label
        return None

    def record(self, op_id: str, operation: str, at: float, outcome: Outcome,
               latency_ms: float, error: str | None, input_hash: str, op_index: int,
               mutation: Mutation | None = None) -> None:
        entry = {
            "op_id": op_id, "run_id": self.plan.run_id, "scenario": self.plan.scenario,
            "slice_index": self.plan.index,
            "operation": operation, "attempt": self.attempt,
            "outcome": LEDGER_OUTCOME[outcome], "latency_ms": round(latency_ms, 2),
            "error_class": error, "fault": self.fault_at(at), "input_hash": input_hash,
            "at": at,
        }
        letter = None
        if entry["outcome"] == "dead_lettered":
            context: dict[str, Any] = {
                "slice": self.plan.index, "attempt": self.attempt, "outcome": str(outcome),
                "latency_ms": entry["latency_ms"]}
            if mutation:  # what was broken, never the bytes (the hash names them)
                context["mutation"] = mutation.name
                context["mutation_detail"] = mutation.detail[:200]
            letter = make_dead_letter(
                entry, self.plan.scenario, f"{operation} failed: {error}", context, op_index)
        with self._lock:
            self._entries.append(entry)
            if letter:
                self._letters.append(letter)
        self.stats.record(at, outcome, latency_ms, error)

    def record_mutation(self, mutation: Mutation, verdict: str) -> None:
        self.stats.record_mutation(mutation.name, verdict)

    def record_not_sent(self, n: int) -> None:
        self.stats.record_not_sent(n)

    def flush(self, final: bool = False) -> None:
        with self._lock:
            entries, self._entries = self._entries, []
            letters, self._letters = self._letters, []
        if self.engine is None:
            self.stats.flush(final=final)
            return
        try:
            write_entries(self.engine, entries, letters)
        except Exception:
            with self._lock:  # keep them for the next flush
                self._entries[:0] = entries
                self._letters[:0] = letters
            if final:
                raise
        self.stats.flush(final=final)

"""The journals' schemas as typed models: `chaosfleet.journal/2` (one run) and
`chaosfleet.suite/1` (one suite). `chaosfleet schema run|suite` prints them as
JSON Schema; docs/journal.md explains each field and the versioning rule.

Versioning: a field may be added within a version (readers ignore what they do
not know); renaming, removing or changing the meaning of a field bumps the
version in `schema`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chaosfleet.core.errors import ConfigError

Verdict = Literal["passed", "failed", "aborted", "error"]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ScenarioRef(Open):
    name: str
    seed: int
    target: str
    spec: dict[str, Any] = Field(description="the scenario exactly as run (for replays)")


class CheckOut(Open):
    name: str
    passed: bool
    detail: str


class FaultOut(Open):
    index: int
    describe: str
    start: float = Field(description="scheduled: seconds after traffic start")
    end: float
    sent: float | None = Field(default=None, description="apply sent to the faults queue "
                               "(s after traffic start)")
    received: float | None = Field(default=None, description="a faults worker took it; "
                                   "received - sent is queue wait, applied - received apply time")
    applied: float | None = Field(default=None, description="confirmed applied: seconds after "
                                  "traffic start; checks judge from here")
    reverted: float | None = Field(default=None, description="confirmed reverted: seconds "
                                   "after traffic start; recovery is measured from here")
    applied_at: float | None = Field(description="epoch seconds")
    reverted_at: float | None
    reverted_by: str = Field(description="faults worker, controller fallback, run cleanup, "
                                         "janitor")
    error_rate: float | None = Field(description="errors and timeouts / operations sent in "
                                     "the applied window; null: nothing was sent")
    rejected_rate: float | None = Field(default=None, description="clean rejections (4xx) / "
                                        "operations sent, apart from errors")
    p95_ms: float | None = Field(description="histogram bucket edge; at or above deadline_ms "
                                 "it is a cut-off, not a measurement")
    timeout_rate: float | None
    time_to_recover_s: float | None = Field(description="traffic back under the recovery "
                                                        "error rate after the revert")
    probe_recovery_s: float | None = Field(description="steady-state probes passing again")


class SecondOut(Open):
    t: int
    ok: int
    rejected: int
    error: int
    timeout: int
    p95_ms: float | None


class ProbeOut(Open):
    t: float
    probe: str
    ok: bool
    detail: str


class MissOut(Open):
    signature: str
    occurrences: int
    error_code: str | None = None
    message: str | None = None
    http_status: int | None = None


class CatalogueOut(Open):
    by_mode: dict[str, int] = Field(description="failures matched to each mode")
    misses: list[MissOut]


class DeadLetterSample(Open):
    id: str
    operation: str
    error_class: str | None = None


class DeadLettersOut(Open):
    total: int
    by_class: dict[str, int]
    sample: list[DeadLetterSample] = Field(default_factory=list)


class WarningOut(Open):
    mode_id: str
    metric: str
    value: float
    level: str
    rising: bool
    action: str | None = None


class ReproducerOut(Open):
    detail: str
    reproducer: str
    status: int | str | None = None


class MalformedField(Open):
    field: str
    verdicts: dict[str, int]
    crashed: list[ReproducerOut]
    accepted: list[ReproducerOut]


class MalformedOut(Open):
    totals: dict[str, int] = Field(default_factory=dict)
    fields: list[MalformedField] = Field(default_factory=list)


class EffectsOut(Open):
    rows: int
    keys: int
    duplicates: int


class ReplayOut(Open):
    replayed: int
    ok: int


class FleetOut(Open):
    hosts: list[str]
    traffic_processes: int
    slices_per_window: int
    config_hash: str
    workers: list[dict[str, Any]]


class RunJournal(Open):
    """journal.json, written by the run's controller in reports/<run id>/."""

    schema_: Literal["chaosfleet.journal/2"] = Field(alias="schema")
    run_id: str
    scenario: ScenarioRef
    trigger: str = Field(description="cli, api, beat or replay")
    suite_id: str | None = None
    replay_of: str | None = None
    verdict: Verdict
    reason: str
    started_at: float | None = Field(description="epoch seconds of traffic start (t = 0)")
    deadline_ms: float | None = Field(default=None, description="the fleet's deadline per "
                                      "operation: a percentile at or above it is a cut-off")
    checks: list[CheckOut]
    faults: list[FaultOut]
    timeline: list[SecondOut] = Field(description="one entry per second of traffic")
    totals: dict[str, int] = Field(description="operations by outcome (live stats)")
    not_sent: int = Field(description="due but never sent: every slice at its limit")
    ledger: dict[str, int] = Field(description="ok, rejected, dead_lettered, lost")
    errors: dict[str, int] = Field(description="failures by error class")
    probes: list[ProbeOut]
    notes: list[str]
    # sections present when they apply
    recording: dict[str, int] | None = Field(
        default=None, description="spooled, backfilled, dropped, pending for this run")
    catalogue: CatalogueOut | None = Field(
        default=None, description="by_mode {mode: failures}, misses [{signature, ...}]")
    dead_letters: DeadLettersOut | None = Field(
        default=None, description="total, by_class {class: n}, sample [{id, operation, "
                                  "error_class}]")
    warnings: list[WarningOut] | None = Field(
        default=None, description="early warnings evaluated at the end of the run; absent: "
                                  "not evaluated (the run ended before)")
    effects: EffectsOut | None = Field(
        default=None, description="rows, keys, duplicates; acknowledged and "
        "acknowledged_lost when operations are marked effect")
    backoff: dict[str, dict[str, int]] | None = Field(
        default=None, description="429/503 answers by status: with / without a usable "
        "Retry-After")
    replay: ReplayOut | None = Field(default=None, description="dead letters replayed")
    malformed: MalformedOut | None = None
    harness: dict[str, Any] | None = Field(
        default=None, description="the fleet's own send lag: sends_timed, lag_p95_ms, "
        "lag_p99_ms (above 1000 ms p95 the run is an error)")
    fault_measurements: list[dict[str, Any]] | None = None
    fleet: FleetOut | None = Field(
        default=None, description="the workers the run found: hosts, traffic_processes, "
                                  "slices_per_window, config_hash, workers [{node, host, "
                                  "queues, concurrency, config_hash, skew}]")


class SuiteRunOut(Open):
    scenario: str
    run_id: str | None
    verdict: Literal["passed", "failed", "aborted", "error", "skipped"]
    reason: str
    journal: str | None = Field(description="path of the run's journal.json")
    wall_s: float


class SuiteRef(Open):
    name: str
    description: str
    scenarios: list[str]


class SuiteJournal(Open):
    """suite.json, written in reports/<suite id>/ next to report.html and junit.xml."""

    schema_: Literal["chaosfleet.suite/1"] = Field(alias="schema")
    suite_id: str
    suite: SuiteRef
    trigger: str
    verdict: Verdict
    reason: str
    started_at: float
    wall_s: float
    runs: list[SuiteRunOut]


SCHEMAS: dict[str, type[BaseModel]] = {"run": RunJournal, "suite": SuiteJournal}

MAX_JOURNAL_BYTES = 64 << 20  # an hour-long run's journal is a few MiB


def read_journal(path: Path) -> tuple[str, dict[str, Any]]:
    """Read a run or suite journal and validate it against its own schema:
    ("run" | "suite", the document). Anything else is a ConfigError naming what is
    wrong, so `chaosfleet report` never renders half a document or crashes."""
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_JOURNAL_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_journal(raw, str(path))


def parse_journal(raw: bytes | str, where: str) -> tuple[str, dict[str, Any]]:
    """Validate a journal's JSON text (from a file or the catalogue database);
    `where` names it in errors."""
    if len(raw) > MAX_JOURNAL_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_JOURNAL_BYTES >> 20} MiB: not a journal")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{where} is not a chaosfleet journal: not JSON ({exc})") from None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    kinds = {"chaosfleet.journal/2": "run", "chaosfleet.suite/1": "suite"}
    if not isinstance(schema, str) or schema not in kinds:
        raise ConfigError(f"{where} is not a chaosfleet journal: its schema is {schema!r}, "
                          f"expected one of {', '.join(kinds)}")
    kind = kinds[schema]
    try:
        SCHEMAS[kind].model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(document)'}: {e['msg']}"
                             for e in exc.errors()[:5])
        raise ConfigError(f"{where} is not a valid {schema} journal: {problems}") from None
    return kind, doc

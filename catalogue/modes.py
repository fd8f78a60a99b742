"""Known failure modes, as data: the catalogue file loaded into typed models.

A mode says how to recognise a failure (its signature), what kind it is, whether
it is a defect of a recovery path or an expected degradation, how it recovers, and
which indicators warn of it early. The bundled file is `catalogue/failure_modes.yaml`;
point `CHAOSFLEET_CATALOGUE_PATH` at your own copy to extend it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaosfleet.core.durations import Duration
from chaosfleet.core.yamlio import load_yaml_model

BUNDLED_CATALOGUE = Path(__file__).with_name("failure_modes.yaml")


MAX_PATTERN = 500  # a signature pattern is a line of text, not a program


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class Category(StrEnum):
    DEPENDENCY = "dependency"   # a database, cache or upstream is down or saturated
    NETWORK = "network"         # timeouts, resets, partitions
    INPUT = "input"             # what callers send
    CAPACITY = "capacity"       # shedding, rate limits
    RESILIENCE = "resilience"   # breakers, guards: a mechanism doing its job
    INTEGRITY = "integrity"     # lost or doubled work


class RecoveryMode(StrEnum):
    AUTOMATIC = "automatic"     # the target heals by itself once the cause is gone
    RETRY = "retry"             # the caller recovers by retrying (idempotently)
    OPERATOR = "operator"       # a person must act
    NONE = "none"               # nothing to recover: the failure is the right answer


class Signature(Strict):
    """How a failure is recognised. `codes` match exactly (an error code from the
    target's error body, a fleet code such as `client_timeout`, or an exception
    class name); `patterns` are regular expressions on the normalised message;
    `examples` are normalised messages for fuzzy matching; `statuses`, when given,
    restrict the mode to those HTTP statuses."""

    codes: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    statuses: list[int] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            if len(p) > MAX_PATTERN:
                raise ValueError(f"pattern {p[:40]!r}… is longer than {MAX_PATTERN} characters")
            try:
                re.compile(p)
            except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296}, deep (
                raise ValueError(f"pattern {p[:80]!r} is not a valid regex: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def recognisable(self) -> Signature:
        if not (self.codes or self.patterns or self.examples):
            raise ValueError("a signature needs at least one of codes, patterns, examples")
        return self


class ExpectedRecovery(Strict):
    description: str = Field(min_length=1)
    within: Duration | None = Field(default=None, gt=0, description="recovery bound, if any")


class Indicator(Strict):
    """An early-warning signal for this mode, read from a run's recorded metrics."""

    metric: Literal["error_rate", "timeout_rate", "p95_ms", "matches_per_minute"]
    warning: float = Field(ge=0)
    critical: float = Field(ge=0)
    action: str = Field(min_length=1, description="what to do when it fires")

    @model_validator(mode="after")
    def ordered(self) -> Indicator:
        if self.critical < self.warning:
            raise ValueError("critical must not be below warning")
        return self


class FailureMode(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    title: str = Field(min_length=1, max_length=120)
    category: Category
    severity: Severity
    defect: bool = Field(description="true: a recovery path is broken; false: the target "
                                     "degrading as designed")
    retryable: bool
    recovery_mode: RecoveryMode
    mitigation: str = Field(min_length=1)
    expected_recovery: ExpectedRecovery
    signature: Signature
    indicators: list[Indicator] = Field(default_factory=list)


class Catalogue(Strict):
    version: int = Field(ge=1)
    modes: list[FailureMode] = Field(min_length=1)

    @model_validator(mode="after")
    def unique_ids(self) -> Catalogue:
        seen: set[str] = set()
        for mode in self.modes:
            if mode.id in seen:
                raise ValueError(f"failure mode id {mode.id!r} is declared twice")
            seen.add(mode.id)
        return self

    def mode(self, mode_id: str) -> FailureMode | None:
        return next((m for m in self.modes if m.id == mode_id), None)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and validate; a bad file raises ConfigError naming file, line and field."""
    return load_yaml_model(path or BUNDLED_CATALOGUE, Catalogue)

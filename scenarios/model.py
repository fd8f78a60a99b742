"""The scenario model: traffic, fault timeline, steady state, recovery, stop conditions."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chaosfleet.core.durations import Duration
from chaosfleet.core.recipes import (
    FakerField,
    Recipe,
    Ref,
    TemplateError,
    TemplateStr,
    parse_ref,
    recipe_refs,
    template_refs,
)
from faults.registry import FaultSpec

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True,
                              populate_by_name=True)


__all__ = ["FakerField", "Journey", "JourneyStep", "OperationMix", "Scenario", "Suite"]

CAPTURE_ROOTS = ("body", "headers", "status", "request")


class OperationMix(Strict):
    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)
    payload: dict[str, Recipe] = Field(default_factory=dict)


class BasicAuth(Strict):
    user: TemplateStr
    password: TemplateStr


class StepAuth(Strict):
    """The journey's credentials from this step on (once the step succeeded):
    exactly one of `basic`, `bearer` or `header` + `value`."""

    basic: BasicAuth | None = None
    bearer: TemplateStr | None = None
    header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    value: TemplateStr | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> StepAuth:
        kinds = [self.basic is not None, self.bearer is not None, self.header is not None]
        if sum(kinds) != 1 or (self.header is None) != (self.value is None):
            raise ValueError("auth needs exactly one of basic: {user, password}, "
                             "bearer: TEMPLATE, or header: NAME with value: TEMPLATE")
        return self

    def templates(self) -> list[str]:
        if self.basic is not None:
            return [self.basic.user, self.basic.password]
        return [self.bearer or self.value or ""]


def _capture_path(text: str) -> str:
    ref = parse_ref(text)
    if ref.root not in CAPTURE_ROOTS:
        raise ValueError(f"{text!r}: a capture reads one of {', '.join(CAPTURE_ROOTS)} "
                         "(e.g. body.data.id, headers.location, request.data.id, status)")
    return text


class JourneyStep(Strict):
    """One operation of a journey: one ledger row. Its payload and headers may use
    what earlier steps captured; `capture` names values of its own answer."""

    operation: str = Field(min_length=1)
    payload: dict[str, Recipe] = Field(default_factory=dict)
    headers: dict[str, TemplateStr] = Field(default_factory=dict)
    capture: dict[str, str] = Field(default_factory=dict)
    auth: StepAuth | None = None

    @field_validator("capture")
    @classmethod
    def capture_paths(cls, capture: dict[str, str]) -> dict[str, str]:
        for name, path in capture.items():
            if name == "payload" or not name.isidentifier():
                raise ValueError(f"{name!r}: a capture name is an identifier other than "
                                 "'payload'")
            _capture_path(path)
        return capture

    def refs(self) -> list[tuple[str, Ref]]:
        """(field, reference) for every reference of the step's own templates; `auth`
        is set after the step's answer, so it may read the step's own captures."""
        found = recipe_refs(self.payload, "payload")
        found += [(f"headers.{k}", r) for k, v in self.headers.items()
                  for r in template_refs(v)]
        if self.auth is not None:
            found += [("auth", r) for text in self.auth.templates()
                      for r in template_refs(text)]
        return found


class Journey(Strict):
    """A virtual user: ordered steps started at the traffic's rate (open loop);
    each step waits for the one before it."""

    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)
    steps: list[JourneyStep] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def captures_come_first(self) -> Journey:
        """A reference names a capture of an earlier step (never `payload`: a
        payload cannot read itself)."""
        problems = []
        captured: list[str] = []
        for i, step in enumerate(self.steps):
            for where, ref in step.refs():
                own = list(step.capture) if where == "auth" else []  # auth follows the step
                if ref.root not in captured + own:
                    later = [j for j, s in enumerate(self.steps) if ref.root in s.capture]
                    why = (f"captured only by step {later[0]}, after this one" if later
                           else "no step captures it")
                    problems.append(
                        f"steps.{i}.{where}: {{{ref}}} names capture {ref.root!r}, {why} "
                        f"(captured before step {i}: {', '.join(captured) or 'none'})")
            captured += list(step.capture)
        if problems:
            raise TemplateError("; ".join(problems))
        return self

    def captured_before(self, index: int) -> set[str]:
        return {name for step in self.steps[:index] for name in step.capture}


class Traffic(Strict):
    rate: float = Field(gt=0, le=100_000, description="operations per second, all slices")
    duration: Duration = Field(gt=0, le=86_400)
    concurrency: int = Field(default=16, ge=1, le=2_000, description="in flight per slice")
    timeout: Duration | None = Field(
        default=None, gt=0, description="the fleet's deadline per operation; target's if unset")
    journeys: list[Journey] = Field(default_factory=list)  # before operations: see below
    operations: list[OperationMix] = Field(default_factory=list)

    @field_validator("operations", "journeys")
    @classmethod
    def unique_names(cls, items: list[Any]) -> list[Any]:
        names = [item.name for item in items]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"names must be unique; repeated: {dupes}")
        return items

    @field_validator("operations")
    @classmethod
    def operations_or_journeys(cls, ops: list[OperationMix], info: ValidationInfo
                               ) -> list[OperationMix]:
        """Checked on the field (not the model), so it is reported along with every
        other bad field of the traffic."""
        if "journeys" in info.data and bool(ops) == bool(info.data["journeys"]):
            raise ValueError("give exactly one of traffic.operations (a weighted mix of "
                             "single requests) or traffic.journeys (weighted sequences of "
                             "steps)")
        return ops

    @property
    def operation_names(self) -> list[str]:
        """Every operation the traffic sends, in order of first use."""
        names = [op.name for op in self.operations]
        names += [step.operation for j in self.journeys for step in j.steps]
        return list(dict.fromkeys(names))


class SteadyState(Strict):
    """Must hold before the first fault and again within the recovery bound."""

    probes: list[str] = Field(min_length=1)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)


class DuringFault(Strict):
    """How the target must behave while a fault is active: fail fast, never hang."""

    settle: Duration = Field(default=3.0, description="grace after each fault starts")
    max_p95_ms: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(
        default=None, ge=0, le=1, description="errors a caller may see while the fault is "
        "applied (after settle): a fault the target's retries should absorb")
    max_timeout_rate: float | None = Field(default=0.0, ge=0, le=1)
    probes_seen: list[str] = Field(
        default_factory=list, description="probes that must pass at least once per fault"
    )
    retry_after: bool = Field(
        default=True, description="every 429/503 answer must say when to retry (a "
        "Retry-After of seconds or an HTTP date), so clients back off instead of hammering")


class Recovery(Strict):
    within: Duration = Field(gt=0, description="bound on time to recover after each fault")
    max_error_rate: float = Field(default=0.02, ge=0, le=1)
    replay_dead_letters: bool = Field(
        default=False, description="replay the run's dead letters at the end; all must succeed")


class StopCondition(Strict):
    """Abort the run when this holds for `for` seconds: every fault is reverted at
    once and the verdict is `aborted`. Exactly one of `max_error_rate` (errors at or
    above it in every second) or `probe_failing` (that probe failing in every sample)."""

    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    probe_failing: str | None = Field(default=None, min_length=1)
    for_: Duration = Field(alias="for", gt=0)

    @model_validator(mode="after")
    def exactly_one(self) -> StopCondition:
        if (self.max_error_rate is None) == (self.probe_failing is None):
            raise ValueError("a stop condition needs exactly one of max_error_rate or "
                             "probe_failing")
        return self

    def describe(self) -> str:
        if self.probe_failing is not None:
            return f"probe {self.probe_failing} failing for {self.for_:g}s"
        return f"error rate >= {self.max_error_rate:.0%} for {self.for_:g}s"


def _refusal(a: FaultSpec, b: FaultSpec) -> str | None:
    """Why two faults that overlap in time cannot both be applied, if they cannot.
    Toxics of different kinds on one proxy compose: Toxiproxy chains them. Two of
    the same kind and stream would stack ambiguously; a proxy that is down or whose
    connections are all held leaves nothing for another fault to act on; two
    storms or two mutators of one kind would double a rate nobody declared."""
    if a.proxy_name is not None and a.proxy_name == b.proxy_name:
        whole = ("proxy_down", "pool_exhaustion")
        if a.type in whole or b.type in whole:
            return f"{a.type} leaves nothing on {a.proxy_name} for {b.type} to act on"
        if a.type == b.type and getattr(a, "stream", None) == getattr(b, "stream", None):
            return (f"two {a.type} toxics on {a.proxy_name} ({getattr(a, 'stream', '')}) "
                    "would stack; declare one with the combined value")
        return None
    if a.proxy_name is None and b.proxy_name is None and a.type == b.type:
        return f"two {a.type} faults at once would double a rate nobody declared"
    return None


def composition_problems(faults: list[FaultSpec]) -> list[str]:
    problems = []
    for i, a in enumerate(faults):
        for j in range(i + 1, len(faults)):
            b = faults[j]
            overlap = a.start < b.start + b.duration and b.start < a.start + a.duration
            if overlap and (why := _refusal(a, b)):
                problems.append(
                    f"faults.{i} ({a.type} {a.start:g}s-{a.start + a.duration:g}s) and "
                    f"faults.{j} ({b.type} {b.start:g}s-{b.start + b.duration:g}s) overlap: "
                    f"{why}")
    return problems


class Scenario(Strict):
    name: str = Field(pattern=SLUG)
    description: str = ""
    target: str = Field(min_length=1)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    traffic: Traffic
    faults: list[FaultSpec] = Field(default_factory=list)
    steady_state: SteadyState
    during_fault: DuringFault = Field(default_factory=DuringFault)
    recovery: Recovery
    stop_conditions: list[StopCondition] = Field(default_factory=list)

    @model_validator(mode="after")
    def faults_fit_the_traffic(self) -> Scenario:
        problems = []
        for i, fault in enumerate(self.faults):
            end = fault.start + fault.duration
            if fault.duration <= 0:
                problems.append(f"faults.{i}.duration: must be above zero")
            if end + self.recovery.within > self.traffic.duration:
                problems.append(
                    f"faults.{i}: ends at {end:g}s; traffic must run at least "
                    f"recovery.within ({self.recovery.within:g}s) longer, "
                    f"but traffic.duration is {self.traffic.duration:g}s"
                )
        problems += composition_problems(self.faults)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def monitored_stop_probes(self) -> list[str]:
        return [c.probe_failing for c in self.stop_conditions if c.probe_failing]

    @property
    def monitored_probes(self) -> list[str]:
        """Every probe the run samples throughout: steady state, during-fault, stops."""
        return list(dict.fromkeys(self.steady_state.probes + self.during_fault.probes_seen
                                  + self.monitored_stop_probes))

    @property
    def proxies(self) -> list[str]:
        return sorted({f.proxy_name for f in self.faults if f.proxy_name})

    def fault_windows(self) -> list[tuple[float, float]]:
        return [(f.start, f.start + f.duration) for f in self.faults]


class Suite(Strict):
    name: str = Field(pattern=SLUG)
    description: str = ""
    scenarios: list[str] = Field(min_length=1)


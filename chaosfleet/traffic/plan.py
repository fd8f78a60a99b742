"""The typed description of one traffic slice, as sent on the `traffic` queue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chaosfleet.core.config import TargetSpec
from faults.specs import MalformedInputSpec
from scenarios.model import Journey, OperationMix

MUTATED_KEY_MARK = "mx"  # in the idempotency key of a mutated operation (effects audit)


class FaultMark(BaseModel):
    """A fault window in absolute time, so each outcome can name the fault it met."""

    model_config = ConfigDict(frozen=True)
    start: float
    end: float
    label: str


class MalformedWindow(BaseModel):
    """A malformed-input fault in absolute time: operations due inside it may be mutated."""

    model_config = ConfigDict(frozen=True)
    start: float
    end: float
    spec: MalformedInputSpec


class SlicePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    scenario: str = ""
    index: int = Field(ge=0)
    run_started_at: float = Field(description="epoch seconds of traffic start (t = 0)")
    offset: float = Field(ge=0, description="slice start, seconds after traffic start")
    duration: float = Field(gt=0)
    rate: float = Field(gt=0, description="operations per second in this slice")
    concurrency: int = Field(ge=1)
    seed: int
    operations: list[OperationMix]
    journeys: list[Journey] = Field(default_factory=list)
    target: TargetSpec
    fault_marks: list[FaultMark] = Field(default_factory=list)
    malformed: list[MalformedWindow] = Field(default_factory=list)

    @property
    def starts_at(self) -> float:
        return self.run_started_at + self.offset

    @property
    def op_count(self) -> int:
        return max(1, round(self.rate * self.duration))

    @property
    def op_id_prefix(self) -> str:
        """Every operation id of this slice, less its index."""
        return f"{self.run_id}-s{self.index}-o"

    def op_id(self, n: int) -> str:
        return f"{self.op_id_prefix}{n}"

    def mutated_key(self, n: int) -> str:
        """The idempotency key a mutated operation sends: the target's effects under
        `{run_id}-mx-` are partial writes of malformed input."""
        return f"{self.run_id}-{MUTATED_KEY_MARK}-s{self.index}-o{n}"


def split_traffic(
    run_id: str,
    run_started_at: float,
    duration: float,
    rate: float,
    concurrency: int,
    seed: int,
    operations: list[OperationMix],
    target: TargetSpec,
    slice_seconds: float,
    fanout: int,
    scenario: str = "",
    fault_marks: list[FaultMark] | None = None,
    malformed: list[MalformedWindow] | None = None,
    journeys: list[Journey] | None = None,
) -> list[SlicePlan]:
    """Cut the traffic into time windows of `slice_seconds`, each shared by `fanout`
    parallel slices, so more workers means more traffic with no code change."""
    plans: list[SlicePlan] = []
    offset = 0.0
    while offset < duration - 1e-9:
        window = min(slice_seconds, duration - offset)
        for _ in range(fanout):
            plans.append(
                SlicePlan(
                    run_id=run_id,
                    scenario=scenario,
                    index=len(plans),
                    run_started_at=run_started_at,
                    offset=offset,
                    duration=window,
                    rate=rate / fanout,
                    concurrency=max(1, concurrency // fanout),
                    seed=seed,
                    operations=operations,
                    journeys=journeys or [],
                    target=target,
                    fault_marks=fault_marks or [],
                    malformed=malformed or [],
                )
            )
        offset += window
    return plans

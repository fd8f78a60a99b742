"""Typed fault specifications as they appear in a scenario's fault timeline."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chaosfleet.durations import Duration


class FaultWindow(BaseModel):
    """When the fault is active, relative to the start of traffic."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: Duration = Field(description="offset from traffic start")
    duration: Duration = Field(description="how long the fault stays applied")


class ToxicSpec(FaultWindow):
    proxy: str = Field(min_length=1)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)


class LatencySpec(ToxicSpec):
    type: Literal["latency"]
    latency_ms: int = Field(ge=0, le=600_000)
    jitter_ms: int = Field(default=0, ge=0, le=600_000)


class TimeoutSpec(ToxicSpec):
    type: Literal["timeout"]
    timeout_ms: int = Field(default=0, ge=0, le=600_000, description="0 = blackhole")


class ResetPeerSpec(ToxicSpec):
    type: Literal["reset_peer"]
    timeout_ms: int = Field(default=0, ge=0, le=600_000)


FaultSpec = Annotated[LatencySpec | TimeoutSpec | ResetPeerSpec, Field(discriminator="type")]
FAULT_TYPES = ("latency", "timeout", "reset_peer")

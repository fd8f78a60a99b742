"""Typed fault specifications as they appear in a scenario's fault timeline.

One spec class per fault type; each family module in `faults/` acts on its own
specs. `FAULT_TYPES` lists every type a scenario may name, read from the union
below (a new spec class is one edit there).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from chaosfleet.core.durations import Duration


class FaultWindow(BaseModel):
    """When the fault is active, relative to the start of traffic."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    start: Duration = Field(description="offset from traffic start")
    duration: Duration = Field(description="how long the fault stays applied")

    @property
    def proxy_name(self) -> str | None:
        """The Toxiproxy proxy this fault acts through, if any (allowlist, composition)."""
        return None


# -- network faults (faults/network.py): one Toxiproxy toxic each


class ToxicSpec(FaultWindow):
    proxy: str = Field(min_length=1)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)

    @property
    def proxy_name(self) -> str | None:
        return self.proxy


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


class BandwidthSpec(ToxicSpec):
    type: Literal["bandwidth"]
    rate_kbps: int = Field(ge=0, le=10_000_000, description="KB per second; 0 stalls data")


class SlicerSpec(ToxicSpec):
    type: Literal["slicer"]
    average_size: int = Field(default=1, ge=1, le=1_000_000, description="bytes per slice")
    size_variation: int = Field(default=0, ge=0, le=1_000_000)
    delay_us: int = Field(default=0, ge=0, le=10_000_000, description="between slices")


class LimitDataSpec(ToxicSpec):
    type: Literal["limit_data"]
    bytes: int = Field(ge=1, le=2**40, description="close the connection after this many")


class SlowCloseSpec(ToxicSpec):
    type: Literal["slow_close"]
    delay_ms: int = Field(ge=0, le=600_000)


class ProxyDownSpec(FaultWindow):
    """The dependency is gone: the proxy stops listening (connections refused)."""

    type: Literal["proxy_down"]
    proxy: str = Field(min_length=1)

    @property
    def proxy_name(self) -> str | None:
        return self.proxy


# -- DB pool exhaustion (faults/pool.py)


class PoolExhaustionSpec(FaultWindow):
    """Hold connections to the target's database through its allowlisted proxy, as
    the target's own role, so the role's connection slots are used up."""

    type: Literal["pool_exhaustion"]
    proxy: str = Field(min_length=1, description="the target's database proxy")
    connections: int = Field(ge=1, le=1_000, description="hold up to this many")
    database: str = Field(min_length=1)
    user: str = Field(min_length=1)
    password_env: str = Field(
        default="PGPASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable of the fault worker holding the password")
    evict: bool = Field(
        default=True, description="end the role's other sessions while the slots are "
        "held, so the target must reconnect into the exhausted database")

    @property
    def proxy_name(self) -> str | None:
        return self.proxy


# -- halt storms (faults/halts.py)


class WorkerHaltStormSpec(FaultWindow):
    """Halts of the fleet's own traffic workers: SIGKILL or SIGTERM to one pool
    process on the fault worker's host, or `pool_restart` (a Celery pool restart of
    every traffic worker, on any host), once per interval."""

    type: Literal["worker_halt_storm"]
    signal: Literal["SIGKILL", "SIGTERM", "pool_restart"] = "SIGKILL"
    every: Duration = Field(default=2.0, gt=0, description="one halt per interval")


class HaltLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    max_accepted: int = Field(ge=0, description="halts the target may accept per window")
    per: Duration = Field(gt=0)


class HaltSignalStormSpec(FaultWindow):
    """A storm of halt requests against the target's own halt operation."""

    type: Literal["halt_signal_storm"]
    operation: str = Field(default="halt", min_length=1)
    rate: float = Field(gt=0, le=1_000, description="halt requests per second")
    component: str = Field(default="chaosfleet", min_length=1, max_length=64)
    expect: HaltLimit


# -- malformed inputs (faults/malformed.py)

DEFAULT_MUTATIONS = (
    "missing_field", "wrong_type", "null_field", "boundary_number", "overflow_number",
    "oversized_string", "invalid_utf8", "lone_surrogate", "control_chars", "injection",
    "deep_nesting", "duplicate_key", "truncated_json", "wrong_content_type",
)
# opt-in (name them in `mutations`): whether a target must refuse them is its own
# contract (strict schemas refuse unknown fields; some parsers take NaN)
OPT_IN_MUTATIONS = ("int64_boundary", "nan_number", "extra_field")
MUTATIONS = DEFAULT_MUTATIONS + OPT_IN_MUTATIONS


class MalformedInputSpec(FaultWindow):
    """Mutate the payloads of the named operations while the window is open."""

    type: Literal["malformed_input"]
    operations: list[str] = Field(min_length=1)
    ratio: float = Field(default=1.0, gt=0, le=1, description="share of those operations")
    mutations: list[Literal[MUTATIONS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(DEFAULT_MUTATIONS), min_length=1)


ToxicSpecs = (LatencySpec | TimeoutSpec | ResetPeerSpec | BandwidthSpec | SlicerSpec
              | LimitDataSpec | SlowCloseSpec)
FaultSpec = Annotated[
    LatencySpec | TimeoutSpec | ResetPeerSpec | BandwidthSpec | SlicerSpec | LimitDataSpec
    | SlowCloseSpec | ProxyDownSpec | PoolExhaustionSpec | WorkerHaltStormSpec
    | HaltSignalStormSpec | MalformedInputSpec,
    Field(discriminator="type"),
]
FAULT_TYPES: tuple[str, ...] = tuple(
    tag for spec in get_args(get_args(FaultSpec)[0])
    for tag in get_args(spec.model_fields["type"].annotation))

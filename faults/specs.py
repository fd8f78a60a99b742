"""Typed fault specifications as they appear in a scenario's fault timeline.

One spec class per fault type; each family module in `faults/` acts on its own
specs and declares them in its `FAMILY` (faults/registry.py gathers the families,
their union `FaultSpec` and `FAULT_TYPES`). A new Toxiproxy toxic is one class here:
a `ToxicSpec` subclass with its `type` literal, its fields, `toxic_attributes()` and
`what()`; the network family picks up every such subclass.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from chaosfleet.core.config import HttpTarget, PythonTarget
from chaosfleet.core.durations import Duration


class FaultWindow(BaseModel):
    """When the fault is active, relative to the start of traffic."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    type: str  # each concrete spec narrows it to its own literal: the discriminator
    start: Duration = Field(description="offset from traffic start")
    duration: Duration = Field(description="how long the fault stays applied")

    # -- hooks: what the runner asks of a fault without knowing its family. The
    # defaults are those of a fault that only acts on the world under its lease.

    #: its windows go to the traffic slices, which change what they send (malformed inputs)
    shapes_traffic: ClassVar[bool] = False
    #: it slows the fleet itself on purpose (worker halt storms), so the fleet's own
    #: lag is reported, never a harness error
    slows_the_fleet: ClassVar[bool] = False

    @property
    def proxy_name(self) -> str | None:
        """The Toxiproxy proxy this fault acts through, if any (allowlist, composition)."""
        return None

    def target_problems(self, target: HttpTarget | PythonTarget,
                        traffic_operations: set[str]) -> list[tuple[str, str]]:
        """Why this fault cannot run against `target` with this traffic, as
        (field, problem) pairs; checked before anything runs."""
        return []


# -- network faults (faults/network.py): one Toxiproxy toxic each


class ToxicSpec(FaultWindow):
    """One Toxiproxy toxic on an allowlisted proxy; subclasses name the toxic type."""

    proxy: str = Field(min_length=1)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)

    @property
    def proxy_name(self) -> str | None:
        return self.proxy

    def toxic_attributes(self) -> dict[str, Any]:
        """The toxic's attributes in Toxiproxy's own names."""
        raise NotImplementedError

    def what(self) -> str:
        """The toxic in a few words, for reports."""
        raise NotImplementedError


class LatencySpec(ToxicSpec):
    type: Literal["latency"]
    latency_ms: int = Field(ge=0, le=600_000)
    jitter_ms: int = Field(default=0, ge=0, le=600_000)

    def toxic_attributes(self) -> dict[str, Any]:
        return {"latency": self.latency_ms, "jitter": self.jitter_ms}

    def what(self) -> str:
        return f"latency {self.latency_ms}ms" + (f"±{self.jitter_ms}ms" if self.jitter_ms else "")


class TimeoutSpec(ToxicSpec):
    type: Literal["timeout"]
    timeout_ms: int = Field(default=0, ge=0, le=600_000, description="0 = blackhole")

    def toxic_attributes(self) -> dict[str, Any]:
        return {"timeout": self.timeout_ms}

    def what(self) -> str:
        return "blackhole" if self.timeout_ms == 0 else f"timeout {self.timeout_ms}ms"


class ResetPeerSpec(ToxicSpec):
    type: Literal["reset_peer"]
    timeout_ms: int = Field(default=0, ge=0, le=600_000)

    def toxic_attributes(self) -> dict[str, Any]:
        return {"timeout": self.timeout_ms}

    def what(self) -> str:
        return f"reset_peer after {self.timeout_ms}ms"


class BandwidthSpec(ToxicSpec):
    type: Literal["bandwidth"]
    rate_kbps: int = Field(ge=0, le=10_000_000, description="KB per second; 0 stalls data")

    def toxic_attributes(self) -> dict[str, Any]:
        return {"rate": self.rate_kbps}

    def what(self) -> str:
        return f"bandwidth {self.rate_kbps}KB/s"


class SlicerSpec(ToxicSpec):
    type: Literal["slicer"]
    average_size: int = Field(default=1, ge=1, le=1_000_000, description="bytes per slice")
    size_variation: int = Field(default=0, ge=0, le=1_000_000)
    delay_us: int = Field(default=0, ge=0, le=10_000_000, description="between slices")

    def toxic_attributes(self) -> dict[str, Any]:
        return {"average_size": self.average_size, "size_variation": self.size_variation,
                "delay": self.delay_us}

    def what(self) -> str:
        return f"slicer {self.average_size}B every {self.delay_us}us"


class LimitDataSpec(ToxicSpec):
    type: Literal["limit_data"]
    bytes: int = Field(ge=1, le=2**40, description="close the connection after this many")

    def toxic_attributes(self) -> dict[str, Any]:
        return {"bytes": self.bytes}

    def what(self) -> str:
        return f"limit_data {self.bytes}B"


class SlowCloseSpec(ToxicSpec):
    type: Literal["slow_close"]
    delay_ms: int = Field(ge=0, le=600_000)

    def toxic_attributes(self) -> dict[str, Any]:
        return {"delay": self.delay_ms}

    def what(self) -> str:
        return f"slow_close {self.delay_ms}ms"


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
    """Halts of the fleet's own traffic workers, on every host: SIGKILL or SIGTERM to
    one traffic pool process, or `pool_restart` (a Celery pool restart of every
    traffic worker), once per interval."""

    type: Literal["worker_halt_storm"]
    signal: Literal["SIGKILL", "SIGTERM", "pool_restart"] = "SIGKILL"
    every: Duration = Field(default=2.0, gt=0, description="one halt per interval")
    slows_the_fleet: ClassVar[bool] = True


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

    def target_problems(self, target: HttpTarget | PythonTarget,
                        traffic_operations: set[str]) -> list[tuple[str, str]]:
        if not isinstance(target, HttpTarget):
            return [("", "halt_signal_storm needs an http target")]
        if self.operation not in target.operations:
            return [("operation", f"target has no operation {self.operation!r}")]
        return []


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
    shapes_traffic: ClassVar[bool] = True

    def target_problems(self, target: HttpTarget | PythonTarget,
                        traffic_operations: set[str]) -> list[tuple[str, str]]:
        return [(f"operations.{j}", f"{name!r} is not in the traffic mix "
                 f"(has: {', '.join(sorted(traffic_operations))})")
                for j, name in enumerate(self.operations) if name not in traffic_operations]


def spec_type(spec_class: type[FaultWindow]) -> str | None:
    """The `type` tag a concrete spec class declares (None for a base class)."""
    field = spec_class.model_fields.get("type")
    args: tuple[Any, ...] = getattr(field.annotation, "__args__", ()) if field else ()
    return args[0] if len(args) == 1 and isinstance(args[0], str) else None


def toxic_specs() -> tuple[type[ToxicSpec], ...]:
    """Every concrete toxic spec class, in definition order."""
    found: list[type[ToxicSpec]] = []
    pending = list(ToxicSpec.__subclasses__())
    while pending:
        cls = pending.pop(0)
        if spec_type(cls):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return tuple(found)

"""Network faults through Toxiproxy: one toxic, or the whole proxy down."""

from __future__ import annotations

from typing import Any

from faults.base import TOXIC_PREFIX, FaultContext, FaultError, FaultReport
from faults.specs import (
    BandwidthSpec,
    LatencySpec,
    LimitDataSpec,
    ProxyDownSpec,
    ResetPeerSpec,
    SlicerSpec,
    SlowCloseSpec,
    TimeoutSpec,
    ToxicSpecs,
)


def _attributes(spec: ToxicSpecs) -> dict[str, Any]:
    """The toxic's attributes in Toxiproxy's own names."""
    match spec:
        case LatencySpec():
            return {"latency": spec.latency_ms, "jitter": spec.jitter_ms}
        case TimeoutSpec() | ResetPeerSpec():
            return {"timeout": spec.timeout_ms}
        case BandwidthSpec():
            return {"rate": spec.rate_kbps}
        case SlicerSpec():
            return {"average_size": spec.average_size, "size_variation": spec.size_variation,
                    "delay": spec.delay_us}
        case LimitDataSpec():
            return {"bytes": spec.bytes}
        case SlowCloseSpec():
            return {"delay": spec.delay_ms}


def _what(spec: ToxicSpecs) -> str:
    match spec:
        case LatencySpec():
            return f"latency {spec.latency_ms}ms" + (
                f"±{spec.jitter_ms}ms" if spec.jitter_ms else "")
        case TimeoutSpec():
            return "blackhole" if spec.timeout_ms == 0 else f"timeout {spec.timeout_ms}ms"
        case ResetPeerSpec():
            return f"reset_peer after {spec.timeout_ms}ms"
        case BandwidthSpec():
            return f"bandwidth {spec.rate_kbps}KB/s"
        case SlicerSpec():
            return f"slicer {spec.average_size}B every {spec.delay_us}us"
        case LimitDataSpec():
            return f"limit_data {spec.bytes}B"
        case SlowCloseSpec():
            return f"slow_close {spec.delay_ms}ms"


def _require_proxy(ctx: FaultContext, proxy: str) -> None:
    if ctx.toxiproxy.get_proxy(proxy) is None:
        raise FaultError(f"proxy {proxy!r} does not exist in toxiproxy")


class ToxicFault:
    """Adds a named toxic on apply and removes it on revert. The toxic's name
    carries the lease id, so a janitor holding only the lease can revert it."""

    def __init__(self, spec: ToxicSpecs, name: str):
        self.spec = spec
        # the prefix marks the toxic as the fleet's, so a sweep can find it even if
        # its lease is gone (a Redis restart without persistence)
        self.name = name if name.startswith(TOXIC_PREFIX) else TOXIC_PREFIX + name

    def validate(self, ctx: FaultContext) -> None:
        _require_proxy(ctx, self.spec.proxy)

    def apply(self, ctx: FaultContext) -> None:
        present = {t["name"] for t in ctx.toxiproxy.toxics(self.spec.proxy)}
        if self.name in present:
            return
        ctx.toxiproxy.add_toxic(
            self.spec.proxy,
            self.name,
            self.spec.type,
            _attributes(self.spec),
            stream=self.spec.stream,
            toxicity=self.spec.toxicity,
        )

    def revert(self, ctx: FaultContext) -> None:
        ctx.toxiproxy.remove_toxic(self.spec.proxy, self.name)

    def inspect(self, ctx: FaultContext) -> FaultReport:
        names = {t["name"] for t in ctx.toxiproxy.toxics(self.spec.proxy)}
        return FaultReport(residue=[f"toxic {self.name} on {self.spec.proxy}"]
                           if self.name in names else [])

    def describe(self) -> str:
        spec = self.spec
        extras = [f"{spec.stream}"] if spec.stream != "downstream" else []
        if spec.toxicity < 1:
            extras.append(f"toxicity {spec.toxicity:g}")
        suffix = f" ({', '.join(extras)})" if extras else ""
        return f"{_what(spec)} on {spec.proxy}{suffix}"


class ProxyDownFault:
    """Disables the proxy: its listener closes and new connections are refused,
    the way a dependency that went away looks to the target."""

    def __init__(self, spec: ProxyDownSpec, name: str):
        self.spec = spec
        self.name = name

    def validate(self, ctx: FaultContext) -> None:
        _require_proxy(ctx, self.spec.proxy)

    def apply(self, ctx: FaultContext) -> None:
        ctx.toxiproxy.set_enabled(self.spec.proxy, False)

    def revert(self, ctx: FaultContext) -> None:
        ctx.toxiproxy.set_enabled(self.spec.proxy, True)

    def inspect(self, ctx: FaultContext) -> FaultReport:
        proxy = ctx.toxiproxy.get_proxy(self.spec.proxy)
        down = proxy is not None and not proxy.get("enabled", True)
        return FaultReport(residue=[f"proxy {self.spec.proxy} still down"] if down else [])

    def describe(self) -> str:
        return f"{self.spec.proxy} down"

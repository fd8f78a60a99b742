"""Network faults: one Toxiproxy toxic on one allowlisted proxy."""

from __future__ import annotations

from typing import Any

from faults.base import TOXIC_PREFIX, FaultContext, FaultError
from faults.specs import LatencySpec, ResetPeerSpec, TimeoutSpec

ToxicSpecs = LatencySpec | TimeoutSpec | ResetPeerSpec


def _attributes(spec: ToxicSpecs) -> dict[str, Any]:
    match spec:
        case LatencySpec():
            return {"latency": spec.latency_ms, "jitter": spec.jitter_ms}
        case TimeoutSpec() | ResetPeerSpec():
            return {"timeout": spec.timeout_ms}


class ToxicFault:
    """Adds a named toxic on apply and removes it on revert. The toxic's name
    carries the lease id, so a janitor holding only the lease can revert it."""

    def __init__(self, spec: ToxicSpecs, name: str):
        self.spec = spec
        # the prefix marks the toxic as the fleet's, so a sweep can find it even if
        # its lease is gone (a Redis restart without persistence)
        self.name = name if name.startswith(TOXIC_PREFIX) else TOXIC_PREFIX + name

    def validate(self, ctx: FaultContext) -> None:
        if ctx.toxiproxy.get_proxy(self.spec.proxy) is None:
            raise FaultError(f"proxy {self.spec.proxy!r} does not exist in toxiproxy")

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

    def describe(self) -> str:
        spec = self.spec
        match spec:
            case LatencySpec():
                what = f"latency {spec.latency_ms}ms" + (
                    f"±{spec.jitter_ms}ms" if spec.jitter_ms else "")
            case TimeoutSpec():
                what = "blackhole" if spec.timeout_ms == 0 else f"timeout {spec.timeout_ms}ms"
            case ResetPeerSpec():
                what = f"reset_peer after {spec.timeout_ms}ms"
        extras = [f"{spec.stream}"] if spec.stream != "downstream" else []
        if spec.toxicity < 1:
            extras.append(f"toxicity {spec.toxicity:g}")
        suffix = f" ({', '.join(extras)})" if extras else ""
        return f"{what} on {spec.proxy}{suffix}"

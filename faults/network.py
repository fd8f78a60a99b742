"""Network faults: one Toxiproxy toxic on one allowlisted proxy."""

from __future__ import annotations

from typing import Any

from faults.base import FaultContext, FaultError
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
        self.name = name

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
        attrs = ", ".join(f"{k}={v}" for k, v in _attributes(self.spec).items())
        return f"{self.spec.type}({attrs}) on {self.spec.proxy} {self.spec.stream}"

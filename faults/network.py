"""Network faults through Toxiproxy: one toxic, or the whole proxy down."""

from __future__ import annotations

from typing import Any

from faults.base import TOXIC_PREFIX, Fault, FaultContext, FaultError, FaultFamily, FaultReport
from faults.specs import ProxyDownSpec, ToxicSpec, spec_type, toxic_specs


def _require_proxy(ctx: FaultContext, proxy: str) -> None:
    if ctx.toxiproxy.get_proxy(proxy) is None:
        raise FaultError(f"proxy {proxy!r} does not exist in toxiproxy")


class ToxicFault:
    """Adds a named toxic on apply and removes it on revert. The toxic's name
    carries the lease id, so a janitor holding only the lease can revert it."""

    def __init__(self, spec: ToxicSpec, name: str):
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
            str(spec_type(type(self.spec))),
            self.spec.toxic_attributes(),
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
        return f"{spec.what()} on {spec.proxy}{suffix}"


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


def build(spec: Any, name: str, target: Any = None) -> Fault:
    if isinstance(spec, ProxyDownSpec):
        return ProxyDownFault(spec, name)
    return ToxicFault(spec, name)


# every ToxicSpec subclass in faults/specs.py is a toxic this family applies
FAMILY = FaultFamily("network", (*toxic_specs(), ProxyDownSpec), build)


"""Build the fault object for a spec; the only place that knows the families."""

from __future__ import annotations

from faults.base import Fault
from faults.network import ToxicFault
from faults.specs import FaultSpec, LatencySpec, ResetPeerSpec, TimeoutSpec


def build_fault(spec: FaultSpec, name: str) -> Fault:
    match spec:
        case LatencySpec() | TimeoutSpec() | ResetPeerSpec():
            return ToxicFault(spec, name)
    raise TypeError(f"no fault family for {type(spec).__name__}")


def proxies_of(spec: FaultSpec) -> list[str]:
    """The proxies a fault touches, for the allowlist check."""
    proxy = getattr(spec, "proxy", None)
    return [proxy] if proxy else []

"""Build the fault object for a spec; the only place that knows the families."""

from __future__ import annotations

from chaosfleet.core.config import HttpTarget, PythonTarget
from faults.base import Fault
from faults.halts import HaltSignalStorm, WorkerHaltStorm
from faults.malformed import MalformedInputFault
from faults.network import ProxyDownFault, ToxicFault
from faults.pool import PoolExhaustionFault
from faults.specs import (
    BandwidthSpec,
    FaultSpec,
    HaltSignalStormSpec,
    LatencySpec,
    LimitDataSpec,
    MalformedInputSpec,
    PoolExhaustionSpec,
    ProxyDownSpec,
    ResetPeerSpec,
    SlicerSpec,
    SlowCloseSpec,
    TimeoutSpec,
    WorkerHaltStormSpec,
)


def build_fault(spec: FaultSpec, name: str,
                target: HttpTarget | PythonTarget | None = None) -> Fault:
    """`name` is the lease id; `target` is the run's resolved target, for the
    families that act on it directly (halt signal storms)."""
    match spec:
        case (LatencySpec() | TimeoutSpec() | ResetPeerSpec() | BandwidthSpec() | SlicerSpec()
              | LimitDataSpec() | SlowCloseSpec()):
            return ToxicFault(spec, name)
        case ProxyDownSpec():
            return ProxyDownFault(spec, name)
        case PoolExhaustionSpec():
            return PoolExhaustionFault(spec, name)
        case WorkerHaltStormSpec():
            return WorkerHaltStorm(spec, name)
        case HaltSignalStormSpec():
            return HaltSignalStorm(spec, name, target)
        case MalformedInputSpec():
            return MalformedInputFault(spec, name)
    raise TypeError(f"no fault family for {type(spec).__name__}")


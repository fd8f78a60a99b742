"""The protocol every fault family implements, and what it is given to act."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import redis

from chaosfleet.core.errors import ChaosfleetError
from chaosfleet.core.presence import PoolProcess
from faults.toxiproxy import ToxiproxyClient

if TYPE_CHECKING:
    from chaosfleet.core.config import HttpTarget, PythonTarget
    from faults.specs import FaultWindow

TOXIC_PREFIX = "chaosfleet-"


class FaultError(ChaosfleetError):
    """A fault could not be validated, applied or reverted."""


@dataclass(frozen=True)
class FaultContext:
    """Everything a fault may touch; nothing else is reachable from a fault.

    `lease_alive(id)` says whether a lease still stands: background faults (storms,
    held connections) poll it and stop by themselves once it is released or
    expired, whichever process released it. For worker halt storms,
    `traffic_processes()` lists the fleet's traffic processes on every host,
    `signal_traffic_process(process, signal)` has the worker owning one signal it
    (True when it did), and `restart_traffic_pools()` asks every traffic worker to
    restart its pool, returning how many were asked.
    """

    toxiproxy: ToxiproxyClient
    redis: redis.Redis | None = None
    key_prefix: str = "chaosfleet"
    lease_alive: Callable[[str], bool] = lambda _id: False
    traffic_processes: Callable[[], list[PoolProcess]] = list
    signal_traffic_process: Callable[[PoolProcess, str], bool] = lambda _p, _s: False
    restart_traffic_pools: Callable[[], int] = lambda: 0


@dataclass
class FaultReport:
    """What a fault left behind and what it observed, read after its revert.

    `residue` must be empty once a fault is reverted (a toxic, a held connection,
    a proxy still down); `checks` are the family's own recovery checks as
    (name, passed, detail); `measured` are plain numbers for the journal.
    """

    residue: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)


class Fault(Protocol):
    """One injected fault. `apply` and `revert` are idempotent; `revert` is safe to
    call for a fault that was never applied, from any process (the janitor does
    exactly that). `inspect` never changes anything."""

    name: str

    def validate(self, ctx: FaultContext) -> None: ...

    def apply(self, ctx: FaultContext) -> None: ...

    def revert(self, ctx: FaultContext) -> None: ...

    def inspect(self, ctx: FaultContext) -> FaultReport: ...

    def describe(self) -> str: ...


BuildFault = Callable[[Any, str, "HttpTarget | PythonTarget | None"], Fault]


@dataclass(frozen=True)
class FaultFamily:
    """A fault family as the registry sees it (faults/registry.py).

    `specs`: the spec classes a scenario may name, each a `FaultWindow` subclass with
    its own `type` literal. `build(spec, name, target)` makes the fault for one spec:
    `name` is the lease id (a family that leaves marks in the world names them after
    it, so the janitor can find them), `target` the run's resolved target. A family
    from another package registers its `FaultFamily` under the entry point group
    `chaosfleet.fault_families`.
    """

    name: str
    specs: tuple[type[FaultWindow], ...]
    build: BuildFault


"""The protocol every fault family implements, and what it is given to act."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chaosfleet.errors import ChaosfleetError
from faults.toxiproxy import ToxiproxyClient

TOXIC_PREFIX = "chaosfleet-"


class FaultError(ChaosfleetError):
    """A fault could not be validated, applied or reverted."""


@dataclass(frozen=True)
class FaultContext:
    """Everything a fault may touch; nothing else is reachable from a fault."""

    toxiproxy: ToxiproxyClient


class Fault(Protocol):
    """One injected fault. `apply` and `revert` are idempotent; `revert` is safe to
    call for a fault that was never applied (the janitor does exactly that)."""

    name: str

    def validate(self, ctx: FaultContext) -> None: ...

    def apply(self, ctx: FaultContext) -> None: ...

    def revert(self, ctx: FaultContext) -> None: ...

    def describe(self) -> str: ...

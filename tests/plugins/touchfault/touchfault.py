"""A fault family from another package: while applied, a marker file exists.

It shows the whole plug-in surface: a spec class with its own `type`, a fault with
idempotent apply and revert (revert works from any process, before or after apply),
and the `FaultFamily` registered under the `chaosfleet.fault_families` entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from faults.base import FaultContext, FaultFamily, FaultReport
from faults.specs import FaultWindow


class TouchFileSpec(FaultWindow):
    type: Literal["touch_file"]
    directory: str = Field(min_length=1)


class TouchFileFault:
    def __init__(self, spec: TouchFileSpec, name: str):
        self.spec = spec
        self.name = name
        self.path = Path(spec.directory) / f"{name}.touched"

    def validate(self, ctx: FaultContext) -> None:
        if not Path(self.spec.directory).is_dir():
            raise ValueError(f"no directory {self.spec.directory}")

    def apply(self, ctx: FaultContext) -> None:
        self.path.touch()

    def revert(self, ctx: FaultContext) -> None:
        self.path.unlink(missing_ok=True)

    def inspect(self, ctx: FaultContext) -> FaultReport:
        return FaultReport(residue=[str(self.path)] if self.path.exists() else [])

    def describe(self) -> str:
        return f"marker file in {self.spec.directory}"


def build(spec: TouchFileSpec, name: str, target: object = None) -> TouchFileFault:
    return TouchFileFault(spec, name)


FAMILY = FaultFamily("touch-file", (TouchFileSpec,), build)

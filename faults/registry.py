"""The fault families a scenario may use: the built-in ones and any another package
registers under the entry point group `chaosfleet.fault_families`.

Everything that lists fault types reads it from here: the spec union `FaultSpec`
(what a scenario's `faults:` may hold), `FAULT_TYPES`, and `build_fault`. A family
is one module with a `FAMILY` (faults/base.py, `FaultFamily`); nothing else in the
fleet names it.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from chaosfleet.core.config import HttpTarget, PythonTarget
from chaosfleet.core.errors import ConfigError
from faults import halts, malformed, network, pool
from faults.base import Fault, FaultFamily
from faults.specs import FaultWindow, spec_type

ENTRY_POINT_GROUP = "chaosfleet.fault_families"
BUILTIN = (network.FAMILY, pool.FAMILY, halts.FAMILY, malformed.FAMILY)

log = logging.getLogger("chaosfleet.faults")


def load_families() -> tuple[FaultFamily, ...]:
    """The built-in families, then the installed plug-ins. A plug-in that does not
    load, or claims a fault type another family has, is a configuration error:
    a scenario naming that type must never run something else."""
    families = list(BUILTIN)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            family = ep.load()
        except Exception as exc:
            raise ConfigError(f"fault family plug-in {ep.name!r} ({ep.value}) does not load: "
                              f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(family, FaultFamily):
            raise ConfigError(f"fault family plug-in {ep.name!r} ({ep.value}) is a "
                              f"{type(family).__name__}, not a faults.base.FaultFamily")
        families.append(family)
    seen: dict[str, str] = {}
    for family in families:
        for spec in family.specs:
            tag = spec_type(spec) if isinstance(spec, type) and issubclass(
                spec, FaultWindow) else None
            if tag is None:
                raise ConfigError(f"fault family {family.name!r}: {spec!r} is not a "
                                  "FaultWindow subclass with a `type` literal")
            if tag in seen:
                raise ConfigError(f"fault type {tag!r} is claimed by both {seen[tag]!r} "
                                  f"and {family.name!r}")
            seen[tag] = family.name
    return tuple(families)


FAMILIES = load_families()
_BY_TYPE: dict[str, FaultFamily] = {
    str(spec_type(spec)): family for family in FAMILIES for spec in family.specs}
FAULT_TYPES: tuple[str, ...] = tuple(_BY_TYPE)

if TYPE_CHECKING:
    # to the type checker a spec is a FaultWindow; code narrows with isinstance
    FaultSpec = FaultWindow
else:
    FaultSpec = Annotated[Union[tuple(s for f in FAMILIES for s in f.specs)],  # noqa: UP007
                          Field(discriminator="type")]


def build_fault(spec: Any, name: str,
                target: HttpTarget | PythonTarget | None = None) -> Fault:
    """`name` is the lease id; `target` is the run's resolved target, for the
    families that act on it directly (halt signal storms)."""
    family = _BY_TYPE.get(str(getattr(spec, "type", "")))
    if family is None:
        raise TypeError(f"no fault family for {type(spec).__name__}")
    return family.build(spec, name, target)

"""Find and load scenarios and suites: by path, or by name from the built-in library."""

from __future__ import annotations

from pathlib import Path

from chaosfleet.config import HttpTarget, PythonTarget
from chaosfleet.errors import ConfigError
from chaosfleet.yamlio import load_yaml_model
from faults.specs import HaltSignalStormSpec, MalformedInputSpec
from scenarios.model import Scenario, Suite

LIBRARY = Path(__file__).parent / "library"
SUITES = Path(__file__).parent / "suites"


def _resolve(ref: str | Path, folder: Path, kind: str) -> Path:
    path = Path(ref)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    candidate = folder / f"{ref}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
    raise ConfigError(f"no {kind} named {ref!r} (built-in: {known})")


def load_scenario(ref: str | Path) -> Scenario:
    return load_yaml_model(_resolve(ref, LIBRARY, "scenario"), Scenario)


def load_suite(ref: str | Path) -> Suite:
    return load_yaml_model(_resolve(ref, SUITES, "suite"), Suite)


def list_library() -> list[str]:
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def check_against_target(scenario: Scenario, target: HttpTarget | PythonTarget) -> None:
    """Every operation, probe and proxy the scenario names must exist on its target."""
    problems = []
    for i, op in enumerate(scenario.traffic.operations):
        if op.name not in target.operations:
            problems.append(
                f"traffic.operations.{i}.name: target {scenario.target!r} has no operation "
                f"{op.name!r} (has: {', '.join(sorted(target.operations))})"
            )
    probes = [("steady_state.probes", scenario.steady_state.probes),
              ("during_fault.probes_seen", scenario.during_fault.probes_seen),
              ("stop_conditions.probe_failing", scenario.monitored_stop_probes)]
    for field, names in probes:
        for i, name in enumerate(names):
            if name not in target.probes:
                problems.append(f"{field}.{i}: target has no probe {name!r}")
    traffic_ops = {op.name for op in scenario.traffic.operations}
    for i, fault in enumerate(scenario.faults):
        if fault.proxy_name is not None and fault.proxy_name not in target.proxies:
            problems.append(
                f"faults.{i}.proxy: target {scenario.target!r} declares no proxy "
                f"{fault.proxy_name!r}"
            )
        if isinstance(fault, MalformedInputSpec):
            for j, name in enumerate(fault.operations):
                if name not in traffic_ops:
                    problems.append(f"faults.{i}.operations.{j}: {name!r} is not in the "
                                    f"traffic mix (has: {', '.join(sorted(traffic_ops))})")
        if isinstance(fault, HaltSignalStormSpec):
            if not isinstance(target, HttpTarget):
                problems.append(f"faults.{i}: halt_signal_storm needs an http target")
            elif fault.operation not in target.operations:
                problems.append(f"faults.{i}.operation: target {scenario.target!r} has no "
                                f"operation {fault.operation!r}")
    if problems:
        raise ConfigError(f"scenario {scenario.name!r}:\n" + "\n".join(problems))

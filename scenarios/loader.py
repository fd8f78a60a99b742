"""Find and load scenarios and suites: by path, or by name from the built-in library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaosfleet.core.config import HttpOperation, HttpTarget, PythonTarget
from chaosfleet.core.errors import ConfigError
from chaosfleet.core.recipes import Call, Ref, has_expressions, parse_template, recipe_has_path
from chaosfleet.core.yamlio import load_yaml_model
from scenarios.model import Scenario, Suite

LIBRARY = Path(__file__).parent / "library"
SUITES = Path(__file__).parent / "suites"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _resolve(ref: str | Path, folder: Path, kind: str) -> Path:
    path = Path(ref)
    if path.suffix in {".yaml", ".yml"} or _exists(path):
        return path
    candidate = folder / f"{ref}.yaml"
    if _exists(candidate):
        return candidate
    known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
    shown = str(ref) if len(str(ref)) <= 80 else str(ref)[:80] + "…"
    raise ConfigError(f"no {kind} named {shown!r} (built-in: {known})")


def load_scenario(ref: str | Path) -> Scenario:
    return load_yaml_model(_resolve(ref, LIBRARY, "scenario"), Scenario)


def load_suite(ref: str | Path) -> Suite:
    return load_yaml_model(_resolve(ref, SUITES, "suite"), Suite)


def suite_scenario_refs(ref: str | Path, suite: Suite) -> list[str | Path]:
    """A suite's scenarios as loadable references: a path in a suite file is
    relative to that file (not to the working directory); a bare name is a
    built-in scenario."""
    folder = _resolve(ref, SUITES, "suite").resolve().parent
    refs: list[str | Path] = []
    for name in suite.scenarios:
        path = Path(name)
        is_path = path.suffix in {".yaml", ".yml"} or "/" in name
        refs.append(name if not is_path else path if path.is_absolute() else folder / path)
    return refs


def list_library() -> list[str]:
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def check_against_target(scenario: Scenario, target: HttpTarget | PythonTarget) -> None:
    """Every operation, probe and proxy the scenario names must exist on its target."""
    problems = _operation_problems(scenario, target)
    probes = [("steady_state.probes", scenario.steady_state.probes),
              ("during_fault.probes_seen", scenario.during_fault.probes_seen),
              ("stop_conditions.probe_failing", scenario.monitored_stop_probes)]
    for field, names in probes:
        for i, name in enumerate(names):
            if name not in target.probes:
                problems.append(f"{field}.{i}: target has no probe {name!r}")
    traffic_ops = set(scenario.traffic.operation_names)
    for i, fault in enumerate(scenario.faults):
        if fault.proxy_name is not None and fault.proxy_name not in target.proxies:
            problems.append(
                f"faults.{i}.proxy: target {scenario.target!r} declares no proxy "
                f"{fault.proxy_name!r}"
            )
        for field, problem in fault.target_problems(target, traffic_ops):
            problems.append(f"faults.{i}{'.' + field if field else ''}: {problem}")
    if problems:
        raise ConfigError(f"scenario {scenario.name!r}:\n" + "\n".join(problems))


def _uses(scenario: Scenario) -> list[tuple[str, str, Any, set[str]]]:
    """(field, operation, payload recipe, names captured before) for every place
    the traffic sends an operation."""
    traffic = scenario.traffic
    uses = [(f"traffic.operations.{i}", op.name, op.payload, set[str]())
            for i, op in enumerate(traffic.operations)]
    for j, journey in enumerate(traffic.journeys):
        uses += [(f"traffic.journeys.{j}.steps.{k}", step.operation, step.payload,
                  journey.captured_before(k)) for k, step in enumerate(journey.steps)]
    return uses


def _operation_problems(scenario: Scenario, target: HttpTarget | PythonTarget) -> list[str]:
    """Each operation exists, and the target's request templates for it can be
    filled: `{payload.x}` from its payload, other names from earlier captures."""
    problems = []
    if scenario.traffic.journeys and not isinstance(target, HttpTarget):
        problems.append("traffic.journeys: journeys need an http target")
    known = ", ".join(sorted(target.operations))
    for where, name, payload, captured in _uses(scenario):
        op = target.operations.get(name)
        if op is None:
            field = "name" if ".operations." in where else "operation"
            problems.append(f"{where}.{field}: target {scenario.target!r} has no operation "
                            f"{name!r} (has: {known})")
            continue
        if not isinstance(op, HttpOperation):
            continue
        for field, text in op.templates():
            problems += [f"{where}: target operation {name!r} {field} {problem}"
                         for problem in _template_problems(text, payload, captured)]
    return problems


def _template_problems(text: str, payload: Any, captured: set[str]) -> list[str]:
    parts = parse_template(text) if has_expressions(text) else ()
    problems = [f"uses {{{p.fn}}}: a target's templates take captures, payload fields "
                "and env only" for p in parts if isinstance(p, Call) and p.fn != "env"]
    for ref in (p for p in parts if isinstance(p, Ref)):
        if ref.root == "payload":
            if not recipe_has_path(payload, ref.path):
                problems.append(f"needs {{{ref}}}, which the payload does not have")
        elif ref.root not in captured:
            problems.append(f"needs {{{ref}}}, but no earlier step captures {ref.root!r} "
                            f"(captured: {', '.join(sorted(captured)) or 'none'})")
    return problems

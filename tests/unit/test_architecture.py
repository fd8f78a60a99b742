"""The import graph keeps its shape: the layers in pyproject.toml hold, and no two
packages import each other, even through function-level imports."""

from __future__ import annotations

import copy
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter

import grimp
import pytest

from tests.conftest import REPO

ROOTS = ("chaosfleet", "workers", "faults", "catalogue", "scenarios", "reftarget")


def package_of(module: str) -> str:
    """A top-level package, or one of chaosfleet's subpackages (its own modules,
    such as chaosfleet.fleet, count as one package each)."""
    parts = module.split(".")
    if parts[0] == "chaosfleet" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def package_graph(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = {}
    for module in graph.modules:
        source = package_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = package_of(imported)
            if target != source and target != "chaosfleet":
                deps.setdefault(source, set()).add(target)
    return deps


def find_cycle(deps: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        return list(exc.args[1])
    return None


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS)


def test_the_layer_contracts_in_pyproject_hold():
    # in a process of its own: import-linter reconfigures logging, which silenced the
    # loggers of every test that ran after it in this one
    code = ("from importlinter.cli import lint_imports; "
            "raise SystemExit(lint_imports(no_cache=True))")
    checked = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout[-3000:]


def test_no_two_packages_import_each_other(graph):
    deps = package_graph(graph)
    # the graph really holds the packages (the ground floor imports none of them)
    assert {"chaosfleet.cli", "chaosfleet.api", "workers", "faults", "catalogue"} <= set(deps)
    assert "chaosfleet.core" not in deps
    assert find_cycle(deps) is None


def test_a_function_level_import_upwards_is_found_as_a_cycle(graph):
    """The check is not blind: one import from the ground floor to the CLI (the
    kind a lazy import inside a function hides) makes a cycle."""
    tangled = copy.deepcopy(graph)
    tangled.add_import(importer="chaosfleet.core.settings", imported="chaosfleet.cli.main")
    cycle = find_cycle(package_graph(tangled))
    assert cycle is not None and "chaosfleet.core" in cycle and "chaosfleet.cli" in cycle


def test_the_domain_packages_never_reach_the_entry_points(graph):
    for source in ("faults", "catalogue", "scenarios", "chaosfleet.core"):
        for forbidden in ("chaosfleet.cli", "chaosfleet.api", "workers"):
            chain = graph.find_shortest_chain(importer=source, imported=forbidden,
                                              as_packages=True)
            assert chain is None, f"{source} reaches {forbidden}: {' -> '.join(chain or ())}"


def test_starting_the_cli_loads_neither_the_runner_nor_the_databases():
    """`chaosfleet --help` stays fast: the command modules import the heavy
    libraries inside the commands that need them."""
    code = ("import sys, chaosfleet.cli.main; print(' '.join(sorted({m.split('.')[0] for m in "
            "sys.modules})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=REPO, timeout=60).stdout.split()
    assert "click" in loaded
    for heavy in ("celery", "sqlalchemy", "faker", "pyreqwest", "uvloop", "fastapi", "faults",
                  "catalogue", "workers"):
        assert heavy not in loaded, f"importing the CLI loads {heavy}"

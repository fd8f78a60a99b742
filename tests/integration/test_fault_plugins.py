"""A fault family from another package, installed as a user installs one: pip
builds it and its entry point (`chaosfleet.fault_families`) makes its fault type
usable in scenarios, under a lease, with nothing in chaosfleet changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

PLUGIN = REPO / "tests" / "plugins" / "touchfault"
REDIS_URL = "redis://127.0.0.1:6379/13"  # the redis_client fixture's database


def install(source: Path, into: Path) -> Path:
    """pip-install a package into its own directory (never into the project's
    environment: every later test process would load the plug-in)."""
    build = into.parent / f"src-{source.name}"
    shutil.copytree(source, build)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(into), str(build)],
                   check=True, capture_output=True, text=True, timeout=180)
    return into


def python(code: str, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env)


APPLY = """
    import sys, time
    import redis
    from faults.base import FaultContext
    from faults.control import FaultControl
    from faults.leases import Lease
    from faults.registry import FAULT_TYPES
    from faults.toxiproxy import ToxiproxyClient
    from scenarios.loader import load_scenario

    assert "touch_file" in FAULT_TYPES, FAULT_TYPES
    scenario = load_scenario(sys.argv[1] if len(sys.argv) > 1 else "{scenario}")
    (spec,) = scenario.faults
    control = FaultControl(redis.Redis.from_url("{redis}"), "plugin",
                           FaultContext(toxiproxy=ToxiproxyClient("http://127.0.0.1:8474")))
    lease = Lease(id="chaosfleet-plugin-1", run_id="plugin", spec=spec,
                  expires_at=time.time() + 60)
    assert control.apply(lease)
    print(type(spec).__name__, control.leases.get(lease.id).applied_at is not None)
"""

REVERT = """
    import redis
    from faults.base import FaultContext
    from faults.control import FaultControl
    from faults.toxiproxy import ToxiproxyClient

    control = FaultControl(redis.Redis.from_url("{redis}"), "plugin",
                           FaultContext(toxiproxy=ToxiproxyClient("http://127.0.0.1:8474")))
    print(control.revert_by_id("chaosfleet-plugin-1"), len(control.leases.active()))
"""


def scenario_file(tmp_path: Path, marks: Path) -> Path:
    text = (REPO / "scenarios" / "library" / "db-latency.yaml").read_text()
    head = text[:text.index("faults:")]
    tail = text[text.index("steady_state:"):]
    path = tmp_path / "touch.yaml"
    path.write_text(head + "faults:\n  - type: touch_file\n"
                    f"    directory: {marks}\n    start: 2s\n    duration: 5s\n\n" + tail)
    return path


def test_an_installed_fault_family_is_applied_and_reverted_from_another_process(
        tmp_path, redis_client):
    site = install(PLUGIN, tmp_path / "site")
    assert list(site.glob("chaosfleet_touchfault-*.dist-info/entry_points.txt"))
    marks = tmp_path / "marks"
    marks.mkdir()
    scenario = scenario_file(tmp_path, marks)

    applied = python(APPLY.format(scenario=scenario, redis=REDIS_URL), site)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.split() == ["TouchFileSpec", "True"]
    assert [p.name for p in marks.iterdir()] == ["chaosfleet-plugin-1.touched"]

    # the revert comes from another process, holding only the lease (the janitor's case)
    reverted = python(REVERT.format(redis=REDIS_URL), site)
    assert reverted.returncode == 0, reverted.stderr
    assert reverted.stdout.split() == ["True", "0"]
    assert list(marks.iterdir()) == []


def test_without_the_plugin_its_fault_type_is_refused(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    scenario = scenario_file(tmp_path, marks)
    done = python(f"from scenarios.loader import load_scenario; load_scenario({str(scenario)!r})",
                  tmp_path)
    assert done.returncode != 0 and "touch_file" in done.stderr


def test_a_plugin_claiming_a_built_in_type_stops_the_fleet_loading(tmp_path):
    """A scenario naming `latency` must never run someone else's fault."""
    rogue = tmp_path / "rogue"
    shutil.copytree(PLUGIN, rogue)
    module = rogue / "touchfault.py"
    module.write_text(module.read_text().replace('Literal["touch_file"]', 'Literal["latency"]'))
    site = install(rogue, tmp_path / "site")
    done = python("import faults.registry", site)
    assert done.returncode != 0
    assert "fault type 'latency' is claimed by both 'network' and 'touch-file'" in done.stderr

"""End-to-end fixtures: the reference target and fleet workers as real subprocesses
(prefork workers, so time limits and SIGKILL behave as in production)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from chaosfleet.cli.procs import Proc, start_reference_target, start_workers, stop_all
from chaosfleet.core.config import load_config
from chaosfleet.core.presence import pool_processes, read_presence
from chaosfleet.core.settings import BUNDLED_CONFIG, get_settings
from chaosfleet.jobs.trigger import follow_run, prepare_run, submit_run
from chaosfleet.reports.schemas import RunJournal, SuiteJournal
from chaosfleet.runner.request import RunRequest
from faults.toxiproxy import ToxiproxyClient
from tests.conftest import TEST_ENV, require, wait_for  # noqa: F401  (re-exported)
from workers.app import app

E2E_PORT = 18080


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory) -> Path:
    require("redis", "postgresql", "toxiproxy")
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def reference_target(e2e_dir, catalogue_url) -> Iterator[Callable[[str], str]]:
    """Start a reference target with the named mechanisms turned off; returns its URL.
    `instance` > 0 starts another process of the same service (same database and
    Redis), as a second replica."""
    client = ToxiproxyClient("http://127.0.0.1:8474")
    for name, proxy in load_config(BUNDLED_CONFIG).target("reference").proxies.items():
        client.ensure_proxy(name, proxy.listen, proxy.upstream)
    started: dict[tuple[Any, ...], tuple[str, Proc]] = {}

    def get(disable: str = "", instance: int = 0, **knobs: str) -> str:
        """`knobs` set the target's settings (query_deadline="4" is
        REFTARGET_QUERY_DEADLINE=4)."""
        key = (disable, instance, *sorted(knobs.items()))
        if key not in started:
            port = E2E_PORT + len(started)
            env = {"REFTARGET_DISABLE": disable,
                   **{f"REFTARGET_{k.upper()}": v for k, v in knobs.items()}}
            proc = start_reference_target(port, e2e_dir / "logs", env=env)
            started[key] = (f"http://127.0.0.1:{port}", proc)
        return started[key][0]

    yield get
    for _, proc in started.values():
        proc.stop()


def start_fleet(e2e_dir: Path, roles=("control", "traffic", "faults"),
                env: dict[str, str] | None = None) -> dict[str, Proc]:
    """One worker per role with a fresh broker database, so no stale message runs."""
    redis.Redis.from_url(TEST_ENV["CHAOSFLEET_REDIS_URL"]).flushdb()
    tag = uuid.uuid4().hex[:6]
    env = {"CHAOSFLEET_REPORTS_DIR": str(e2e_dir / "reports"), **(env or {})}
    started = start_workers(roles, tag, e2e_dir / "logs", env=env)
    return dict(zip(roles, started, strict=True))


@pytest.fixture(scope="module")
def fleet(e2e_dir) -> Iterator[dict[str, Proc]]:
    """One worker per role, shared by the tests of a module."""
    procs = start_fleet(e2e_dir)
    yield procs
    stop_all(procs.values())


def traffic_pids() -> set[int]:
    """The traffic pool processes the fleet's workers announce, on every host."""
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    return {p.pid for p in pool_processes(read_presence(client, settings.key_prefix))}


def submit(scenario: str | Path, base_url: str, instances: tuple[str, ...] = ()) -> RunRequest:
    """Trigger a run as the CLI does, against the given reference target (and
    more instances of it)."""
    request = prepare_run(scenario, load_config(BUNDLED_CONFIG), get_settings())
    target = request.target.model_copy(update={"base_url": base_url,
                                               "instances": list(instances)})
    request = request.model_copy(update={"target": target})
    submit_run(app, request)
    return request


def write_scenario(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def run_to_verdict(scenario: str | Path, base_url: str, instances: tuple[str, ...] = ()
                   ) -> tuple[dict[str, str], dict[str, Any]]:
    """Trigger a run against the given reference target, and wait for its verdict."""
    settings = get_settings()
    request = submit(scenario, base_url, instances)
    client = redis.Redis.from_url(settings.redis_url)
    final = follow_run(request, client, settings, lambda _: None)
    journal = json.loads(Path(final["journal"]).read_text()) if final.get("journal") else {}
    if journal:  # every journal an e2e run writes matches its documented schema
        RunJournal.model_validate(journal)
    if "recording" in journal:  # invariant 4, in every run: no record is ever dropped
        assert journal["recording"]["dropped"] == 0, journal["recording"]
        assert journal["recording"]["pending"] == 0, journal["recording"]
    return final, journal


def assert_catalogued(journal: dict[str, Any], required: set[str], allowed: set[str] = frozenset(),
                      misses: bool = False) -> list[dict[str, Any]]:
    """Every failure the run provoked is in the catalogue database, matched to an
    expected entry (`required` all seen, nothing outside `required | allowed`); no
    miss unless `misses`. Returns the rows."""
    from catalogue.db import get_engine
    from catalogue.failures import FailureFilter, list_failures

    engine = get_engine(get_settings().catalogue_url)
    rows = list_failures(engine, FailureFilter(run_id=journal["run_id"], limit=10_000))
    modes = {r["mode_id"] for r in rows if r["mode_id"]}
    missed = [r for r in rows if r["mode_id"] is None]
    assert bool(missed) == misses, [(r["error_code"], r["message"]) for r in missed[:5]]
    assert required <= modes, f"expected {sorted(required)}, matched {sorted(modes)}"
    assert modes <= required | allowed, f"unexpected: {sorted(modes - required - allowed)}"
    return rows


def assert_recovery_recorded(rows: list[dict[str, Any]], recovered: bool) -> None:
    """The scenario's recovery result is on the failures of its fault windows;
    defects are never marked recovered."""
    tracked = [r for r in rows if r["recovery_attempted"]]
    assert tracked, "no failure carries the scenario's recovery result"
    assert all(r["recovered"] is False for r in tracked if r["defect"])
    windowed = [r for r in tracked if not r["defect"]]
    if recovered:
        assert windowed and all(r["recovered"] is True for r in windowed)
        assert all(r["time_to_recover_s"] is not None and r["recovered_by"] for r in windowed)


@dataclass
class SuiteRun:
    """One `chaosfleet suite` invocation, as a release pipeline runs it."""

    exit_code: int
    output: str
    doc: dict[str, Any]
    junit: Path
    html: Path
    wall_s: float

    def journal(self, scenario: str) -> dict[str, Any]:
        (run,) = [r for r in self.doc["runs"] if r["scenario"] == scenario]
        return json.loads(Path(run["journal"]).read_text())


def config_for(e2e_dir: Path, base_url: str) -> Path:
    """The bundled fleet config with the reference target at `base_url`."""
    text = BUNDLED_CONFIG.read_text().replace("http://127.0.0.1:8080", base_url)
    path = e2e_dir / f"fleet-{base_url.rsplit(':', 1)[1]}.yaml"
    path.write_text(text)
    return path


def run_suite_cli(e2e_dir: Path, suite: str, base_url: str, *extra: str,
                  timeout: float = 600) -> SuiteRun:
    """`chaosfleet suite SUITE --junit --html` in a subprocess, against `base_url`,
    with a fleet of its own that is stopped afterwards."""
    out = e2e_dir / f"{suite}-{base_url.rsplit(':', 1)[1]}"
    junit, html = out / "junit.xml", out / "report.html"
    env = {**os.environ, "CHAOSFLEET_CONFIG_PATH": str(config_for(e2e_dir, base_url)),
           "CHAOSFLEET_REPORTS_DIR": str(e2e_dir / "reports")}
    cli = str(Path(sys.executable).with_name("chaosfleet"))
    procs = start_fleet(e2e_dir)
    begun = time.monotonic()
    try:
        done = subprocess.run([cli, "suite", suite, "--junit", str(junit), "--html", str(html),
                               *extra], env=env, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        stop_all(procs.values())
    wall = time.monotonic() - begun
    output = done.stdout + done.stderr
    folders = sorted((e2e_dir / "reports").glob("suite-*/suite.json"),
                     key=lambda p: p.stat().st_mtime)
    assert folders, f"no suite journal written:\n{output[-3000:]}"
    doc = json.loads(folders[-1].read_text())
    SuiteJournal.model_validate(doc)
    for run in doc["runs"]:
        if run["journal"]:
            RunJournal.model_validate(json.loads(Path(run["journal"]).read_text()))
    return SuiteRun(done.returncode, output, doc, junit, html, wall)


@pytest.fixture(scope="session")
def pre_release(e2e_dir, reference_target) -> Callable[[str], SuiteRun]:
    """The pre-release suite against a reference target with `disable` turned off
    (and extra CLI options), run once per session and shared: the built-in
    scenarios' e2e tests read its journals instead of running each scenario again."""
    runs: dict[tuple[str, ...], SuiteRun] = {}

    def get(disable: str = "", *extra: str) -> SuiteRun:
        key = (disable, *extra)
        if key not in runs:
            runs[key] = run_suite_cli(e2e_dir, "pre-release", reference_target(disable), *extra)
        return runs[key]

    return get

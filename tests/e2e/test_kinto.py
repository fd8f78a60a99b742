"""A real third-party application as the target: Kinto, installed from PyPI into its
own virtualenv (scripts/kinto.sh), run unmodified on 127.0.0.1 with its PostgreSQL
storage behind the Toxiproxy proxy `kinto-db`, and declared only in configuration
(examples/kinto/fleet.yaml). The fleet never imports it.

The example suite runs once per module: journeys (sign up -> bucket -> collection
-> record -> read back), database latency and blackhole, a database outage,
malformed records and pool exhaustion. The tests read what it left: the ledger,
the failure catalogue, the journals, and what Kinto itself stored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select

from catalogue.db import get_engine
from catalogue.failures import FailureFilter, list_failures
from catalogue.models import LedgerEntry
from chaosfleet.cli.procs import spawn, stop_all, wait_until
from chaosfleet.core.settings import get_settings
from tests.conftest import IN_CI, REPO
from tests.e2e.conftest import start_fleet

pytestmark = pytest.mark.e2e

KINTO_PORT = 18888
EXAMPLE = REPO / "examples" / "kinto"
KINTO_DB = "host=127.0.0.1 port=5432 dbname=kinto user=kinto password=kinto"


@pytest.fixture(scope="module")
def kinto(e2e_dir) -> Iterator[str]:
    """Kinto on 127.0.0.1:18888 (installed on first use); returns its base URL."""
    folder = e2e_dir / "kinto"
    env = {**os.environ, "KINTO_PORT": str(KINTO_PORT), "KINTO_DIR": str(folder)}
    setup = subprocess.run(["bash", str(REPO / "scripts" / "kinto.sh")], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    if setup.returncode != 0:
        reason = f"scripts/kinto.sh failed:\n{setup.stdout}\n{setup.stderr}"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    kinto_bin = REPO / ".venv-kinto" / "bin" / "kinto"
    proc = spawn("kinto", [str(kinto_bin), "start", "--ini", str(folder / "kinto.ini")],
                 e2e_dir / "logs")
    base = f"http://127.0.0.1:{KINTO_PORT}/v1"

    def answering() -> bool:
        try:
            return httpx.get(f"{base}/__heartbeat__", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answering, 60, "kinto", proc)
        yield base
    finally:
        proc.stop()


@dataclass
class KintoSuite:
    exit_code: int
    output: str
    runs: dict[str, dict[str, Any]]  # scenario -> journal


@pytest.fixture(scope="module")
def suite(e2e_dir, kinto, catalogue_url) -> KintoSuite:
    """`chaosfleet suite examples/kinto/suite.yaml`, as a user runs it, from another
    working directory (suite paths resolve against the suite file)."""
    config = e2e_dir / "kinto-fleet.yaml"
    config.write_text((EXAMPLE / "fleet.yaml").read_text()
                      .replace("http://127.0.0.1:8888/v1", kinto))
    fleet_env = {"CHAOSFLEET_CONFIG_PATH": str(config), "KINTO_DB_PASSWORD": "kinto"}
    procs = start_fleet(e2e_dir, env=fleet_env)
    cli = str(Path(sys.executable).with_name("chaosfleet"))
    try:
        done = subprocess.run([cli, "suite", str(EXAMPLE / "suite.yaml")], cwd=e2e_dir,
                              env={**os.environ, **fleet_env,
                                   "CHAOSFLEET_REPORTS_DIR": str(e2e_dir / "reports")},
                              capture_output=True, text=True, timeout=600)
    finally:
        stop_all(procs.values())
    output = done.stdout + done.stderr
    folders = sorted((e2e_dir / "reports").glob("suite-*/suite.json"),
                     key=lambda p: p.stat().st_mtime)
    assert folders, output[-3000:]
    doc = json.loads(folders[-1].read_text())
    runs = {r["scenario"]: json.loads(Path(r["journal"]).read_text()) for r in doc["runs"]}
    return KintoSuite(done.returncode, output, runs)


def ledger_rows(run_ids: list[str]) -> list[LedgerEntry]:
    engine = get_engine(get_settings().catalogue_url)
    with engine.connect() as conn:
        return list(conn.execute(select(LedgerEntry).where(LedgerEntry.run_id.in_(run_ids))))


def kinto_objects() -> dict[tuple[str, str], dict[str, Any]]:
    """What Kinto stored, read from its own database: (parent, id) -> data."""
    with psycopg.connect(KINTO_DB) as conn:
        rows = conn.execute("SELECT parent_id, id, resource_name, data FROM objects "
                            "WHERE NOT deleted").fetchall()
    return {(parent, oid): {"resource": kind, "data": data} for parent, oid, kind, data in rows}


def test_the_suite_gives_a_verdict_per_scenario_and_nothing_is_lost(suite):
    verdicts = {name: j["verdict"] for name, j in suite.runs.items()}
    assert verdicts == {"kinto-db-latency": "failed", "kinto-db-outage": "passed",
                        "kinto-malformed-inputs": "failed",
                        "kinto-db-pool-exhaustion": "passed"}, suite.output[-3000:]
    assert suite.exit_code == 1
    for journal in suite.runs.values():
        assert journal["ledger"]["lost"] == 0
        assert journal["ledger"]["ok"] > 100  # journeys really ran
    # Kinto holds requests while its database is slow: the fleet says so, by name
    latency = {c["name"]: c["passed"] for c in suite.runs["kinto-db-latency"]["checks"]}
    assert latency["fault 0: no hung requests"] is False
    assert latency["fault 0: traffic recovered"] is True


def test_malformed_records_are_mutated_inside_kintos_envelope(suite):
    """Kinto stores any JSON in a record's `data` unless the collection has a schema:
    mutations of the leaves inside the envelope are accepted, and the fleet names
    each leaf (a mutation of the envelope key `data` alone would have passed)."""
    journal = suite.runs["kinto-malformed-inputs"]
    by_field = journal["malformed"]["by_field"]
    assert by_field and all(f.startswith("data") or f == "(body)" for f in by_field)
    accepted = [f for f, row in by_field.items() if row.get("accepted")]
    assert accepted
    check = next(c for c in journal["checks"] if c["name"] == "malformed inputs rejected")
    assert check["passed"] is False and all(f in check["detail"] for f in accepted)


def test_journey_paths_name_resources_the_journey_created(suite):
    rows = ledger_rows([j["run_id"] for j in suite.runs.values()])
    stored = kinto_objects()
    journeys: dict[str, dict[int, LedgerEntry]] = defaultdict(dict)
    for row in rows:
        unit, _, step = row.op_id.rpartition(".")
        journeys[unit][int(step)] = row
    complete = [steps for steps in journeys.values()
                if len(steps) == 6 and all(s.outcome == "ok" for s in steps.values())]
    assert len(complete) > 100
    buckets = set()
    for steps in complete:
        assert steps[0].request_path == "/v1/accounts"
        bucket = re.fullmatch(r"/v1/buckets/([^/]+)/collections", steps[2].request_path or "")
        assert bucket, steps[2].request_path
        b = bucket.group(1)
        assert ("", b) in stored and stored[("", b)]["resource"] == "bucket"
        read = re.fullmatch(rf"/v1/buckets/{b}/collections/([^/]+)/records/([^/]+)",
                            steps[4].request_path or "")
        assert read, steps[4].request_path
        c, r = read.groups()
        assert steps[3].request_path == f"/v1/buckets/{b}/collections/{c}/records"
        assert steps[5].request_path == steps[3].request_path
        record = stored[(f"/buckets/{b}/collections/{c}", r)]
        assert record["resource"] == "record"
        buckets.add(b)
    assert len(buckets) == len(complete)  # every journey built its own bucket


def test_nested_faker_payloads_reach_kinto_rendered(suite):
    stored = kinto_objects()
    assert not [k for k, v in stored.items() if "faker" in json.dumps(v["data"])]
    rows = ledger_rows([suite.runs["kinto-db-outage"]["run_id"]])  # no malformed input there
    parents = {r.request_path.removeprefix("/v1").removesuffix("/records") for r in rows
               if r.operation == "create_record" and r.outcome == "ok" and r.request_path}
    records = [v["data"] for (parent, _), v in stored.items()
               if v["resource"] == "record" and parent in parents]
    assert len(records) > 20
    for data in records:
        assert re.fullmatch(r"SKU-\d{4}-[A-Za-z]{2}", data["sku"])
        assert isinstance(data["author"]["name"], str) and "@" in data["author"]["email"]
        assert len(data["tags"]) == 2 and all(isinstance(t, str) for t in data["tags"])
        assert 1 <= data["stars"] <= 5


def test_a_journey_stops_honestly_after_a_failed_step(suite):
    rows = ledger_rows([suite.runs["kinto-db-outage"]["run_id"]])
    journeys: dict[str, dict[int, LedgerEntry]] = defaultdict(dict)
    for row in rows:
        unit, _, step = row.op_id.rpartition(".")
        journeys[unit][int(step)] = row
    stopped = 0
    for steps in journeys.values():
        assert sorted(steps) == list(range(6))  # every step has exactly one row
        outcomes = [steps[k].outcome for k in range(6)]
        if "skipped" in outcomes:
            first = outcomes.index("skipped")
            assert first > 0 and outcomes[first - 1] != "ok"
            assert all(o == "skipped" for o in outcomes[first:])
            stopped += 1
    assert stopped > 0


def test_failures_carry_kintos_own_codes_and_messages_and_few_are_misses(suite):
    engine = get_engine(get_settings().catalogue_url)
    rows = []
    for journal in suite.runs.values():
        rows += list_failures(engine, FailureFilter(run_id=journal["run_id"], limit=10_000))
    assert len(rows) > 20
    misses = [r for r in rows if r["mode_id"] is None]
    assert len(misses) <= 0.10 * len(rows), [(r["error_code"], r["message"]) for r in misses]
    unavailable = [r for r in rows if r["http_status"] == 503]
    assert unavailable and all("temporary unavailable" in r["message"].lower()
                               for r in unavailable)
    rejected = [r for r in rows if r["http_status"] == 400]
    assert rejected and all(r["error_code"] == "Invalid parameters" for r in rejected)


def test_init_from_kintos_openapi_writes_a_suite_that_validates_and_runs(e2e_dir, kinto,
                                                                         suite):
    """`chaosfleet init` against Kinto and its OpenAPI (Swagger 2) document: the
    config and suite validate and a scenario runs, with no hand edit."""
    out = e2e_dir / "init-kinto"
    cli = str(Path(sys.executable).with_name("chaosfleet"))
    done = subprocess.run([cli, "init", "kinto", "--base-url", kinto.removesuffix("/v1"),
                           "--openapi", f"{kinto}/__api__", "--proxy",
                           "kinto-db=127.0.0.1:25460,127.0.0.1:5432", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    env = {**os.environ, "CHAOSFLEET_CONFIG_PATH": str(out / "fleet.yaml"),
           "CHAOSFLEET_REPORTS_DIR": str(e2e_dir / "reports")}
    files = sorted(str(p) for p in out.glob("*.yaml") if p.name not in ("fleet.yaml",
                                                                        "suite.yaml"))
    check = subprocess.run([cli, "validate", *files], env=env, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    dry = subprocess.run([cli, "suite", str(out / "suite.yaml"), "--dry-run"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    procs = start_fleet(e2e_dir, env={"CHAOSFLEET_CONFIG_PATH": str(out / "fleet.yaml")})
    try:
        ran = subprocess.run([cli, "run", str(out / "kinto-kinto-db-outage.yaml")], env=env,
                             capture_output=True, text=True, timeout=300)
    finally:
        stop_all(procs.values())
    assert ran.returncode in (0, 1), ran.stdout + ran.stderr  # a verdict, not a harness error
    assert "ledger: ok" in ran.stdout and "lost 0" in ran.stdout

"""Journals live in the catalogue database: a report is read from any host, not only
from the disk of the host whose controller ran the run."""

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from catalogue.journals import load_journal, store_journal
from catalogue.modes import load_catalogue
from chaosfleet.api.app import create_app
from chaosfleet.cli.main import main
from chaosfleet.core.exitcodes import ExitCode
from chaosfleet.jobs.suites import RunResult, SuiteResult, write_suite_journal, write_suite_reports
from chaosfleet.runner.analysis import Verdict
from scenarios.model import Suite

pytestmark = pytest.mark.integration

TOKEN = "r" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def finished_run(make_controller):
    """A run that ended (as a harness error), whose journal file is then removed: from
    here on this process is a host that did not run the controller."""
    controller = make_controller(toxiproxy_url=f"http://127.0.0.1:{closed_port()}")
    outcome = controller.execute()
    path = Path(outcome.journal_path)
    on_disk = json.loads(path.read_text())
    path.unlink()
    return controller.request.run_id, on_disk, controller.engine


def test_the_controller_stores_the_journal_it_writes(finished_run):
    run_id, on_disk, engine = finished_run
    assert load_journal(engine, run_id) == ("run", on_disk)
    assert load_journal(engine, "run-that-never-was") is None


def test_a_run_followed_from_another_host_gets_its_journal_from_the_database(finished_run):
    from chaosfleet.cli.common import stored_run_journal

    run_id, on_disk, _ = finished_run
    assert stored_run_journal(run_id) == on_disk  # what `chaosfleet run` prints without the file
    assert stored_run_journal("run-that-never-was") is None


def test_the_api_serves_a_runs_journal_and_report(finished_run):
    run_id, on_disk, engine = finished_run
    with TestClient(create_app(engine, TOKEN, load_catalogue(), None)) as client:
        journal = client.get(f"/runs/{run_id}/journal", headers=AUTH)
        page = client.get(f"/runs/{run_id}/report.html", headers=AUTH)
        assert journal.status_code == 200 and journal.json() == on_disk
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert run_id in page.text and on_disk["reason"][:40] in page.text
        assert client.get(f"/runs/{run_id}/journal").status_code == 401
        assert client.get("/runs/nope/journal", headers=AUTH).status_code == 404
        assert client.get(f"/suites/{run_id}/journal", headers=AUTH).status_code == 404
        assert client.get("/runs/a%20b/report.html", headers=AUTH).status_code == 422


def test_chaosfleet_report_reads_a_run_by_id_from_any_host(finished_run, tmp_path):
    run_id, on_disk, _ = finished_run
    shown = CliRunner().invoke(main, ["report", run_id], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "error" in shown.output and on_disk["reason"][:30] in " ".join(shown.output.split())
    page = tmp_path / "r.html"
    written = CliRunner().invoke(main, ["report", run_id, "--html", str(page)],
                                 catch_exceptions=False)
    assert written.exit_code == 0 and run_id in page.read_text()
    missing = CliRunner().invoke(main, ["report", "no-such-run"], catch_exceptions=False)
    assert missing.exit_code == ExitCode.INVALID
    assert "no run or suite 'no-such-run'" in missing.output


def test_a_suites_junit_keeps_the_checks_of_runs_controlled_elsewhere(finished_run, tmp_path):
    run_id, on_disk, engine = finished_run
    # the run's journal, with a failed check, is only in the database
    failing = {**on_disk, "checks": [{"name": "error rate bounded", "passed": False,
                                      "detail": "9.9% of 12000 operations failed"}]}
    store_journal(engine, run_id, "run", failing)
    result = SuiteResult("suite-elsewhere", "smoke", Verdict.FAILED, "1 run failed",
                         [RunResult("db-latency", run_id, "failed", "checks failed",
                                    journal=f"/elsewhere/{run_id}/journal.json")])
    suite = Suite(name="smoke", description="", scenarios=["db-latency"])
    folder = write_suite_journal(tmp_path, result, suite, engine)
    paths = write_suite_reports(folder, engine=engine)
    junit = paths["junit"].read_text()
    assert "error rate bounded: 9.9% of 12000 operations failed" in junit
    assert load_journal(engine, "suite-elsewhere")[0] == "suite"
    with TestClient(create_app(engine, TOKEN, load_catalogue(), None)) as client:
        page = client.get("/suites/suite-elsewhere/report.html", headers=AUTH)
        assert page.status_code == 200 and "error rate bounded" in page.text

"""Invariant 8 at the command line: bad input gets a clear error, never a traceback.

The commands run in-process through click's CliRunner (an exception that escapes
fails the test with its traceback); one smoke test runs the installed entry point
as a subprocess, as a user would."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import REPO


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def chaosfleet(*args: str) -> Ran:
    from chaosfleet.cli.main import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def test_the_installed_command_runs_as_a_subprocess():
    """The console script the package installs, started as a user starts it."""
    cli = Path(sys.executable).with_name("chaosfleet")
    done = subprocess.run([str(cli), "validate", "db-latency"], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0 and "ok db-latency" in done.stdout, done.stdout + done.stderr


def test_validate_reports_every_bad_field_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\ntarget: reference\ntraffic: {rate: -1, duration: 1s,"
                   " operations: []}\nfaults: [{type: latncy}]\n")
    result = chaosfleet("validate", str(bad))
    assert result.returncode == 3
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    for field in ("name", "traffic.rate", "traffic.operations", "faults.0",
                  "steady_state", "recovery"):
        assert field in out, field
    assert "did you mean 'latency'" in out


def test_validate_accepts_the_builtin_library():
    result = chaosfleet("validate", "db-latency")
    assert result.returncode == 0 and "ok" in result.stdout


def test_run_of_unknown_scenario_is_a_clear_error():
    result = chaosfleet("run", "no-such-scenario")
    assert result.returncode == 3
    assert "no scenario named 'no-such-scenario'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_report_rejects_a_file_that_is_not_a_journal(tmp_path):
    junk = tmp_path / "journal.json"
    junk.write_text("{}")
    result = chaosfleet("report", str(junk))
    assert result.returncode == 3 and "not a chaosfleet journal" in result.stdout


def test_the_run_report_names_catalogue_matches_and_misses():
    from io import StringIO

    from rich.console import Console

    from chaosfleet.reports.terminal import render

    doc = {"verdict": "failed", "reason": "x", "run_id": "r1",
           "scenario": {"name": "s", "target": "t", "seed": 1}, "checks": [],
           "totals": {"ok": 1}, "faults": [], "timeline": [], "errors": {},
           "catalogue": {"by_mode": {"circuit-open": 5, "load-shed": 9},
                         "misses": [{"occurrences": 3}, {"occurrences": 4}]}}
    out = StringIO()
    render(doc, Console(file=out, width=200))
    text = out.getvalue()
    assert "failure catalogue: load-shed 9, circuit-open 5; 7 unmatched" in text

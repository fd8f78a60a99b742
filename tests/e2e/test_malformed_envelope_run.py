"""A whole malformed-inputs run against an app whose `{"comment": {...}}` envelope
hides a leaf that crashes it (`comment.body` with a NUL or a lone surrogate) and a
leaf it accepts whatever it holds (`comment.score`): `chaosfleet run` fails and the
verdict, the journal and both reports name both fields, with inputs to send again.
The app (tests/integration/test_malformed_envelopes.py) runs in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from chaosfleet.cli.procs import stop_all
from tests.e2e.conftest import start_fleet
from tests.integration.test_malformed_envelopes import Envelope

pytestmark = pytest.mark.e2e


class EnvelopeWithHealth(Envelope):
    def do_GET(self) -> None:
        self._answer(200, {"status": "ok"})


@pytest.fixture
def envelope_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EnvelopeWithHealth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_run_against_a_hidden_crashing_and_accepting_leaf_fails_naming_both(
        e2e_dir, envelope_app, tmp_path):
    config = tmp_path / "fleet.yaml"
    config.write_text(textwrap.dedent(f"""\
        environment: dev
        allowlist: {{targets: [envelope], proxies: []}}
        targets:
          envelope:
            kind: http
            base_url: {envelope_app}
            timeout: 2.0
            operations:
              comment: {{path: /comments}}
            probes:
              healthy: {{path: /health, expect_status: 200}}
        """))
    scenario = tmp_path / "envelope-malformed.yaml"
    scenario.write_text(textwrap.dedent("""\
        name: envelope-malformed
        target: envelope
        seed: 5
        traffic:
          rate: 20
          duration: 12s
          concurrency: 8
          operations:
            - name: comment
              payload: {comment: {body: {faker: sentence}, score: {faker: pyint}}}
        faults:
          - type: malformed_input
            operations: [comment]
            mutations: [control_chars, lone_surrogate, wrong_type, boundary_number]
            start: 3s
            duration: 5s
        steady_state: {probes: [healthy]}
        recovery: {within: 4s}
        """))
    reports = tmp_path / "reports"
    env = {**os.environ, "CHAOSFLEET_CONFIG_PATH": str(config),
           "CHAOSFLEET_REPORTS_DIR": str(reports)}
    cli = str(Path(sys.executable).with_name("chaosfleet"))
    procs = start_fleet(e2e_dir, env={"CHAOSFLEET_CONFIG_PATH": str(config),
                                      "CHAOSFLEET_REPORTS_DIR": str(reports)})
    try:
        ran = subprocess.run([cli, "run", str(scenario)], env=env, capture_output=True,
                             text=True, timeout=180)
    finally:
        stop_all(procs.values())
    out = ran.stdout + ran.stderr
    assert ran.returncode == 1, out[-3000:]
    (path,) = reports.glob("*/journal.json")
    journal = json.loads(path.read_text())
    assert journal["verdict"] == "failed"
    (check,) = [c for c in journal["checks"] if c["name"] == "malformed inputs rejected"]
    assert not check["passed"]
    assert "comment.body: " in check["detail"] and "comment.score: " in check["detail"]
    fields = {row["field"]: row for row in journal["malformed"]["fields"]}
    assert set(fields) == {"comment.body", "comment.score"}, fields
    body, score = fields["comment.body"], fields["comment.score"]
    assert body["verdicts"]["crashed"] > 0 and body["crashed"], body
    assert body["crashed"][0]["minimised"] and "comment" in body["crashed"][0]["reproducer"]
    assert score["verdicts"]["accepted"] > 0 and '"score"' in score["accepted"][0]["reproducer"]
    assert "malformed input at comment.body" in out and "malformed input at comment.score" in out
    html = path.with_name("report.html").read_text()
    assert "comment.body" in html and "comment.score" in html and "send again" in html

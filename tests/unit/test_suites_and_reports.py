"""Suites, stop conditions, JUnit and HTML reports, beat slots: the pure logic."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest
from celery.schedules import crontab
from pydantic import ValidationError
from rich.console import Console

from beat_schedule import build_beat_schedule, parse_cron
from chaosfleet.core.errors import ConfigError
from chaosfleet.core.settings import Settings
from chaosfleet.jobs.suites import RunResult, describe_plan, judge_suite, plan_suite
from chaosfleet.reports.html import PAD_L, WIDTH, charts, render_run_html, render_suite_html
from chaosfleet.reports.junit import build_junit
from chaosfleet.reports.terminal import render
from chaosfleet.runner.analysis import Verdict
from chaosfleet.runner.probes import ProbeSample, json_matches, probe_failing_for
from scenarios.loader import SUITES, load_suite
from scenarios.model import StopCondition
from tests.conftest import published_schemas
from tests.unit.test_cli import chaosfleet
from workers.beat import slot_of

JOURNAL = {
    "schema": "chaosfleet.journal/2", "run_id": "r1", "trigger": "cli",
    "scenario": {"name": "db-latency", "seed": 42, "target": "reference", "spec": {}},
    "verdict": "failed", "reason": "1 check failed", "started_at": 1.8e9,
    "checks": [{"name": "fault 0: fails fast", "passed": False,
                "detail": "p95 2500 ms <script>alert(1)</script>"},
               {"name": "baseline error rate", "passed": True, "detail": "0%"}],
    "faults": [{"index": 0, "describe": "latency 1500ms on reference-db", "start": 4.0,
                "end": 8.0, "applied_at": 1.0, "reverted_at": 2.0, "reverted_by": "faults worker",
                "error_rate": 0.9, "p95_ms": 2500.0, "timeout_rate": 0.0,
                "time_to_recover_s": 1.5, "probe_recovery_s": None}],
    "timeline": [{"t": t, "ok": 10 if not 4 <= t < 8 else 1, "rejected": 0,
                  "error": 0 if not 4 <= t < 8 else 9, "timeout": 0, "p95_ms": 20.0}
                 for t in range(12)],
    "totals": {"ok": 84, "rejected": 0, "error": 36, "timeout": 0},
    "ledger": {"ok": 84, "rejected": 0, "dead_lettered": 36, "lost": 0},
    "dead_letters": {"total": 36, "by_class": {"http_503": 36},
                     "sample": [{"id": "d1", "operation": "create_order",
                                 "error_class": "http_503"}]},
    "catalogue": {"by_mode": {"circuit-open": 30, "dependency-timeout": 6},
                  "misses": [{"signature": "abc", "occurrences": 2, "error_code": "E_ODD",
                              "message": "the odd failure", "http_status": 502}]},
    "warnings": [{"mode_id": "circuit-open", "metric": "error_rate", "value": 0.3,
                  "level": "critical", "rising": True, "action": "page"}],
    "errors": {}, "probes": [], "notes": [],
}


def suite_doc(verdicts: list[str]) -> dict:
    return {"schema": "chaosfleet.suite/1", "suite_id": "suite-1", "trigger": "cli",
            "suite": {"name": "pre-release", "description": "", "scenarios": []},
            "verdict": "failed", "reason": "1 of 3 did not pass", "started_at": 1.8e9,
            "wall_s": 90.0,
            "runs": [{"scenario": f"s{i}", "run_id": f"r{i}" if v != "skipped" else None,
                      "verdict": v, "reason": f"because {v}", "journal": None, "wall_s": 30.0}
                     for i, v in enumerate(verdicts)]}


# -- suites


def test_a_harness_error_outranks_a_failure_and_a_failure_outranks_a_pass():
    runs = [RunResult("a", "1", "passed", ""), RunResult("b", "2", "failed", ""),
            RunResult("c", None, "skipped", "")]
    assert judge_suite(runs, None)[0] is Verdict.FAILED
    assert "b" in judge_suite(runs, None)[1]
    runs.append(RunResult("d", "4", "error", "redis down"))
    assert judge_suite(runs, None)[0] is Verdict.ERROR
    assert judge_suite(runs[:1], None) == (Verdict.PASSED, "all 1 scenarios passed")
    assert judge_suite(runs[:1], "cancelled")[0] is Verdict.ABORTED
    assert [Verdict.PASSED.exit_code, Verdict.FAILED.exit_code, Verdict.ERROR.exit_code] == \
        [0, 1, 2]


@pytest.mark.parametrize("name", sorted(p.stem for p in SUITES.glob("*.yaml")))
def test_every_builtin_suite_plans_against_the_bundled_config(name):
    from chaosfleet.core.config import load_config
    from chaosfleet.core.settings import BUNDLED_CONFIG

    suite, requests = plan_suite(name, load_config(BUNDLED_CONFIG), Settings())
    assert [r.scenario.name for r in requests] == suite.scenarios
    plan = describe_plan(requests)
    faults = [f for p in plan for f in p["faults"]]
    assert faults and all(f["end"] > f["start"] for f in faults)


def test_the_pre_release_suite_covers_every_recovery_mechanism_the_target_has():
    assert {"db-latency", "db-pool-exhaustion", "malformed-inputs", "halt-signal-storm",
            "worker-halt-storm", "load-shedding", "dependency-outage",
            "transient-db-errors"} <= set(load_suite("pre-release").scenarios)


def test_dry_run_prints_the_plan_and_touches_nothing():
    # no service is needed: a dry run opens no connection to Redis, Toxiproxy or a target
    result = chaosfleet("suite", "pre-release", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    for text in ("plan (nothing was touched)", "db-pool-exhaustion", "reference-db",
                 "halt_signal_storm", "valid"):
        assert text in result.stdout, text


def test_an_unknown_suite_or_a_target_off_the_allowlist_exits_3_without_a_traceback(tmp_path):
    unknown = chaosfleet("suite", "nope", "--dry-run")
    assert unknown.returncode == 3 and "no suite named 'nope'" in unknown.stdout
    assert "Traceback" not in unknown.stdout + unknown.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nscenarios: [db-latency, no-such-scenario]\n")
    result = chaosfleet("suite", str(bad), "--dry-run")
    assert result.returncode == 3 and "no-such-scenario" in result.stdout


# -- stop conditions


def test_a_stop_condition_needs_exactly_one_trigger():
    with pytest.raises(ValidationError, match="exactly one"):
        StopCondition.model_validate({"for": "2s"})
    with pytest.raises(ValidationError, match="exactly one"):
        StopCondition.model_validate({"for": "2s", "max_error_rate": 0.5,
                                      "probe_failing": "healthy"})
    cond = StopCondition.model_validate({"for": "3s", "probe_failing": "healthy"})
    assert cond.describe() == "probe healthy failing for 3s"


def test_a_probe_stop_trips_only_on_a_failing_streak_long_enough():
    def s(at: float, ok: bool) -> ProbeSample:
        return ProbeSample(at, "healthy", ok, "")

    streak = [s(0, True), s(1, False), s(2, False), s(3, False), s(4, False)]
    assert probe_failing_for(streak, "healthy", 3, now=4.5)
    assert not probe_failing_for(streak, "healthy", 5, now=4.5)
    assert not probe_failing_for([*streak, s(5, True)], "healthy", 3, now=5.5)
    assert not probe_failing_for(streak, "other", 1, now=4.5)
    flapping = [s(t, t % 2 == 0) for t in range(10)]
    assert not probe_failing_for(flapping, "healthy", 2, now=9.5)


def test_a_probe_without_expect_json_accepts_a_plain_text_body():
    assert json_matches({}, None) and json_matches({}, "ok\n")
    assert json_matches({"status": "ok"}, {"status": "ok", "breaker": "closed"})
    assert not json_matches({"status": "ok"}, None)
    assert not json_matches({"status": "ok"}, {"status": "degraded"})


# -- reports


def test_junit_has_one_case_per_scenario_with_failures_errors_and_skips():
    doc = suite_doc(["passed", "failed", "error", "skipped"])
    journal = copy.deepcopy(JOURNAL)
    root = build_junit(doc, [None, journal, None, None])
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["s0", "s1", "s2", "s3"]
    failure = cases["s1"].find("failure")
    assert failure is not None and failure.get("message") == "because failed"
    assert "fault 0: fails fast: p95 2500 ms" in failure.text
    assert "baseline" not in failure.text  # only the checks that failed
    assert cases["s2"].find("error") is not None and cases["s3"].find("skipped") is not None
    assert cases["s0"].find("failure") is None
    # the Jenkins xunit schema (junit-10.xsd) allows only these in a test case
    allowed = {"skipped", "error", "failure", "system-out", "system-err"}
    assert all({child.tag for child in case} <= allowed for case in cases.values())
    assert "run_id: r1" in cases["s1"].find("system-out").text
    ET.fromstring(ET.tostring(root))  # well-formed


def test_junit_validates_against_the_jenkins_xunit_schema():
    """Both revisions of junit-10.xsd (Jenkins xunit plugin), on a suite with every
    kind of result and text that needs escaping."""
    import xmlschema

    doc = suite_doc(["passed", "failed", "error", "skipped"])
    doc["runs"][1]["reason"] = 'a <b> & "c" \x1b[31m'
    root = build_junit(doc, [None, copy.deepcopy(JOURNAL), None, None])
    for xsd in published_schemas("junit-10-*.xsd"):
        xmlschema.XMLSchema(str(xsd)).validate(ET.tostring(root).decode())
    failure = root.find(".//testcase[@name='s1']/failure")
    assert failure.get("message") == 'a <b> & "c" \ufffd[31m'  # kept, but parseable


def test_the_html_report_is_self_contained_shades_faults_and_escapes_input():
    html = render_run_html(JOURNAL)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    for forbidden in ("http://", "https://", "<link", "<script", "src="):
        assert forbidden not in html, forbidden  # nothing loaded from anywhere
    assert html.count('class="fault-window"') == 3  # one window in each of the 3 charts
    for text in ("FAILED", "1 of 2 checks failed", "circuit-open", "abc", "http_503",
                 "critical", "rising", "1.5 s", "balanced"):
        assert text in html, text


def test_the_html_shows_actual_fault_windows_cut_offs_not_sent_and_miss_details():
    """Applied at 5.2 s (scheduled 4 s), p95 at the fleet's deadline, one second in
    which nothing was sent, a miss with its code and message, and a run whose early
    warnings were never evaluated."""
    doc = copy.deepcopy(JOURNAL)
    doc["deadline_ms"] = 2000.0
    doc["faults"][0].update({"applied": 5.2, "reverted": 8.4, "p95_ms": 10000.0})
    doc["timeline"][6] = {"t": 6, "ok": 0, "rejected": 0, "error": 0, "timeout": 0,
                          "p95_ms": None}
    del doc["warnings"]
    html = render_run_html(doc)
    for text in ("5.2s \u2013 8.4s", "scheduled 4.0s \u2013 8.0s", "≥ deadline (timeouts)", "E_ODD",
                 "the odd failure", "502", "not evaluated"):
        assert text in html, text
    assert "none at the end" not in html
    shade = re.search(r'class="fault-window" x="([\d.]+)" y="\d+" width="([\d.]+)"', html)
    assert shade is not None
    x0, width = float(shade.group(1)), float(shade.group(2))
    plot = (WIDTH - PAD_L - 6) / 12
    assert x0 == pytest.approx(PAD_L + plot * 5.2, abs=0.2)
    assert width == pytest.approx(plot * 3.2, abs=0.2)
    (errors_chart,) = [svg for title, svg in charts(doc) if title.startswith("Error rate")]
    points = re.search(r'points="([^"]*)"', errors_chart).group(1).split()
    assert len(points) == 11  # the not-sent second is a gap, never a 0 % point


def test_the_terminal_report_marks_not_sent_seconds_and_actual_windows():
    doc = copy.deepcopy(JOURNAL)
    doc["faults"][0].update({"applied": 5.2, "reverted": 8.4})
    doc["timeline"][6] = {"t": 6, "ok": 0, "rejected": 0, "error": 0, "timeout": 0,
                          "p95_ms": None}
    console = Console(record=True, width=200)
    render(doc, console)
    out = console.export_text()
    assert "5.2s - 8.4s" in out and "error rate 30.0% (errors and timeouts / sent)" in out
    errors_line = next(line for line in out.splitlines() if "  errors " in line)
    faults_line = next(line for line in out.splitlines() if "  faults " in line)
    assert "·" in errors_line and faults_line.split("faults ")[1].startswith("     0000")


def test_the_suite_html_lists_every_scenario_and_embeds_the_runs():
    doc = suite_doc(["passed", "failed", "skipped"])
    html = render_suite_html(doc, [None, JOURNAL, None])
    assert html.count('class="run"') == 1 and 'id="run-r1"' in html
    for name in ("s0", "s1", "s2", "because skipped", "fault 0: fails fast"):
        assert name in html


# -- beat


def test_crontab_slots_are_the_scheduled_minute_and_interval_slots_follow_the_last_run():
    now = datetime(2026, 11, 22, 2, 0, 41, tzinfo=UTC).timestamp()
    assert slot_of(crontab(minute="0", hour="2"), None, now) == "2026-11-22T02:00Z"
    last = datetime(2026, 11, 22, 2, 0, 40, tzinfo=UTC)
    assert slot_of(5.0, last, now) == slot_of(5.0, last, now + 3)
    assert slot_of(5.0, last, now) != slot_of(5.0, datetime(2026, 11, 22, 2, 0, 45,
                                                            tzinfo=UTC), now)


def test_the_nightly_entry_follows_settings_and_a_bad_cron_is_named():
    schedule = build_beat_schedule(Settings(nightly_cron="30 3 * * 1-5", nightly_suite="smoke"))
    nightly = schedule["nightly-suite"]
    assert nightly["kwargs"]["suite"] == "smoke" and nightly["options"]["queue"] == "control"
    assert nightly["schedule"] == parse_cron("30 3 * * 1-5")
    assert "nightly-suite" not in build_beat_schedule(Settings(nightly_cron=""))
    with pytest.raises(ConfigError, match="5 fields"):
        parse_cron("0 2 * *")
    with pytest.raises(ConfigError, match="nightly_cron"):
        parse_cron("99 2 * * *")


def test_malformed_inputs_are_listed_by_field_with_inputs_to_send_again():
    from chaosfleet.runner.malformed import by_field, coverage_warning

    counts = {"comment.body": {"crashed": 3, "rejected": 2}, "comment.score": {"accepted": 4},
              "comment.author": {"rejected": 5}}
    crashes = [{"field": "comment.body", "detail": "comment.body: NUL, ESC, CR, LF",
                "status": "http_500", "minimised": True,
                "reproducer": '{"comment": {"body": "\\u0000"}}'}]
    accepted = {"comment.score": [{"detail": "comment.score: 2147483648",
                                   "reproducer": '{"comment": {"score": 2147483648}}'}]}
    rows = by_field(counts, crashes, accepted)
    assert [r["field"] for r in rows] == ["comment.body", "comment.score"]  # worst first
    assert rows[0]["crashed"] == crashes and rows[1]["accepted"] == accepted["comment.score"]
    assert coverage_warning(counts) is None
    assert "hit one field, comment" in coverage_warning({"comment": {"rejected": 12}})
    assert coverage_warning({"comment": {"rejected": 3}}) is None  # too few to say

    doc = copy.deepcopy(JOURNAL)
    doc["malformed"] = {"totals": {"crashed": 3, "accepted": 4, "rejected": 7},
                        "fields": rows}
    html = render_run_html(doc)
    for text in ("Malformed inputs", "comment.body", "crashed 3", "minimised",
                 "comment.score", "accepted 4", "2147483648"):
        assert text in html, text
    console = Console(record=True, width=200)
    render(doc, console)
    out = console.export_text()
    assert "malformed input at comment.body: crashed 3, rejected 2" in out
    assert "accepted comment.score: 2147483648" in out

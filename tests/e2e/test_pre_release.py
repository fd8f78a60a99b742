"""The pre-release suite as a release pipeline runs it: `chaosfleet suite pre-release
--junit --html` exits 0 against the healthy reference target, and 1 with its circuit
breaker off, naming the failing scenario in JUnit (with `--fail-fast`: the rest are
skipped, which keeps this test short). The built-in scenarios' healthy-target
assertions read the healthy suite's journals (each scenario runs once), and the
HTML report is checked in a real headless Chromium."""

from __future__ import annotations

import re
import socket
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import target_sessions, toxics_seen_independently
from tests.e2e.conftest import SuiteRun, assert_catalogued, assert_recovery_recorded
from tests.e2e.test_fault_families import DB_MODES, assert_nothing_left, check, failed_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]



def healthy(pre_release) -> SuiteRun:
    return pre_release("")


def breaker_off(pre_release) -> SuiteRun:
    return pre_release("breaker", "--fail-fast")


def passed(suite: SuiteRun, scenario: str) -> dict[str, Any]:
    journal = suite.journal(scenario)
    assert journal["verdict"] == "passed", journal["reason"]
    assert journal["recording"]["dropped"] == 0 and journal["recording"]["pending"] == 0
    return journal


# -- the gate


def test_pre_release_passes_against_the_healthy_target(pre_release):
    suite = healthy(pre_release)
    assert suite.exit_code == 0, suite.output[-3000:]
    assert suite.doc["verdict"] == "passed"
    assert [r["scenario"] for r in suite.doc["runs"]] == suite.doc["suite"]["scenarios"]
    assert all(r["verdict"] == "passed" for r in suite.doc["runs"])
    cases = ET.parse(suite.junit).getroot().findall(".//testcase")
    assert [c.get("name") for c in cases] == suite.doc["suite"]["scenarios"]
    assert all(list(c.iter("failure")) == [] and list(c.iter("error")) == [] for c in cases)
    # through a pipe (as in CI), each scenario's progress came as plain lines
    for i, name in enumerate(suite.doc["suite"]["scenarios"], 1):
        assert re.search(rf"\[{i}/{len(cases)}\] {name}: phase traffic", suite.output), name
    print(f"pre-release suite wall time (healthy): {suite.wall_s:.0f}s")


def test_pre_release_fails_with_the_breaker_off_and_junit_names_the_failure(pre_release):
    suite = breaker_off(pre_release)
    assert suite.exit_code == 1, suite.output[-3000:]
    assert suite.doc["verdict"] == "failed"
    root = ET.parse(suite.junit).getroot()
    (testsuite,) = root.findall("testsuite")
    cases = testsuite.findall("testcase")
    first, rest = cases[0], cases[1:]
    assert first.get("name") == "db-latency"  # the first scenario needs the breaker
    failure = first.find("failure")
    assert failure is not None and "fault 0: probe breaker_open seen" in failure.text
    # --fail-fast: nothing else ran, and JUnit says so
    assert rest and all(c.find("skipped") is not None for c in rest)
    assert (testsuite.get("failures"), testsuite.get("skipped")) == ("1", str(len(rest)))
    assert [r["verdict"] for r in suite.doc["runs"]] == ["failed"] + ["skipped"] * len(rest)
    print(f"pre-release suite wall time (breaker off, --fail-fast): {suite.wall_s:.0f}s")


# -- each scenario of the suite (journals of the two runs above)


def test_db_latency_passes_and_catalogues_its_failures(pre_release):
    journal = passed(healthy(pre_release), "db-latency")
    totals = journal["totals"]
    assert totals["ok"] > 1000 and totals["timeout"] == 0
    ledger = journal["ledger"]  # the account agrees with the live stats; nothing lost
    assert ledger == {"ok": totals["ok"], "rejected": totals["rejected"],
                      "dead_lettered": totals["error"] + totals["timeout"], "skipped": 0,
                      "lost": 0}
    for fault in journal["faults"]:
        assert fault["applied_at"] is not None and fault["reverted_by"] == "faults worker"
        assert fault["error_rate"] > 0.5  # the spike: the fault really hit the target
        assert fault["time_to_recover_s"] is not None
        assert fault["time_to_recover_s"] <= 10
    baseline = [s for s in journal["timeline"] if 1 <= s["t"] < 8]
    assert all(s["error"] == 0 for s in baseline)
    assert toxics_seen_independently("reference-db") == []
    rows = assert_catalogued(journal, {"circuit-open", "dependency-timeout"},
                             {"db-pool-exhausted", "connection-reset", "db-unavailable",
                              "load-shed"})  # telemetry events may be shed while slow
    failed = [r for r in rows if r["error_code"] != "load_shed"]  # shed is still `ok`
    assert sum(r["occurrences"] for r in failed) == ledger["dead_lettered"]
    assert_recovery_recorded(rows, recovered=True)
    ttrs = {r["time_to_recover_s"] for r in rows if r["recovery_attempted"]}
    assert ttrs <= {f["time_to_recover_s"] for f in journal["faults"]}
    assert journal["dead_letters"]["total"] == ledger["dead_lettered"]


def test_db_latency_fails_when_the_circuit_breaker_is_off(pre_release):
    journal = breaker_off(pre_release).journal("db-latency")
    assert journal["verdict"] == "failed"
    failed = failed_checks(journal)
    assert "fault 0: probe breaker_open seen" in failed
    assert "fault 0: fails fast" in failed
    assert toxics_seen_independently("reference-db") == []


def test_dependency_outage_degrades_without_data_loss(pre_release):
    journal = passed(healthy(pre_release), "dependency-outage")
    assert journal["faults"][0]["error_rate"] > 0.5
    assert journal["replay"]["replayed"] > 0
    assert journal["replay"]["ok"] == journal["replay"]["replayed"]
    assert journal["effects"]["keys"] == journal["ledger"]["ok"] + journal["replay"]["ok"]
    assert journal["effects"]["acknowledged_lost"] == 0
    assert check(journal, "no acknowledged write lost")["passed"]
    backoff = check(journal, "degraded answers say when to retry")
    assert backoff["passed"] and journal["backoff"]["503"]["with"] > 20, backoff
    assert_nothing_left(journal)
    rows = assert_catalogued(journal, {"db-unavailable", "circuit-open"}, DB_MODES)
    assert_recovery_recorded(rows, recovered=True)



def test_transient_db_errors_are_absorbed_by_the_targets_retries(pre_release):
    journal = passed(healthy(pre_release), "transient-db-errors")
    absorbed = check(journal, "fault 0: errors absorbed")
    assert absorbed["passed"] and journal["faults"][0]["error_rate"] <= 0.03, absorbed
    assert_nothing_left(journal)


def test_pool_exhaustion_fails_fast_recovers_and_leaks_nothing(pre_release):
    journal = passed(healthy(pre_release), "db-pool-exhaustion")
    (measured,) = journal["fault_measurements"]
    assert measured["held"] >= 30  # the role's slots really were taken
    assert journal["faults"][0]["error_rate"] > 0.5
    assert target_sessions("chaosfleet-%") == 0
    assert target_sessions("reftarget") <= 5 * 8  # at most a full pool per started target
    rows = assert_catalogued(journal, {"db-pool-exhausted", "circuit-open"}, DB_MODES)
    assert_recovery_recorded(rows, recovered=True)



def test_malformed_inputs_are_all_rejected_naming_the_field(pre_release):
    journal = passed(healthy(pre_release), "malformed-inputs")
    table = journal["malformed"]["by_mutation"]
    assert len(table) >= 12  # nearly every mutation was drawn in one run
    assert all(set(row) == {"rejected"} for row in table.values()), table
    assert check(journal, "no partial writes from malformed inputs")["passed"]
    assert "crashes" not in journal["malformed"]
    rows = assert_catalogued(journal, {"malformed-input-rejected"})
    assert len(rows) == sum(row["rejected"] for row in table.values())
    assert all(r["input_hash"] and r["context"]["mutation"] for r in rows)


def test_halt_signal_storm_is_capped_by_the_target(pre_release):
    journal = passed(healthy(pre_release), "halt-signal-storm")
    (measured,) = journal["fault_measurements"]
    assert measured["limited"] > 50 and measured["accepted"] <= 10
    (row,) = assert_catalogued(journal, {"halt-storm-rate-limited"})
    assert row["occurrences"] == measured["limited"]


def test_load_shedding_sheds_telemetry_only(pre_release):
    journal = passed(healthy(pre_release), "load-shedding")
    rows = assert_catalogued(journal, {"load-shed"}, DB_MODES)
    shed = [r for r in rows if r["mode_id"] == "load-shed"]
    assert len(shed) > 20 and all(r["error_code"] == "load_shed" for r in shed)
    assert journal["ledger"]["lost"] == 0


def test_worker_halt_storm_loses_nothing_and_duplicates_nothing(pre_release):
    journal = passed(healthy(pre_release), "worker-halt-storm")
    (measured,) = journal["fault_measurements"]
    assert measured["signals"] >= 4
    # reached through the traffic worker's own control command, named by host
    assert measured["hosts"] == {socket.gethostname(): measured["signals"]}
    assert 1 <= measured["processes"] <= measured["signals"]
    assert journal["ledger"]["lost"] == 0
    assert journal["effects"]["duplicates"] == 0
    assert journal["effects"]["keys"] == journal["ledger"]["ok"]
    assert_catalogued(journal, set(), DB_MODES)


# -- the HTML report, as a person sees it (headless Chromium from Debian packages)

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    import os

    from tests.conftest import IN_CI

    if not os.path.exists(CHROMIUM):
        reason = "needs Chromium (apt-get install chromium; scripts/browser.sh)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


def test_the_html_report_shows_the_verdict_and_why_in_a_real_browser(pre_release, browser,
                                                                     tmp_path):
    suite = breaker_off(pre_release)
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    page.goto(suite.html.resolve().as_uri())
    # verdict up top, in the first screenful
    badge = page.locator("h1 .verdict")
    assert badge.inner_text() == "FAILED" and badge.bounding_box()["y"] < 200
    assert page.locator("p.reason").first.is_visible()
    rows = page.locator("table.scenarios tr")
    assert rows.count() == 1 + len(suite.doc["runs"])
    failing = page.locator("table.scenarios tr", has_text="db-latency")
    assert failing.locator(".verdict").inner_text() == "failed"
    assert "breaker_open" in failing.inner_text()  # the failing scenario, and why
    skipped = page.locator("table.scenarios .verdict", has_text="skipped")
    assert skipped.count() == len(suite.doc["runs"]) - 1
    # every run: three charts with its fault windows shaded, and the sections people need
    ran = [r for r in suite.doc["runs"] if r["journal"]]
    sections = page.locator("section.run")
    assert sections.count() == len(ran) == 1
    for i in range(sections.count()):
        section = sections.nth(i)
        assert section.locator("svg.chart").count() == 3
        faults = len(suite.journal(ran[i]["scenario"])["faults"])
        assert section.locator("rect.fault-window").count() == 3 * faults
        for heading in ("Faults and recovery", "Checks", "Dead letters", "Failure catalogue",
                        "Early warnings"):
            assert section.get_by_role("heading", name=heading).is_visible()
        assert section.locator(".card.ledger").is_visible()
    first = sections.first
    first.scroll_into_view_if_needed()
    assert first.locator("rect.fault-window").first.is_visible()
    assert first.locator("table.faults").get_by_text("time to recover").is_visible()
    page.screenshot(path=str(suite.html.with_suffix(".png")), full_page=False)
    healthy_suite = healthy(pre_release)
    healthy_page = browser.new_page()
    healthy_page.goto(healthy_suite.html.resolve().as_uri())
    assert healthy_page.locator("h1 .verdict").inner_text() == "PASSED"
    assert healthy_page.locator("table.scenarios .verdict", has_text="passed").count() == \
        len(healthy_suite.doc["runs"])
    assert healthy_page.locator("section.run").count() == len(healthy_suite.doc["runs"])

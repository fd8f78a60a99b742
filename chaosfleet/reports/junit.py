"""JUnit XML for CI systems: one test case per scenario, failures with the reason.

Built from journals only, so a suite's XML can be regenerated from its reports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from chaosfleet.reports import rates

SKIPPED = "skipped"
# characters XML 1.0 cannot hold at all (a target's error text may carry them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    """Text a CI parser accepts: each character XML forbids shown as U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _clean(root: ET.Element) -> ET.Element:
    for element in root.iter():
        if element.text:
            element.text = _xml_text(element.text)
        for key, value in element.attrib.items():
            element.set(key, _xml_text(value))
    return root


def _failed_checks(journal: dict[str, Any] | None) -> str:
    if not journal:
        return ""
    return "\n".join(f"✗ {c['name']}: {c['detail']}" for c in journal.get("checks", [])
                     if not c["passed"])


def _case_lines(run: dict[str, Any], journal: dict[str, Any] | None) -> list[str]:
    """The run behind a case: its id, journal, and the error rate as every report
    computes it (chaosfleet/reports/rates.py)."""
    lines = [f"run_id: {run['run_id']}"]
    if run.get("journal"):
        lines.append(f"journal: {run['journal']}")
    if journal and journal.get("totals"):
        totals = journal["totals"]
        lines.append("error rate (errors and timeouts / sent): "
                     + rates.format_rate(rates.error_rate(totals), 1))
        lines.append("rejected (4xx) / sent: "
                     + rates.format_rate(rates.rejected_rate(totals), 1))
    return lines


def build_junit(suite_doc: dict[str, Any], journals: list[dict[str, Any] | None]) -> ET.Element:
    """`suite_doc` is a suite journal; `journals` its runs' journals, in order."""
    name = suite_doc["suite"]["name"]
    runs = suite_doc["runs"]
    counts = {v: sum(r["verdict"] == v for r in runs)
              for v in ("failed", "aborted", "error", SKIPPED)}
    root = ET.Element("testsuites", name="chaosfleet")
    suite = ET.SubElement(root, "testsuite", {
        "name": name, "tests": str(len(runs)),
        "failures": str(counts["failed"] + counts["aborted"]),
        "errors": str(counts["error"]), "skipped": str(counts[SKIPPED]),
        "time": f"{suite_doc['wall_s']:.1f}", "id": suite_doc["suite_id"],
    })
    for run, journal in zip(runs, journals, strict=True):
        case = ET.SubElement(suite, "testcase", {
            "classname": f"chaosfleet.{name}", "name": run["scenario"],
            "time": f"{run['wall_s']:.1f}"})
        verdict, reason = run["verdict"], run["reason"]
        if verdict in ("failed", "aborted"):
            ET.SubElement(case, "failure", message=reason, type=verdict).text = (
                _failed_checks(journal) or reason)
        elif verdict == "error":
            ET.SubElement(case, "error", message=reason, type="harness-error").text = reason
        elif verdict == SKIPPED:
            ET.SubElement(case, "skipped", message=reason)
        if run.get("run_id"):  # in system-out: the Jenkins xunit schema has no testcase properties
            ET.SubElement(case, "system-out").text = "\n".join(_case_lines(run, journal))
    return _clean(root)


def write_junit(path: Path, suite_doc: dict[str, Any],
                journals: list[dict[str, Any] | None]) -> Path:
    tree = ET.ElementTree(build_junit(suite_doc, journals))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path

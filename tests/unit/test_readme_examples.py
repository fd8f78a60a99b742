"""The README's "Bring your own system" examples are real: the fleet config and the
journey scenario it shows validate together through `chaosfleet validate`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_example(kind: str) -> str:
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- readme-example: {kind} -->\n```yaml\n(.*?)```", text, re.S)
    assert found, f"README has no {kind} example"
    return found.group(1)


def test_the_readme_config_and_journey_scenario_validate(tmp_path):
    config = tmp_path / "fleet.yaml"
    config.write_text(readme_example("fleet"))
    scenario = tmp_path / "blog-db-outage.yaml"
    scenario.write_text(readme_example("scenario"))
    cli = str(Path(sys.executable).with_name("chaosfleet"))
    done = subprocess.run([cli, "validate", str(scenario)], capture_output=True, text=True,
                          env={**os.environ, "CHAOSFLEET_CONFIG_PATH": str(config)},
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok " in done.stdout

    broken = scenario.read_text().replace("{article.slug}", "{artcle.slug}")
    config.write_text(config.read_text().replace("{article.slug}", "{artcle.slug}"))
    done = subprocess.run([cli, "validate", str(scenario)], capture_output=True, text=True,
                          env={**os.environ, "CHAOSFLEET_CONFIG_PATH": str(config)},
                          timeout=60)
    assert broken and done.returncode != 0
    assert "no earlier step captures 'artcle'" in done.stdout + done.stderr

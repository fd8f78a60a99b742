"""Run Locust headless from its own virtualenv (bench/.venv-locust, created on first
use with a pinned Locust), and read its CSV summary."""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOCUST = "locust==2.47.0"
VENV = Path(__file__).parent / ".venv-locust"


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int


def ensure_locust() -> Path:
    binary = VENV / "bin" / "locust"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", LOCUST], check=True)
    return binary


def run_locust(url: str, processes: int, users: int, seconds: int) -> LoadResult:
    binary = ensure_locust()
    with tempfile.TemporaryDirectory(prefix="bench-locust-") as folder:
        prefix = Path(folder) / "out"
        cmd = [str(binary), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
               "--host", url, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
               "--csv", str(prefix), "--only-summary", "--stop-timeout", "2",
               "--loglevel", "WARNING"]
        if processes > 1:
            cmd += ["--processes", str(processes)]
        subprocess.run(cmd, check=False, capture_output=True, timeout=seconds + 60)
        with open(f"{prefix}_stats.csv", newline="") as fh:
            rows = {r["Name"]: r for r in csv.DictReader(fh)}
    total = rows["Aggregated"]
    return LoadResult(rps=float(total["Requests/s"]), p50_ms=float(total["50%"]),
                      p99_ms=float(total["99%"]), requests=int(total["Request Count"]),
                      failures=int(total["Failure Count"]))

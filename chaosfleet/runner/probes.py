"""Steady-state probes, and a monitor that samples them through the whole run."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from chaosfleet.core import clock
from chaosfleet.core.config import HttpProbe, HttpTarget, PythonTarget
from chaosfleet.targets import python as python_kind
from chaosfleet.targets.http import HttpClient


@dataclass(frozen=True)
class ProbeSample:
    at: float  # when the answer came: a probe sent during a fault may answer after it
    probe: str
    ok: bool
    detail: str


def json_matches(expected: dict[str, Any], body: Any) -> bool:
    """A probe without `expect_json` accepts any body (plain text included)."""
    if not expected:
        return True
    return isinstance(body, dict) and all(body.get(k) == v for k, v in expected.items())


def check_http_probe(target: HttpTarget, probe: HttpProbe, timeout: float) -> tuple[bool, str]:
    try:
        with HttpClient(target, timeout=timeout) as client:
            response = client.get(probe.path, auth=probe.auth, method=probe.method)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != probe.expect_status:
        return False, f"status {response.status_code}"
    if not json_matches(probe.expect_json, body):
        return False, f"status {response.status_code}, body does not match expect_json"
    return True, f"status {response.status_code}"


def check_probe(target: HttpTarget | PythonTarget, name: str) -> ProbeSample:
    if isinstance(target, HttpTarget):
        ok, detail = check_http_probe(target, target.probes[name], target.timeout)
    else:
        ok, detail = python_kind.check_probe(target.probes[name])
    return ProbeSample(at=clock.now(), probe=name, ok=ok, detail=detail)


class ProbeMonitor:
    """Samples every named probe every `period` seconds in a background thread, so
    a slow probe never delays the dispatch of traffic or faults."""

    def __init__(self, target: HttpTarget | PythonTarget, probes: list[str], period: float = 0.5):
        self.target = target
        self.probes = probes
        self.period = period
        self.samples: list[ProbeSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probe-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.target.timeout + 2)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for name in self.probes:
                self.samples.append(check_probe(self.target, name))
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))


def probe_failing_for(samples: list[ProbeSample], probe: str, seconds: float,
                      now: float) -> bool:
    """True when every sample of `probe` in the last `seconds` failed, and the
    failing streak is at least that long (one failed sample is not a hard failure)."""
    own = [s for s in samples if s.probe == probe]
    if not own or own[-1].ok:
        return False
    streak_start = own[-1].at
    for sample in reversed(own):
        if sample.ok:
            break
        streak_start = sample.at
    return now - streak_start >= seconds

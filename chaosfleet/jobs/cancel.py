"""Cancel a run or a suite: one code path for `chaosfleet cancel`, Ctrl-C and the API.

A cancel only sets the run's stop key; the run's controller sees it within a second,
reverts the run's faults and ends the run `aborted`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from chaosfleet.core.errors import ConfigError, HarnessError
from chaosfleet.jobs.suites import SuiteState
from chaosfleet.jobs.trigger import STOP_WITHIN
from chaosfleet.runner.state import RunState


class NothingToCancel(ConfigError):
    """No run or suite of that id is known to the fleet (its state expired, or a typo)."""


class AlreadyFinished(ConfigError):
    """The run or suite has a verdict already; there is nothing left to stop."""


@dataclass(frozen=True)
class Cancelled:
    kind: str  # "run" or "suite"
    id: str
    phase: str  # its phase when the cancel was requested
    runs: tuple[str, ...]  # the run ids asked to stop


def is_suite_id(ident: str) -> bool:
    return ident.startswith("suite-")


def _active(kind: str, ident: str, state: dict[str, str]) -> dict[str, str]:
    """The live state of a run or suite that can still be cancelled."""
    if not state:
        raise NothingToCancel(f"no active {kind} {ident!r} (its state is kept for 7 days)")
    if state.get("phase") == "done":
        raise AlreadyFinished(f"{kind} {ident} already finished: {state.get('verdict')}")
    return state


def cancel(client: redis.Redis, prefix: str, ident: str, reason: str) -> Cancelled:
    """Ask the run (or the suite and its current run) `ident` to stop."""
    if is_suite_id(ident):
        suite = SuiteState(client, prefix, ident)
        current = _active("suite", ident, suite.get())
        suite.request_stop(reason)
        runs = tuple(r for r in [current.get("current_run", "")] if r)
    else:
        current = _active("run", ident, RunState(client, prefix, ident).progress())
        runs = (ident,)
    for run_id in runs:
        RunState(client, prefix, run_id).request_stop(reason)
    return Cancelled("suite" if is_suite_id(ident) else "run", ident,
                     current.get("phase", "queued"), runs)

def wait_until_ended(client: redis.Redis, prefix: str, done: Cancelled,
                     within: float = STOP_WITHIN) -> tuple[str, str]:
    """Poll until the cancelled run or suite has a verdict: (verdict, reason).
    Raises HarnessError past `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = (SuiteState(client, prefix, done.id).get() if done.kind == "suite"
                 else RunState(client, prefix, done.id).progress())
        if state.get("phase") == "done":
            return state.get("verdict", "?"), state.get("reason", "")
        time.sleep(0.5)
    raise HarnessError(f"{done.kind} {done.id} did not end within {within:g}s of the cancel "
                       "(is its control worker alive?); the janitor reverts its faults when "
                       "their leases expire")

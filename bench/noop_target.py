"""Trivial in-process targets for benchmarks: they measure the fleet, not a service."""

import time
from typing import Any


def accept(payload: dict[str, Any], *, operation_id: str) -> None:
    return None


def work_20us(payload: dict[str, Any], *, operation_id: str) -> None:
    """About 20 µs of the caller's CPU (a spin, so the time is the same on any load)."""
    until = time.perf_counter() + 20e-6
    while time.perf_counter() < until:
        pass

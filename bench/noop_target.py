"""A trivial in-process target for benchmarks: it measures the fleet, not a service."""

from typing import Any


def accept(payload: dict[str, Any], *, operation_id: str) -> None:
    return None

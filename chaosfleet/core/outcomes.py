"""How one operation ended: the four outcomes every target, ledger row and check shares."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    REJECTED = "rejected"  # refused cleanly by the target (4xx / declared exception)
    ERROR = "error"  # 5xx, connection failure, unexpected exception
    TIMEOUT = "timeout"  # no answer within the fleet's deadline

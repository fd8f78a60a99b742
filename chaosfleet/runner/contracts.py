"""Run-wide checks of the contracts a target keeps whatever its dependencies do:
its degraded answers say when to retry, it answers within the budget it declares,
and it never acknowledges a write it did not make. Pure functions over what the
run counted; the controller gathers the counts."""

from __future__ import annotations

from typing import Any

from chaosfleet.runner.analysis import Check


def check_backoff(table: dict[int, dict[str, int]]) -> Check:
    """Every 429/503 carried a usable Retry-After (`table`: status -> with/without)."""
    total = sum(sum(row.values()) for row in table.values())
    without = sum(row.get("without", 0) for row in table.values())
    statuses = ", ".join(str(s) for s in table)
    return Check("degraded answers say when to retry", without == 0,
                 f"{total - without} of {total} {statuses} answers carried a usable "
                 "Retry-After" + (f"; {without} did not" if without else ""))


def check_budget(over: int, budget: float) -> Check:
    """No answer slower than the answer time the target promises."""
    return Check("answers within the target's budget", over == 0,
                 f"{over} answers slower than the declared {budget:g}s budget" if over else
                 f"every answer within the declared {budget:g}s budget")


def check_duplicates(effects: dict[str, int]) -> tuple[Check, int]:
    duplicates = effects["rows"] - effects["keys"]
    return Check("no duplicate effects", duplicates == 0,
                 f"{effects['rows']} effects for {effects['keys']} operations"
                 + (f": {duplicates} applied more than once" if duplicates else "")), duplicates


def check_acknowledged(acked: int, keys: int, operations: list[str]
                       ) -> tuple[Check, dict[str, Any]]:
    """Every ok answer of an effect operation left its effect. Keys of operations
    that failed but wrote anyway only add to `keys`, so a shortfall is a lower
    bound on the writes lost, never a guess."""
    lost = max(0, acked - keys)
    return Check("no acknowledged write lost", lost == 0,
                 f"{acked} writes acknowledged ({', '.join(operations)}), {keys} found on the "
                 "target" + (f": at least {lost} answered ok but never written" if lost else "")
                 ), {"acknowledged": acked, "acknowledged_lost": lost}

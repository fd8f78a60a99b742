"""The `python` target kind: the target's own code called in-process, by import
path (`module.path:callable`). Traffic slices (chaosfleet/traffic/drivers.py),
probes, the effects audit and dead-letter replay call it through here.

An operation is `fn(payload, operation_id=...)`; an exception whose class is in
the target's `rejects` is a clean rejection, any other an error. A probe is
`fn() -> bool`; the effects audit `fn(key_prefix) -> {"rows", "keys"}`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chaosfleet.core.config import PythonProbe, PythonTarget
from chaosfleet.core.outcomes import Outcome
from chaosfleet.targets.http import Reply


def import_callable(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path} is not callable")
    return obj


def call_operation(target: PythonTarget, operation: str, payload: Any, op_id: str) -> Reply:
    """Call one operation; its outcome as a Reply (never raises for the target's
    own failures)."""
    try:
        import_callable(target.operations[operation].call)(payload, operation_id=op_id)
    except Exception as exc:
        name = type(exc).__name__
        outcome = Outcome.REJECTED if name in target.rejects else Outcome.ERROR
        return Reply(outcome, name, name, str(exc)[:300])
    return Reply(Outcome.OK)


def check_probe(probe: PythonProbe) -> tuple[bool, str]:
    try:
        result = bool(import_callable(probe.call)())
    except Exception as exc:
        return False, type(exc).__name__
    return result, "true" if result else "false"


def count_effects(target: PythonTarget, key_prefix: str) -> Any:
    assert target.effects is not None
    return import_callable(target.effects)(key_prefix)

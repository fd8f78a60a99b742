"""Ask a target how many effects a run's operations left: duplicates mean an
operation was applied twice (a redelivery or a replay the target did not dedupe)."""

from __future__ import annotations

import httpx

from chaosfleet.config import HttpTarget, PythonTarget
from chaosfleet.errors import HarnessError
from chaosfleet.targets.http import HttpClient
from chaosfleet.traffic.drivers import import_callable


def count_effects(target: HttpTarget | PythonTarget, key_prefix: str) -> dict[str, int] | None:
    """`{"rows": n, "keys": k}`, or None when the target declares no audit."""
    if target.effects is None:
        return None
    try:
        if isinstance(target, PythonTarget):
            assert isinstance(target.effects, str)
            result = import_callable(target.effects)(key_prefix)
        else:
            assert not isinstance(target.effects, str)
            with HttpClient(target) as client:
                response = client.get(target.effects.path, params={"prefix": key_prefix})
            response.raise_for_status()
            result = response.json()
        return {"rows": int(result["rows"]), "keys": int(result["keys"])}
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        raise HarnessError(f"the target's effects audit failed: {type(exc).__name__}: {exc}"
                           ) from None

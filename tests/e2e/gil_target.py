"""A `python` target whose fifth call per process never returns and holds the GIL.

A catastrophic regex runs in C without releasing the GIL, so the worker's soft time
limit (a signal handled between bytecodes) cannot interrupt it: only the hard limit
(SIGKILL from the pool's parent) ends it, as with a wedged C extension in real code.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

BOMB_AT = 5
_calls = itertools.count(1)


def create_order(payload: dict[str, Any], *, operation_id: str) -> dict[str, Any]:
    if next(_calls) == BOMB_AT:
        re.match(r"(a+)+$", "a" * 64 + "!")  # 2**64 backtracking steps, GIL held
    return {"id": operation_id}


def is_healthy() -> bool:
    return True

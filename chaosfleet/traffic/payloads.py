"""Seeded operation mix and Faker payloads: one seed fixes them all (invariant 5)."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from faker import Faker

from scenarios.model import FakerField, OperationMix


def derive_seed(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class PayloadSource:
    """Yields (operation name, payload) for operation n of a slice, reproducibly."""

    def __init__(self, operations: list[OperationMix], seed: int, slice_index: int):
        self._ops = operations
        self._weights = [op.weight for op in operations]
        self._rng = random.Random(derive_seed(seed, slice_index, "mix"))
        # uniform draws from Faker's word lists: weighted draws recompute cumulative
        # weights over thousands of entries on every call (8x slower for `name`, the
        # hottest path of a Python-target slice; see bench/RESULTS.md)
        self._faker = Faker(use_weighting=False)
        self._faker.seed_instance(derive_seed(seed, slice_index, "faker"))

    def next(self) -> tuple[str, dict[str, Any]]:
        op = self._rng.choices(self._ops, weights=self._weights)[0]
        return op.name, {key: self._render(value) for key, value in op.payload.items()}

    def _render(self, value: Any) -> Any:
        if isinstance(value, FakerField):
            return getattr(self._faker, value.faker)(*value.args, **value.kwargs)
        return value


def input_hash(payload: Any) -> str:
    """Stable short hash of an input: stored and logged instead of the raw payload."""
    canonical = json.dumps(payload, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]

"""Seeded traffic units and their payloads: one seed fixes them all (invariant 5).

A unit is what the open-loop pacer starts: one operation of the mix, or one
journey instance (its steps in order). Payloads are rendered in two phases:

1. when the unit is planned (here): Faker fields and `{faker:...}`/`{unique}`
   expressions, from generators seeded by (seed, slice); the input hash is taken
   here, so it never depends on what a target answered or on a secret;
2. when the step is sent (`resolve`): references to captures and `payload`, and
   `{env:NAME}`. Until then such a string is `Pending`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faker import Faker

from chaosfleet.core.recipes import (
    Call,
    FakerField,
    Pending,
    Ref,
    escape,
    has_expressions,
    parse_template,
)

if TYPE_CHECKING:  # the models import this package's neighbours; only types are needed
    from scenarios.model import Journey, JourneyStep, OperationMix


def derive_seed(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class StepDraw:
    """One ledger operation of a unit, as planned."""

    operation: str
    payload: Any
    step: JourneyStep | None = None  # None: a single operation of the mix


@dataclass(frozen=True)
class Unit:
    name: str  # the operation, or the journey
    steps: tuple[StepDraw, ...]
    journey: bool = False


class PayloadSource:
    """Yields unit n of a slice, reproducibly: the same (seed, slice, n) always
    gives the same operation or journey, with the same payloads."""

    def __init__(self, operations: list[OperationMix], seed: int, slice_index: int,
                 journeys: list[Journey] | None = None, run_id: str = ""):
        self._ops = operations
        self._journeys = journeys or []
        choices = self._journeys or self._ops
        # the same draws as `choices(weights=...)`, without summing the weights per unit
        self._cum_weights = list(itertools.accumulate(c.weight for c in choices))
        self._rng = random.Random(derive_seed(seed, slice_index, "mix"))
        # uniform draws from Faker's word lists: weighted draws recompute cumulative
        # weights over thousands of entries on every call (8x slower for `name`, the
        # hottest path of a Python-target slice; see bench/RESULTS.md)
        self._faker = Faker(use_weighting=False)
        self._faker.seed_instance(derive_seed(seed, slice_index, "faker"))
        self._unique_base = f"{run_id}:{seed}:{slice_index}"
        self._n = -1
        self._unique: str | None = None  # unit n's `{unique}`, computed when first used

    def next(self) -> Unit:
        self._n += 1
        self._unique = None
        if self._journeys:
            journey = self._pick(self._journeys)
            steps = tuple(StepDraw(s.operation, self._render(s.payload), s)
                          for s in journey.steps)
            return Unit(journey.name, steps, journey=True)
        op = self._pick(self._ops)
        return Unit(op.name, (StepDraw(op.name, self._render(op.payload)),))

    def _pick(self, choices: list[Any]) -> Any:
        if len(choices) == 1:  # nothing to draw (the generator serves only this draw)
            return choices[0]
        return self._rng.choices(choices, cum_weights=self._cum_weights)[0]

    def unique(self) -> str:
        """`{unique}`: a short id, distinct per (run, seed, slice, unit)."""
        if self._unique is None:
            raw = f"{self._unique_base}:{self._n}".encode()
            self._unique = hashlib.sha256(raw).hexdigest()[:12]
        return self._unique

    def _render(self, value: Any) -> Any:
        if isinstance(value, FakerField):
            return getattr(self._faker, value.faker)(*value.args, **value.kwargs)
        if isinstance(value, dict):
            return {k: self._render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v) for v in value]
        if isinstance(value, str) and has_expressions(value):
            return self._render_text(value)
        return value

    def _render_text(self, text: str) -> Any:
        parts = parse_template(text)
        first = parts[0] if len(parts) == 1 else None
        if isinstance(first, Call) and first.fn == "faker":
            return self._call(first)  # `{faker:pyint}` keeps its type
        waiting = any(isinstance(p, Ref) or (isinstance(p, Call) and p.fn == "env")
                      for p in parts)
        if not waiting:
            return "".join(p if isinstance(p, str) else str(self._call(p))
                           for p in parts if not isinstance(p, Ref))
        out = []
        for p in parts:
            if isinstance(p, str):
                out.append(escape(p))
            elif isinstance(p, Call) and p.fn != "env":
                out.append(escape(str(self._call(p))))
            else:
                out.append("{" + (str(p) if isinstance(p, Ref) else f"env:{p.args[0]}") + "}")
        return Pending("".join(out))

    def _call(self, call: Call) -> Any:
        if call.fn == "unique":
            return self.unique()
        name, *args = call.args
        return getattr(self._faker, name)(*args)


# json.dumps with these options, without building an encoder per call
_CANONICAL = json.JSONEncoder(sort_keys=True, default=repr, ensure_ascii=False)


def input_hash(payload: Any) -> str:
    """Stable short hash of an input: stored and logged instead of the raw payload."""
    canonical = _CANONICAL.encode(payload)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]

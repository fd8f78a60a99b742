"""Seeded traffic units and their payloads: one seed fixes them all (invariant 5).

A unit is what the open-loop pacer starts: one operation of the mix, or one
journey instance (its steps in order). Payloads are rendered in two phases:

1. when the unit is planned (here): Faker fields and `{faker:...}`/`{unique}`
   expressions, from generators seeded by (seed, slice); the input hash is taken
   here, so it never depends on what a target answered or on a secret. Faker
   values are pooled (`FakerPool`): a Faker call costs 5 to 10 µs, more than the
   rest of the fleet's work per operation;
2. when the step is sent (`resolve`): references to captures and `payload`, and
   `{env:NAME}`. Until then such a string is `Pending`.
"""

from __future__ import annotations

import copy
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


POOL_SIZE = 1024  # fresh Faker values per call and slice; later units reuse them
UNIT_POOL_SIZE = 4096  # fresh payloads per operation and slice; later units reuse them
NEVER_POOLED = frozenset({"uuid4", "md5", "sha1", "sha256", "password"})  # meant to differ


class FakerPool:
    """Faker values for one slice, cheap and still fixed by the seed: the first
    `POOL_SIZE` values of each distinct Faker call (provider and arguments) are
    Faker's own, in order; after that a value is one of those, picked by a seeded
    generator. So a long slice repeats names and SKUs (as real traffic does) but
    never uuids or hashes (`NEVER_POOLED`); `{unique}` is for values that must not
    repeat."""

    def __init__(self, faker_seed: int, seed: int):
        self._faker_seed = faker_seed
        self._faker_instance: Faker | None = None
        self._pick = random.Random(seed).random
        self._pools: dict[str, list[Any]] = {}
        self._keys: dict[int, tuple[object, str]] = {}  # id(call) -> (call, its key)

    @property
    def _faker(self) -> Faker:
        """Built when first drawn from (a Faker costs about 3 ms to build, more than a
        one-operation slice's other fixed costs, and a payload without Faker fields
        never needs it)."""
        if self._faker_instance is None:
            # uniform draws from Faker's word lists: weighted draws recompute cumulative
            # weights over thousands of entries on every call (8x slower for `name`)
            self._faker_instance = Faker(use_weighting=False)
            self._faker_instance.seed_instance(self._faker_seed)
        return self._faker_instance

    def draw(self, call: object, name: str, args: Any, kwargs: Any) -> Any:
        """The next value of this Faker call (a fresh one, or one of its pool)."""
        if name in NEVER_POOLED:
            return getattr(self._faker, name)(*args, **kwargs)
        known = self._keys.get(id(call))
        if known is None or known[0] is not call:
            known = (call, f"{name}|{args!r}|{kwargs!r}")  # by content: two equal calls
            self._keys[id(call)] = known                     # share one pool
        pool = self._pools.setdefault(known[1], [])
        if len(pool) < POOL_SIZE:
            value = getattr(self._faker, name)(*args, **kwargs)
            pool.append(value)
            return value
        value = pool[int(self._pick() * POOL_SIZE)]
        return copy.deepcopy(value) if isinstance(value, list | dict | set) else value


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
class StepDraw:
    """One ledger operation of a unit, as planned."""

    operation: str
    payload: Any
    input_hash: str
    step: JourneyStep | None = None  # None: a single operation of the mix


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
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
        self._pool = FakerPool(derive_seed(seed, slice_index, "faker"),
                               derive_seed(seed, slice_index, "pool"))
        self._unique_base = f"{run_id}:{seed}:{slice_index}"
        self._n = -1
        self._unique: str | None = None  # unit n's `{unique}`, computed when first used
        # payloads that may repeat (no `{unique}`, no never-pooled provider, nothing
        # read at send time), per operation of the mix, with their input hashes
        self._units: dict[int, list[tuple[Any, str, bool]]] = {}  # payload, hash, flat
        self._journey_units: dict[int, list[tuple[tuple[Any, str], ...]]] = {}  # per step
        self._pick_unit = random.Random(derive_seed(seed, slice_index, "units")).random
        self._repeatable = True

    def next(self) -> Unit:
        """Unit n+1: one operation of the mix (`next_operation`), or one journey."""
        if self._journeys:
            self._n += 1
            self._unique = None
            return self._next_journey(self._pick(self._journeys))
        name, payload, digest = self.next_operation()
        return Unit(name, (StepDraw(name, payload, digest),))

    def next_operation(self) -> tuple[str, Any, str]:
        """Unit n+1 of a mix without journeys: its operation, payload and input hash.
        Past `UNIT_POOL_SIZE` units of an operation whose payload may repeat, its
        payload (a copy: a target may change what it is given) and input hash are
        those of one of its first units, picked by a seeded generator: the payload
        and its hash cost about a microsecond instead of ten."""
        self._n += 1
        self._unique = None
        op = self._pick(self._ops)
        pool = self._units.get(id(op))
        if pool is not None and len(pool) >= UNIT_POOL_SIZE:
            payload, digest, flat = pool[int(self._pick_unit() * UNIT_POOL_SIZE)]
            return op.name, payload.copy() if flat else _copied(payload), digest
        self._repeatable = True
        draw = self._step(op.name, op.payload)
        if self._repeatable:
            payload = draw.payload
            flat = isinstance(payload, dict) and not any(
                isinstance(v, dict | list) for v in payload.values())
            self._units.setdefault(id(op), []).append((_copied(payload), draw.input_hash, flat))
        return op.name, draw.payload, draw.input_hash

    def _next_journey(self, journey: Journey) -> Unit:
        """A journey pools like an operation, as a whole: only when every step's
        payload may repeat (a step that reads a capture at send time never does)."""
        pool = self._journey_units.get(id(journey))
        if pool is not None and len(pool) >= UNIT_POOL_SIZE:
            drawn = pool[int(self._pick_unit() * UNIT_POOL_SIZE)]
            steps = tuple(StepDraw(s.operation, _copied(payload), digest, s)
                          for s, (payload, digest) in zip(journey.steps, drawn, strict=True))
            return Unit(journey.name, steps, journey=True)
        self._repeatable = True
        steps = tuple(self._step(s.operation, s.payload, s) for s in journey.steps)
        if self._repeatable:
            self._journey_units.setdefault(id(journey), []).append(
                tuple((_copied(d.payload), d.input_hash) for d in steps))
        return Unit(journey.name, steps, journey=True)

    def _step(self, operation: str, recipe: Any, step: JourneyStep | None = None) -> StepDraw:
        payload = self._render(recipe)
        return StepDraw(operation, payload, input_hash(payload), step)

    def _pick(self, choices: list[Any]) -> Any:
        if len(choices) == 1:  # nothing to draw (the generator serves only this draw)
            return choices[0]
        return self._rng.choices(choices, cum_weights=self._cum_weights)[0]

    def unique(self) -> str:
        """`{unique}`: a short id, distinct per (run, seed, slice, unit)."""
        self._repeatable = False
        if self._unique is None:
            raw = f"{self._unique_base}:{self._n}".encode()
            self._unique = hashlib.sha256(raw).hexdigest()[:12]
        return self._unique

    def _render(self, value: Any) -> Any:
        if isinstance(value, FakerField):
            self._repeatable &= value.faker not in NEVER_POOLED
            return self._pool.draw(value, value.faker, value.args, value.kwargs)
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
        if waiting:
            self._repeatable = False
        else:
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
        self._repeatable &= name not in NEVER_POOLED
        return self._pool.draw(call, name, args, {})


def _copied(value: Any) -> Any:
    """A copy of a payload's containers (its leaves are immutable or copied by Faker's
    pool): much cheaper than `copy.deepcopy` for the same result here."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


# json.dumps with these options, without building an encoder per call
_CANONICAL = json.JSONEncoder(sort_keys=True, default=repr, ensure_ascii=False)


def input_hash(payload: Any) -> str:
    """Stable short hash of an input: stored and logged instead of the raw payload."""
    canonical = _CANONICAL.encode(payload)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]

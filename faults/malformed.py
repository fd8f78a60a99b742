"""Malformed inputs: schema-aware mutation of the scenario's Faker payloads.

Nothing outside the fleet is changed, so apply and revert have nothing to do:
the traffic slices mutate the payloads of the operations the window covers.
Which operations are mutated, and how, is drawn from generators seeded with
(run seed, slice, operation index), so a run's malformed bytes are the same on
every run with that seed, on any machine.

Each mutation returns the exact bytes to send, the content type, what it did,
and the field it broke: a target that rejects it should name that field.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faults.base import FaultContext, FaultReport
from faults.specs import MUTATIONS, MalformedInputSpec

JSON = "application/json"
OVERSIZED = 2**17  # characters
NESTING = 100_000
INJECTIONS = (
    "'; DROP TABLE orders; --",
    "\" OR \"1\"=\"1",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "../../../../etc/passwd",
    "{{7*7}}",
)
BOUNDARIES = (0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1)
OVERFLOWS = ("18446744073709551616", "1" + "0" * 400, "1e400", "-1e400")
# mutations that need raw bytes on the wire: not possible for in-process targets
BYTE_LEVEL = frozenset({"invalid_utf8", "duplicate_key", "truncated_json", "wrong_content_type"})
# mutations that break the document rather than one field
BODY_LEVEL = frozenset({"invalid_utf8", "truncated_json", "wrong_content_type", "deep_nesting"})


@dataclass(frozen=True)
class Mutation:
    name: str  # one of MUTATIONS
    detail: str  # what it did, e.g. "quantity: int -> str"
    field: str | None  # the field a good rejection names; None for body-level breaks
    body: bytes
    content_type: str
    payload: Any  # the mutated document, for in-process targets (None if byte-level)

    @property
    def input_hash(self) -> str:
        return hashlib.sha256(self.body + self.content_type.encode()).hexdigest()[:16]


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=True).encode()


def _pick(rng: random.Random, payload: dict[str, Any], kinds: tuple[type, ...] | None = None
          ) -> str | None:
    keys = sorted(k for k, v in payload.items()
                  if kinds is None or (isinstance(v, kinds) and not isinstance(v, bool)))
    return rng.choice(keys) if keys else None


def _replace(payload: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**payload, key: value}


def _other_type(value: Any, rng: random.Random) -> Any:
    choices: list[Any] = ["12", 12345, 1.5, True, [1, 2], {"a": 1}]
    choices = [c for c in choices if type(c) is not type(value)]
    return rng.choice(choices)


def _field_mutation(name: str, key: str, value: Any, detail: str,
                    payload: dict[str, Any]) -> Mutation:
    doc = _replace(payload, key, value)
    return Mutation(name, detail, key, _dumps(doc), JSON, doc)


def mutate(payload: dict[str, Any], rng: random.Random, name: str) -> Mutation:
    """Apply mutation `name` to a copy of the payload. Deterministic in `rng`."""
    key = _pick(rng, payload) or "body"
    value = payload.get(key)
    match name:
        case "missing_field":
            doc = {k: v for k, v in payload.items() if k != key}
            return Mutation(name, f"{key} removed", key, _dumps(doc), JSON, doc)
        case "wrong_type":
            new = _other_type(value, rng)
            return _field_mutation(name, key, new, f"{key}: {type(value).__name__} -> "
                                   f"{type(new).__name__}", payload)
        case "null_field":
            return _field_mutation(name, key, None, f"{key}: null", payload)
        case "boundary_number":
            key = _pick(rng, payload, (int, float)) or key
            number = rng.choice(BOUNDARIES)
            return _field_mutation(name, key, number, f"{key}: {number}", payload)
        case "overflow_number":
            key = _pick(rng, payload, (int, float)) or key
            literal = rng.choice(OVERFLOWS)
            body = _dumps(_replace(payload, key, "\0marker\0")).replace(
                b'"\\u0000marker\\u0000"', literal.encode())
            return Mutation(name, f"{key}: {literal[:24]}{'...' if len(literal) > 24 else ''}",
                            key, body, JSON, json.loads(body))
        case "oversized_string":
            key = _pick(rng, payload, (str,)) or key
            return _field_mutation(name, key, "A" * OVERSIZED,
                                   f"{key}: {OVERSIZED} characters", payload)
        case "invalid_utf8":
            key = _pick(rng, payload, (str,)) or key
            body = _dumps(_replace(payload, key, "\0marker\0")).replace(
                b"\\u0000marker\\u0000", b"ok\xff\xfe\xc3(")
            return Mutation(name, f"{key}: invalid UTF-8 bytes", None, body, JSON, None)
        case "lone_surrogate":
            key = _pick(rng, payload, (str,)) or key
            return _field_mutation(name, key, f"{value}\ud800", f"{key}: lone surrogate U+D800",
                                   payload)
        case "control_chars":
            key = _pick(rng, payload, (str,)) or key
            return _field_mutation(name, key, f"{value}\x00\x1b[2J\r\n",
                                   f"{key}: NUL, ESC, CR, LF", payload)
        case "injection":
            key = _pick(rng, payload, (str,)) or key
            text = rng.choice(INJECTIONS)
            return _field_mutation(name, key, text, f"{key}: {text!r}", payload)
        case "deep_nesting":
            body = _dumps(_replace(payload, key, "\0marker\0")).replace(
                b'"\\u0000marker\\u0000"', b"[" * NESTING + b"]" * NESTING)
            return Mutation(name, f"{key}: arrays nested {NESTING} deep", None, body, JSON,
                            None)
        case "duplicate_key":
            other = _other_type(value, rng)
            body = _dumps(payload)[:-1] + b", " + _dumps({key: other})[1:]
            return Mutation(name, f"{key} given twice", key, body, JSON, None)
        case "truncated_json":
            full = _dumps(payload)
            cut = rng.randrange(1, max(2, len(full) - 1))
            return Mutation(name, f"cut at byte {cut} of {len(full)}", None, full[:cut], JSON,
                            None)
        case "wrong_content_type":
            ctype = rng.choice(["text/plain", "application/x-www-form-urlencoded",
                                "application/xml"])
            return Mutation(name, f"content-type {ctype}", None, _dumps(payload), ctype, None)
    raise ValueError(f"unknown mutation {name!r}; known: {', '.join(MUTATIONS)}")


def usable_mutations(spec: MalformedInputSpec, in_process: bool) -> list[str]:
    """The spec's mutations a target can receive: byte-level ones need a wire."""
    chosen = list(spec.mutations)
    if in_process:
        chosen = [m for m in chosen if m not in BYTE_LEVEL and m != "deep_nesting"]
    return chosen


def draw(seed: int, slice_index: int, n: int, spec: MalformedInputSpec, in_process: bool,
         payload: dict[str, Any], derive: Callable[..., int]) -> Mutation | None:
    """Whether operation n of a slice is mutated under `spec`, and how."""
    rng = random.Random(derive(seed, slice_index, n, "malformed"))
    if rng.random() >= spec.ratio:
        return None
    chosen = usable_mutations(spec, in_process)
    if not chosen:
        return None
    return mutate(payload, rng, rng.choice(chosen))


def names_field(mutation: Mutation, response_text: str) -> bool:
    """A good rejection of a field-level mutation names the field it broke."""
    return mutation.field is None or mutation.field in response_text


class MalformedInputFault:
    """The fault's side of malformed inputs: nothing to apply outside the fleet."""

    def __init__(self, spec: MalformedInputSpec, name: str):
        self.spec = spec
        self.name = name

    def validate(self, ctx: FaultContext) -> None:
        return None

    def apply(self, ctx: FaultContext) -> None:
        return None

    def revert(self, ctx: FaultContext) -> None:
        return None

    def inspect(self, ctx: FaultContext) -> FaultReport:
        return FaultReport()

    def describe(self) -> str:
        share = f"{self.spec.ratio:.0%} of " if self.spec.ratio < 1 else ""
        return f"malformed inputs to {share}{', '.join(self.spec.operations)}"

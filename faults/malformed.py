"""Malformed inputs: schema-aware mutation of the scenario's Faker payloads.

Nothing outside the fleet is changed, so apply and revert have nothing to do:
the traffic slices mutate the payloads of the operations the window covers.
Which operations are mutated, and how, is drawn from generators seeded with
(run seed, slice, operation index), so a run's malformed bytes are the same on
every run with that seed, on any machine.

Each mutation returns the exact bytes to send, the content type, what it did,
and the field it broke: a target that rejects it should name that field.
Mutations reach the leaves that matter: a payload is walked at any depth, so in
`{"comment": {"body": ...}}` the leaf `comment.body` is broken, not the envelope.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faults.base import FaultContext, FaultFamily, FaultReport
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
INT64 = (2**63 - 1, 2**63, -(2**63) - 1)  # signed 64-bit limits and one past them
NON_FINITE = ("NaN", "Infinity", "-Infinity")  # literals many JSON parsers let through
EXTRA_KEY = "chaosfleet_unexpected"
# mutations that need raw bytes on the wire: not possible for in-process targets
BYTE_LEVEL = frozenset({"invalid_utf8", "duplicate_key", "truncated_json", "wrong_content_type",
                        "nan_number"})
# mutations that break the document rather than one field
BODY_LEVEL = frozenset({"invalid_utf8", "truncated_json", "wrong_content_type", "deep_nesting"})


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mutation:
    name: str  # one of MUTATIONS
    detail: str  # what it did, e.g. "order.quantity: int -> str"
    field: str | None  # the field (dotted path) a good rejection names; None: body-level
    body: bytes
    content_type: str
    payload: Any  # the mutated document, for in-process targets (None if byte-level)
    path: Path = ()  # `field` as keys and indices, to shrink a reproducer

    @property
    def input_hash(self) -> str:
        return hashlib.sha256(self.body + self.content_type.encode()).hexdigest()[:16]


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=True).encode()


def dotted(path: Path) -> str:
    """`items[2].qty` for ("items", 2, "qty")."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def leaves(doc: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    """Every leaf of a document with its path (an empty mapping or list is a leaf)."""
    if isinstance(doc, dict) and doc:
        return [leaf for k, v in doc.items() for leaf in leaves(v, (*path, k))]
    if isinstance(doc, list) and doc:
        return [leaf for i, v in enumerate(doc) for leaf in leaves(v, (*path, i))]
    return [(path, doc)] if path else []


def get_at(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def set_at(doc: Any, path: Path, value: Any) -> Any:
    """A copy of `doc` with the value at `path` replaced (copies along the path only)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, list) and isinstance(head, int):
        return [set_at(v, rest, value) if i == head else v for i, v in enumerate(doc)]
    return {**doc, head: set_at(doc[head], rest, value) if rest else value}


def drop_at(doc: Any, path: Path) -> Any:
    """A copy of `doc` without the value at `path`."""
    head, rest = path[0], path[1:]
    if rest:
        return set_at(doc, (head,), drop_at(doc[head], rest))
    if isinstance(doc, list) and isinstance(head, int):
        return [v for i, v in enumerate(doc) if i != head]
    return {k: v for k, v in doc.items() if k != head}


def _pick(rng: random.Random, payload: dict[str, Any], kinds: tuple[type, ...] | None = None
          ) -> Path | None:
    """A leaf of the payload at any depth (of one of `kinds`, if given), drawn
    from the leaves in a stable order so a seed gives the same choice."""
    found = sorted((p for p, v in leaves(payload)
                    if kinds is None or (isinstance(v, kinds) and not isinstance(v, bool))),
                   key=dotted)
    return rng.choice(found) if found else None


def _value_at(payload: dict[str, Any], path: Path) -> Any:
    try:
        return get_at(payload, path)
    except (KeyError, IndexError, TypeError):
        return ""


def _other_type(value: Any, rng: random.Random) -> Any:
    choices: list[Any] = ["12", 12345, 1.5, True, [1, 2], {"a": 1}]
    choices = [c for c in choices if type(c) is not type(value)]
    return rng.choice(choices)


def _field_mutation(name: str, path: Path, value: Any, detail: str,
                    payload: dict[str, Any]) -> Mutation:
    doc = set_at(payload, path, value)
    return Mutation(name, detail, dotted(path), _dumps(doc), JSON, doc, path)


def _replace(payload: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    result: dict[str, Any] = set_at(payload, path, value)
    return result


def _raw_at(payload: dict[str, Any], path: Path, raw: bytes) -> bytes:
    """The payload's JSON with the value at `path` replaced by bytes no JSON
    encoder would write (a huge number, NaN, deep nesting)."""
    return _dumps(_replace(payload, path, "\0marker\0")).replace(
        b'"\\u0000marker\\u0000"', raw)


def mutate(payload: dict[str, Any], rng: random.Random, name: str) -> Mutation:
    """Apply mutation `name` to a copy of the payload, at a leaf of any depth.
    Deterministic in `rng`."""
    path = _pick(rng, payload) or ("body",)  # an empty payload: break a field it lacks
    key, value = dotted(path), _value_at(payload, path)
    match name:
        case "missing_field":
            doc = drop_at(payload, path)
            return Mutation(name, f"{key} removed", key, _dumps(doc), JSON, doc, path)
        case "wrong_type":
            new = _other_type(value, rng)
            return _field_mutation(name, path, new, f"{key}: {type(value).__name__} -> "
                                   f"{type(new).__name__}", payload)
        case "null_field":
            return _field_mutation(name, path, None, f"{key}: null", payload)
        case "boundary_number":
            path = _pick(rng, payload, (int, float)) or path
            key, number = dotted(path), rng.choice(BOUNDARIES)
            return _field_mutation(name, path, number, f"{key}: {number}", payload)
        case "overflow_number":
            path = _pick(rng, payload, (int, float)) or path
            key, literal = dotted(path), rng.choice(OVERFLOWS)
            body = _raw_at(payload, path, literal.encode())
            return Mutation(name, f"{key}: {literal[:24]}{'...' if len(literal) > 24 else ''}",
                            key, body, JSON, json.loads(body), path)
        case "oversized_string":
            path = _pick(rng, payload, (str,)) or path
            key = dotted(path)
            return _field_mutation(name, path, "A" * OVERSIZED,
                                   f"{key}: {OVERSIZED} characters", payload)
        case "invalid_utf8":
            path = _pick(rng, payload, (str,)) or path
            key = dotted(path)
            body = _dumps(_replace(payload, path, "\0marker\0")).replace(
                b"\\u0000marker\\u0000", b"ok\xff\xfe\xc3(")
            return Mutation(name, f"{key}: invalid UTF-8 bytes", None, body, JSON, None, path)
        case "lone_surrogate":
            path = _pick(rng, payload, (str,)) or path
            key, value = dotted(path), _value_at(payload, path)
            return _field_mutation(name, path, f"{value}\ud800",
                                   f"{key}: lone surrogate U+D800", payload)
        case "control_chars":
            path = _pick(rng, payload, (str,)) or path
            key, value = dotted(path), _value_at(payload, path)
            return _field_mutation(name, path, f"{value}\x00\x1b[2J\r\n",
                                   f"{key}: NUL, ESC, CR, LF", payload)
        case "injection":
            path = _pick(rng, payload, (str,)) or path
            key, text = dotted(path), rng.choice(INJECTIONS)
            return _field_mutation(name, path, text, f"{key}: {text!r}", payload)
        case "deep_nesting":
            body = _raw_at(payload, path, b"[" * NESTING + b"]" * NESTING)
            return Mutation(name, f"{key}: arrays nested {NESTING} deep", None, body, JSON,
                            None, path)
        case "duplicate_key":  # a key given twice in the mapping that holds the leaf
            other = _other_type(value, rng)
            marker = _dumps(_replace(payload, path, "\0marker\0"))
            inner = _dumps({str(path[-1]): other})[1:-1]
            body = marker.replace(b'"\\u0000marker\\u0000"',
                                  _dumps(value) if isinstance(path[-1], int) else
                                  _dumps(value) + b", " + inner)
            return Mutation(name, f"{key} given twice", key, body, JSON, None, path)
        case "int64_boundary":
            path = _pick(rng, payload, (int, float)) or path
            key, number = dotted(path), rng.choice(INT64)
            return _field_mutation(name, path, number, f"{key}: {number}", payload)
        case "nan_number":
            path = _pick(rng, payload, (int, float)) or path
            key, literal = dotted(path), rng.choice(NON_FINITE)
            body = _raw_at(payload, path, literal.encode())
            return Mutation(name, f"{key}: {literal}", key, body, JSON, None, path)
        case "extra_field":  # an unknown key beside the leaf, in the mapping that holds it
            holder = path[:-1] if isinstance(path[-1], str) else ()
            extra = (*holder, EXTRA_KEY)
            doc = set_at(payload, extra, rng.choice([1, "x", True]))
            return Mutation(name, f"{dotted(extra)} added", dotted(extra), _dumps(doc), JSON,
                            doc, extra)
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
    """A good rejection of a field-level mutation names the field it broke: its
    dotted path (`comment.body`, as FastAPI or Kinto say it) or its own name."""
    if mutation.field is None:
        return True
    last = next((str(p) for p in reversed(mutation.path) if isinstance(p, str)), mutation.field)
    return mutation.field in response_text or last in response_text


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


def build(spec: MalformedInputSpec, name: str, target: object = None) -> MalformedInputFault:
    return MalformedInputFault(spec, name)


FAMILY = FaultFamily("malformed", (MalformedInputSpec,), build)

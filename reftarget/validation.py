"""Strict input models: malformed input is refused before any write, naming the field."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from reftarget.errors import FieldProblem, ValidationFailed

M = TypeVar("M", bound=BaseModel)

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (lone surrogates fail str checks)
# a person's name: letters, spaces and the punctuation names carry; nothing a query,
# a template or a shell would read as syntax
NAME = r"^[^\W\d_][\w .,'-]*$"


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: StrictStr = Field(min_length=1, max_length=100, pattern=NAME)
    sku: StrictStr = Field(pattern=r"^SKU-\d{4}$")
    quantity: StrictInt = Field(ge=1, le=1000)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["telemetry", "critical"]
    name: StrictStr = Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")
    value: StrictInt = Field(ge=-(2**31), le=2**31 - 1)


class HaltIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component: StrictStr = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    reason: StrictStr = Field(min_length=1, max_length=200, pattern=PRINTABLE)


def parse_input(model: type[M], payload: Any) -> M:
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldProblem("body", "expected a JSON object")])
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = [
            FieldProblem(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
            for e in exc.errors()
        ]
        raise ValidationFailed(problems) from None


def check_idempotency_key(key: str | None) -> None:
    if key is None:
        return
    if not (1 <= len(key) <= 128) or not key.isprintable():
        raise ValidationFailed(
            [FieldProblem("Idempotency-Key", "must be 1 to 128 printable characters")]
        )

"""Typed filters from user input (CLI options, query strings)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_fields(model: type[M], error: type[Exception], what: str, fields: dict[str, Any]) -> M:
    """Build `model` from the fields given (None means not given); a bad field
    raises `error` naming each field and what is wrong with it."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'filter'}: {e['msg']}"
                             for e in exc.errors())
        raise error(f"bad {what}: {problems}") from None

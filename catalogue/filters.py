"""Typed filters from user input (CLI options, query strings)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError, field_validator

M = TypeVar("M", bound=BaseModel)
MAX_OFFSET = 10**9  # past any real table; keeps the value inside a 64-bit SQL integer


def _as_utc(value: datetime) -> datetime:
    """A time without a zone is read as UTC, so `--since 2026-11-22T06:00` and
    `--until ...+00:00` compare (Python refuses to compare naive with aware)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise ValueError("a time out of range once converted to UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
ID_PATTERN = r"^[0-9a-fA-F-]{4,36}$"  # a record id, or the start of one as listings print it


class UserInput(BaseModel):
    """A model built from what an operator typed: no text may hold a NUL character,
    which PostgreSQL refuses in any text column (a 500 instead of a 422)."""

    @field_validator("*")
    @classmethod
    def no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


def parse_fields(model: type[M], error: type[Exception], what: str, fields: dict[str, Any]) -> M:
    """Build `model` from the fields given (None means not given); a bad field
    raises `error` naming each field and what is wrong with it."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'filter'}: {e['msg']}"
                             for e in exc.errors())
        raise error(f"bad {what}: {problems}") from None

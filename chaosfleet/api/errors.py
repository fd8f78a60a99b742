"""The API's error answers, declared once so the OpenAPI document lists every
status an operation can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """Every error answer: a message, or one entry per bad field (422)."""

    detail: str | list[dict[str, Any]]


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or wrong bearer token"},
    422: {"model": Problem, "description": "a bad field, named; nothing changed"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such record"}}

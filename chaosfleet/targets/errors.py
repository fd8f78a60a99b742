"""Read a target's own error code and message from its answer, wherever it puts them.

The target may declare where (`errors: {code: [...], message: [...]}` in its
config); these defaults come after, and cover the common shapes:

- `{"error": "x", "reason"|"message": "..."}` (the reference target, Kinto):
  code `error`, message `reason` or `message`;
- RFC 7807 problem+json: code `type` (unless about:blank), message `detail`, `title`;
- FastAPI/Starlette `{"detail": "..."}` or `{"detail": [{loc, msg, type}]}`:
  code `detail[0].type`, message `loc: msg; ...`;
- Django REST framework `{"detail": "..."}` or `{"field": ["msg"]}`: `field: msg; ...`;
- `{"errors": [...]}` (JSON:API, GraphQL, Rails): `errors[0].code`, `errors[0].message`;
- `{"error": {"code", "message"}}` (Google style): `error.code`, `error.message`;
- a text body: its first line (a bare status phrase counts as nothing).

A status phrase is never a code ("Service Unavailable" says only the status).

A 5xx that says nothing beyond its status is an opaque answer: no code, no
message, so the catalogue sees `http_500` alone (mode `opaque-5xx`).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from chaosfleet.core.recipes import lookup, parse_ref

MAX_MESSAGE = 300
CODE_DEFAULTS = ("error", "code", "error.code", "errors[0].code", "errors[0].type",
                 "type", "detail[0].type")
MESSAGE_DEFAULTS = ("reason", "message", "error.message", "detail", "title",
                    "errors[0].message", "errors[0].detail", "errors[0].title", "errors[0]",
                    "errors")
_REASONS = {s.phrase.lower() for s in HTTPStatus}


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _values(body: Any, paths: list[str] | tuple[str, ...]) -> list[Any]:
    """The values found at these paths, in order."""
    found = []
    for path in paths:
        ref = parse_ref(path)
        try:
            found.append(lookup(body, (ref.root, *ref.path)))
        except KeyError:
            continue
    return found


def _as_code(value: Any, declared: bool) -> str | None:
    """A short string that is not a bare status phrase; numbers only where the
    target declared them (a default `code` is often the HTTP status again)."""
    if isinstance(value, int) and not isinstance(value, bool) and declared:
        return str(value)
    if (isinstance(value, str) and value and value != "about:blank" and len(value) <= 100
            and value.lower() not in _REASONS):
        return value
    return None


def _code(body: Any, declared: list[str]) -> str | None:
    candidates = [(v, True) for v in _values(body, declared)]
    candidates += [(v, False) for v in _values(body, CODE_DEFAULTS)]
    return next((c for v, d in candidates if (c := _as_code(v, d))), None)


LISTS = {"detail", "errors", "fields"}  # defaults that may hold a list of field errors


def _as_message(value: Any) -> str:
    """Strings as they are; field errors as `field: message; ...` (a list of
    objects, or a mapping of field to messages)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(filter(None, (_field_error(item) for item in value)))
    if isinstance(value, dict):
        return _field_error(value) or _field_map(value)
    return ""


def _message(body: Any, declared: list[str]) -> str:
    candidates = [(v, True) for v in _values(body, declared)]
    candidates += [(v, p.split(".")[0].split("[")[0] in LISTS or isinstance(v, str))
                   for p in MESSAGE_DEFAULTS for v in _values(body, (p,))]
    return next((m for v, ok in candidates if ok and (m := _as_message(v))), "")


def _field_error(item: Any) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return ""
    where = item.get("loc") or item.get("field") or item.get("name") or item.get("path")
    if isinstance(where, list):
        where = ".".join(str(p) for p in where)
    text = next((item[k] for k in ("msg", "message", "description", "detail", "title")
                 if isinstance(item.get(k), str)), "")
    return f"{where}: {text}" if where and text else str(text or where or "")


def _field_map(body: dict[str, Any]) -> str:
    """Django REST framework's `{"field": ["message", ...]}`."""
    parts = [f"{k}: {v[0]}" for k, v in body.items()
             if isinstance(v, list) and v and isinstance(v[0], str)]
    return "; ".join(parts)


def describe_error(raw: bytes, code_paths: list[str] | None = None,
                   message_paths: list[str] | None = None) -> tuple[str | None, str]:
    """The target's own (code, message) for an error answer; (None, "") when it
    said nothing a client could act on."""
    body = parse_json(raw)
    if body is None:
        text = raw.decode(errors="replace").strip()
        line = text.splitlines()[0][:200] if text else ""
        return None, "" if line.lower().strip(" .") in _REASONS else line
    if not isinstance(body, dict | list):
        return None, str(body)[:MAX_MESSAGE]
    code = _code(body, code_paths or [])
    message = _message(body, message_paths or [])
    if not message and isinstance(body, dict):
        message = _as_message(body.get("fields")) or _field_map(body)
    if message.lower().strip(" .") in _REASONS and code is None:
        message = ""  # a status phrase repeated in the body says nothing more
    return code, message[:MAX_MESSAGE]

"""The `http` target kind: how one operation becomes a request, how an answer
becomes an outcome, and the one synchronous client everything but traffic uses.

Traffic slices send through pyreqwest (chaosfleet/traffic/http_client.py) for speed;
probes, the effects audit, dead-letter replay, crash minimisation and the
halt-signal storm send through `HttpClient`. Both build requests with
`build_request` and read answers with `read_answer`, so every request carries
the target's auth, its operation id (`X-Request-ID` and a W3C `traceparent`)
and its idempotency key, and every error is read in the target's own shape.
"""

from __future__ import annotations

import functools
import hashlib
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from chaosfleet.core.config import HttpOperation, HttpTarget
from chaosfleet.core.outcomes import Outcome
from chaosfleet.core.recipes import Call, MissingValue, parse_template, render_template
from chaosfleet.targets.errors import describe_error, parse_json

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    path: str = ""  # the URL's path, for the ledger (never the query: it may hold a token)


@dataclass(slots=True)  # one per operation: a frozen dataclass costs 4x to build
class Reply:
    """What one request came to: its ledger outcome and what the target said."""

    outcome: Outcome
    error: str | None = None  # the ledger's error class (http_503, client_timeout, ...)
    code: str = ""  # the target's own error code, else the error class
    message: str = ""
    status: int | None = None
    body: Any = None  # the parsed JSON body, if any
    headers: Mapping[str, str] = field(default_factory=dict)


def traceparent(op_id: str) -> str:
    """A W3C trace context derived from the operation id: the same id always
    gives the same trace, so a ledger row leads to the target's traces."""
    digest = hashlib.sha256(op_id.encode()).hexdigest()
    return f"00-{digest[:32]}-{digest[32:48]}-01"


def correlation_headers(target: HttpTarget, op_id: str) -> dict[str, str]:
    if target.request_id_header is None:
        return {}
    return {target.request_id_header: op_id, "traceparent": traceparent(op_id)}


def render_path(text: str, names: dict[str, Any]) -> str:
    """A path template with each substituted value percent-encoded (a slug with a
    slash stays one path segment)."""
    if not has_template(text):  # a fixed path: most operations
        return text
    out = []
    for part in parse_template(text):
        if isinstance(part, str):
            out.append(part)
        else:
            value = render_template("{" + _expression(part) + "}", names)
            out.append(quote(str(value), safe=""))
    return "".join(out)


def _expression(part: Any) -> str:
    return f"env:{part.args[0]}" if isinstance(part, Call) else str(part)


def _render_text(text: str, names: dict[str, Any]) -> str:
    value = render_template(text, names)
    return value if isinstance(value, str) else json.dumps(value)


def encode_body(spec: HttpOperation, payload: Any) -> tuple[bytes | None, str | None]:
    kind = spec.body_kind
    if kind == "none":
        return None, None
    if kind == "form":
        flat = payload.items() if isinstance(payload, dict) else []
        return urlencode([(k, v if isinstance(v, str) else json.dumps(v))
                          for k, v in flat]).encode(), FORM
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass"), JSON


@dataclass(frozen=True, slots=True)
class RequestShape:
    """What every request of one operation shares, worked out once per slice rather
    than per request (a slice sends thousands a second): its URL and path when no
    template fills them, the target's credentials, the operation's headers when
    none is a template (None: rendered per request), and whether it has a body."""

    url: str | None
    path: str | None
    auth: dict[str, str]
    headers: dict[str, str] | None
    has_body: bool


def shape_of(target: HttpTarget, operation: str) -> RequestShape:
    spec = target.operations[operation]
    fixed_url = not spec.query and not has_template(spec.path)
    url = target.base_url.rstrip("/") + spec.path if fixed_url else None
    fixed_headers = not any(has_template(v) for v in spec.headers.values())
    return RequestShape(url, urlsplit(url).path if url else None,
                        dict(target.auth.resolve()) if target.auth else {},
                        dict(spec.headers) if fixed_headers else None,
                        spec.body_kind != "none")


def has_template(text: str) -> bool:
    return "{" in text or "}" in text


def build_request(target: HttpTarget, operation: str, payload: Any, op_id: str, *,
                  names: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                  auth: dict[str, str] | None = None, idempotency_key: str | None = None,
                  raw: tuple[bytes, str] | None = None,
                  shape: RequestShape | None = None) -> HttpRequest:
    """The request for one operation. `names` are the journey's captures (the
    payload is `payload`); `headers` the step's own, already rendered; `auth` the
    journey's credentials (else the target's); `raw` a malformed body and its
    content type, sent as they are; `shape` the operation's `shape_of`, if the caller
    keeps it. Raises MissingValue for an unfilled template."""
    spec = target.operations[operation]
    shape = shape or shape_of(target, operation)
    url, path = shape.url, shape.path
    scope = None
    if url is None or path is None:
        scope = {**(names or {}), "payload": payload}
        url = target.base_url.rstrip("/") + render_path(spec.path, scope)
        if spec.query:
            url += "?" + urlencode({k: _render_text(v, scope) for k, v in spec.query.items()})
        path = urlsplit(url).path
    out = dict(shape.auth if auth is None else auth)
    out.update(correlation_headers(target, op_id))
    if shape.headers is not None:
        out.update(shape.headers)
    else:
        scope = scope or {**(names or {}), "payload": payload}
        out.update({k: _render_text(v, scope) for k, v in spec.headers.items()})
    if headers:
        out.update(headers)
    if spec.idempotency_header:
        out[spec.idempotency_header] = idempotency_key or op_id
    body, content_type = (raw if raw is not None else
                          encode_body(spec, payload) if shape.has_body else (None, None))
    if content_type:
        out["content-type"] = content_type
    return HttpRequest(spec.method, url, out, body, path)


BACKOFF_STATUSES = (429, 503)  # answers that tell a client to come back later


def says_when_to_retry(value: str | None) -> bool:
    """A usable Retry-After (RFC 9110): delay seconds, or an HTTP date."""
    if value is None:
        return False
    value = value.strip()
    if value.isdigit():
        return True
    try:
        return parsedate_to_datetime(value) is not None
    except (TypeError, ValueError, IndexError):
        return False


def classify_status(status: int, expect: list[int] | None = None) -> tuple[Outcome, str | None]:
    """ok for an expected status (any below 400 unless the operation lists them);
    otherwise a 4xx is a rejection and anything else an error."""
    if (status in expect) if expect else status < 400:
        return Outcome.OK, None
    if 400 <= status < 500:
        return Outcome.REJECTED, f"http_{status}"
    return Outcome.ERROR, f"http_{status}"


def read_answer(target: HttpTarget, spec: HttpOperation, status: int, raw: bytes,
                headers: Mapping[str, str] | None = None, body: bool = True) -> Reply:
    """The outcome of one answer; `body=False` skips parsing a successful answer's
    JSON (nothing reads it: no capture, no degraded rule)."""
    outcome, error = classify_status(status, spec.expect_status)
    if outcome is Outcome.OK:
        parsed = parse_json(raw) if raw and body else None
        return Reply(outcome, None, "", "", status, parsed, headers or {})
    code, message = describe_error(raw, target.errors.code, target.errors.message)
    return Reply(outcome, error, code or error or "", message, status, body, headers or {})


def timeout_reply(exc: BaseException) -> Reply:
    return Reply(Outcome.TIMEOUT, "client_timeout", "client_timeout", type(exc).__name__)


def unreachable_reply(exc: BaseException) -> Reply:
    name = type(exc).__name__
    return Reply(Outcome.ERROR, name, name, str(exc)[:300])


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default trust store, loaded once per process: building it cost about
    60 ms of CPU here, and the run's probe monitor opens a client twice a second."""
    return httpx.create_ssl_context()


class HttpClient:
    """A synchronous client for one target: its auth, correlation and timeout on
    every request. `fresh` opens a new connection per request (a crashing server
    often drops its keep-alives)."""

    def __init__(self, target: HttpTarget, fresh: bool = False, timeout: float | None = None):
        self.target = target
        limits = httpx.Limits(max_keepalive_connections=0) if fresh else httpx.Limits()
        self._http = httpx.Client(timeout=timeout or target.timeout, limits=limits,
                                  verify=tls_context())

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, request: HttpRequest) -> httpx.Response:
        return self._http.request(request.method, request.url, headers=request.headers,
                                  content=request.body)

    def call(self, operation: str, payload: Any, op_id: str, **kwargs: Any) -> Reply:
        """Send one operation and read its answer (never raises for the target's
        failures: a timeout or a refused connection is a Reply too)."""
        spec = self.target.operations[operation]
        try:
            response = self.send(build_request(self.target, operation, payload, op_id,
                                               **kwargs))
        except httpx.TimeoutException as exc:
            return timeout_reply(exc)
        except httpx.HTTPError as exc:
            return unreachable_reply(exc)
        except MissingValue as exc:
            return Reply(Outcome.ERROR, "missing_value", "missing_value", str(exc))
        return read_answer(self.target, spec, response.status_code, response.content,
                           response.headers)

    def get(self, path: str, auth: bool = True, method: str = "GET",
            params: dict[str, str] | None = None) -> httpx.Response:
        headers = dict(self.target.auth.resolve()) if auth and self.target.auth else {}
        headers.update(correlation_headers(self.target, f"chaosfleet-probe-{time.time_ns()}"))
        return self._http.request(method, self.target.base_url.rstrip("/") + path,
                                  headers=headers, params=params)



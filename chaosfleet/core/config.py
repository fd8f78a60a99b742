"""The fleet configuration: targets, their proxies and probes, and the allowlist.

Targets are configuration, never code the fleet imports: the bundled reference
target is declared in `config/fleet.yaml` exactly like a user's own service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from chaosfleet.core.errors import ConfigError, NotAllowedError
from chaosfleet.core.recipes import TemplateStr, parse_ref
from chaosfleet.core.yamlio import load_yaml_model


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class ProxySpec(Strict):
    """A Toxiproxy proxy in front of one dependency of the target."""

    listen: str = Field(pattern=r"^[A-Za-z0-9.\-]+:\d{1,5}$", description="host:port")
    upstream: str = Field(pattern=r"^[A-Za-z0-9.\-]+:\d{1,5}$")

    @field_validator("listen", "upstream")
    @classmethod
    def port_in_range(cls, address: str) -> str:
        port = int(address.rsplit(":", 1)[1])
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} of {address!r} is not between 1 and 65535")
        return address


class AuthHeader(Strict):
    """A header whose value is read from the environment, never stored in config:
    `{name: Authorization, env: API_TOKEN, scheme: Bearer}` sends
    `Authorization: Bearer <$API_TOKEN>`."""

    name: str = Field(default="Authorization", pattern=r"^[A-Za-z0-9-]{1,64}$")
    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    scheme: str | None = Field(default=None, pattern=r"^[A-Za-z]{1,32}$")

    def resolve(self) -> dict[str, str]:
        value = os.environ.get(self.env)
        if not value:
            return {}
        return {self.name: f"{self.scheme} {value}" if self.scheme else value}


class ErrorFields(Strict):
    """Where the target puts the code and the message of an error in a JSON body:
    references tried in order (`errno`, `error.code`, `errors[0].message`), before
    the defaults (see chaosfleet/targets/errors.py)."""

    code: list[str] = Field(default_factory=list)
    message: list[str] = Field(default_factory=list)

    @field_validator("code", "message")
    @classmethod
    def references(cls, paths: list[str]) -> list[str]:
        for path in paths:
            parse_ref(path)
        return paths


class DegradedRule(Strict):
    """A success that is a degradation: the operation answered (2xx, or returned)
    with a JSON body containing `response`, for a request whose payload contains
    `payload`. It stays `ok` in the ledger and goes to the failure catalogue under
    `code` (e.g. telemetry shed under load)."""

    response: dict[str, Any] = Field(min_length=1)
    payload: dict[str, Any] = Field(default_factory=dict)
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")

    def matches(self, payload: Any, body: Any) -> bool:
        return _contains(body, self.response) and _contains(payload, self.payload)


def _contains(doc: Any, subset: dict[str, Any]) -> bool:
    return isinstance(doc, dict) and all(k in doc and doc[k] == v for k, v in subset.items())


def degraded_code(rules: list[DegradedRule], payload: Any, body: Any) -> str | None:
    """The code of the first rule the answer matches (declare the narrower first)."""
    return next((r.code for r in rules if r.matches(payload, body)), None)


class HttpOperation(Strict):
    """One request of the target's API. `path`, `query` and `headers` are
    templates: `{name.field}` reads a journey capture, `{payload.field}` the
    operation's own payload; values are URL-encoded into the path and query."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: TemplateStr = Field(pattern=r"^/")
    query: dict[str, TemplateStr] = Field(default_factory=dict)
    headers: dict[str, TemplateStr] = Field(default_factory=dict)
    body: Literal["json", "form", "none"] | None = Field(
        default=None, description="json, form or none; default: none for GET and DELETE")
    expect_status: list[int] = Field(
        default_factory=list, description="statuses that mean ok; default: any below 400")
    idempotency_header: str | None = None
    degraded: list[DegradedRule] = Field(default_factory=list)
    effect: bool = Field(
        default=False, description="each ok answer leaves one effect that the target's "
        "effects audit counts under the operation's id: an ok without one is a lost write")

    @field_validator("expect_status")
    @classmethod
    def http_statuses(cls, statuses: list[int]) -> list[int]:
        bad = [s for s in statuses if not 100 <= s <= 599]
        if bad:
            raise ValueError(f"not HTTP statuses: {bad}")
        return statuses

    @property
    def body_kind(self) -> str:
        return self.body or ("none" if self.method in ("GET", "DELETE") else "json")

    def templates(self) -> list[tuple[str, str]]:
        """(field, template) for every template of the request."""
        return ([("path", self.path)] + [(f"query.{k}", v) for k, v in self.query.items()]
                + [(f"headers.{k}", v) for k, v in self.headers.items()])


class HttpProbe(Strict):
    method: Literal["GET", "POST"] = "GET"
    path: str = Field(pattern=r"^/")
    auth: bool = Field(default=True, description="send the target's auth header")
    expect_status: int = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)


class HttpEffects(Strict):
    """How many effects the requests with a key prefix left behind, `rows` and
    distinct `keys`: exactly one of
    - `path`: an audit endpoint answering `{"rows": n, "keys": k}` for `?prefix=...`;
    - `sql` + `database_url_env`: a query run on the target's own database (as a
      read-only role of yours), with `:prefix` bound and two columns, rows and keys,
      e.g. `SELECT count(*), count(DISTINCT request_id) FROM orders
      WHERE request_id LIKE :prefix || '%'`. The URL (SQLAlchemy form) is read from
      the environment variable, never from this file."""

    path: str | None = Field(default=None, pattern=r"^/")
    sql: str | None = Field(default=None, min_length=1, max_length=4_000)
    database_url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def one_way(self) -> HttpEffects:
        if (self.path is None) == (self.sql is None) or (self.sql is None) != (
                self.database_url_env is None):
            raise ValueError("effects needs exactly one of path, or sql with database_url_env")
        if self.sql is not None and ":prefix" not in self.sql:
            raise ValueError("effects.sql must use :prefix (the run's idempotency-key prefix)")
        return self


def _check_effect_audit(operations: Mapping[str, HttpOperation | PythonOperation],
                        effects: object) -> None:
    marked = sorted(name for name, op in operations.items() if op.effect)
    if marked and effects is None:
        raise ValueError(f"operations {marked} are marked effect: true, but the target "
                         "declares no effects audit to count them")


class PythonOperation(Strict):
    call: str = Field(pattern=r"^[\w.]+:[\w.]+$", description="module.path:callable")
    degraded: list[DegradedRule] = Field(default_factory=list)
    effect: bool = Field(
        default=False, description="each ok answer leaves one effect that the target's "
        "effects audit counts under the operation's id: an ok without one is a lost write")


class PythonProbe(Strict):
    call: str = Field(pattern=r"^[\w.]+:[\w.]+$")


class HttpTarget(Strict):
    kind: Literal["http"]
    base_url: str = Field(pattern=r"^https?://")
    instances: list[Annotated[str, Field(pattern=r"^https?://")]] = Field(
        default_factory=list, max_length=64, description="base URLs of more instances of the "
        "same service, reached directly (no load balancer): the halt-signal storm spreads "
        "its calls over all of them, so a limit kept per instance, not in aggregate, shows")
    timeout: float = Field(default=2.0, gt=0, description="client deadline per operation (s)")
    budget: float | None = Field(
        default=None, gt=0, description="the longest the target itself promises to take to "
        "answer (its request budget, s), below `timeout`: every slower answer is counted "
        "and fails the run (a timeout hierarchy inverted inside the target shows here); "
        "answers cut off at the fleet's deadline are timeouts, checked on their own")
    auth: AuthHeader | None = None
    request_id_header: str | None = Field(
        default="X-Request-ID", pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="carries each operation's id (with a W3C traceparent); null: none")
    errors: ErrorFields = Field(default_factory=ErrorFields)
    operations: dict[str, HttpOperation]
    probes: dict[str, HttpProbe] = Field(default_factory=dict)
    proxies: dict[str, ProxySpec] = Field(default_factory=dict)
    effects: HttpEffects | None = None

    @model_validator(mode="after")
    def effects_declared(self) -> HttpTarget:
        _check_effect_audit(self.operations, self.effects)
        return self

    def effect_operations(self) -> list[str]:
        return sorted(name for name, op in self.operations.items() if op.effect)

    def each_instance(self) -> list[HttpTarget]:
        """This target once per instance (base_url first)."""
        return [self] + [self.model_copy(update={"base_url": url, "instances": []})
                         for url in self.instances]


class PythonTarget(Strict):
    kind: Literal["python"]
    timeout: float = Field(default=2.0, gt=0)
    budget: float | None = Field(
        default=None, gt=0, description="the longest the target itself promises to take to "
        "answer (its request budget, s), below `timeout`: every slower answer is counted "
        "and fails the run (a timeout hierarchy inverted inside the target shows here); "
        "answers cut off at the fleet's deadline are timeouts, checked on their own")
    rejects: list[str] = Field(
        default_factory=list, description="exception class names that mean a clean rejection"
    )
    operations: dict[str, PythonOperation]
    probes: dict[str, PythonProbe] = Field(default_factory=dict)
    proxies: dict[str, ProxySpec] = Field(default_factory=dict)
    effects: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$",
                                description="callable(key_prefix) -> {rows, keys}")

    @model_validator(mode="after")
    def effects_declared(self) -> PythonTarget:
        _check_effect_audit(self.operations, self.effects)
        return self

    def effect_operations(self) -> list[str]:
        return sorted(name for name, op in self.operations.items() if op.effect)


TargetSpec = Annotated[HttpTarget | PythonTarget, Field(discriminator="kind")]
_target_adapter: TypeAdapter[HttpTarget | PythonTarget] = TypeAdapter(TargetSpec)


def parse_target(spec: dict[str, Any]) -> HttpTarget | PythonTarget:
    """A target declaration as recorded with a run (for replays)."""
    return _target_adapter.validate_python(spec)


class Allowlist(Strict):
    targets: list[str] = Field(default_factory=list)
    proxies: list[str] = Field(default_factory=list)


class FleetConfig(Strict):
    environment: str = "dev"
    allowlist: Allowlist = Field(default_factory=Allowlist)
    targets: dict[str, TargetSpec] = Field(default_factory=dict)

    @field_validator("environment")
    @classmethod
    def lower_environment(cls, value: str) -> str:
        return value.strip().lower()

    def target(self, name: str) -> HttpTarget | PythonTarget:
        try:
            return self.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.targets)) or "none"
            raise ConfigError(f"target: unknown target {name!r} (declared: {known})") from None


def check_allowed(
    config: FleetConfig, target_name: str, proxies: list[str], allow_production: bool
) -> None:
    """Refuse chaos anywhere the operator did not explicitly allow (invariant 6)."""
    if config.environment in {"prod", "production"} and not allow_production:
        raise NotAllowedError(
            f"environment {config.environment!r} is marked production; "
            "set CHAOSFLEET_ALLOW_PRODUCTION=true to permit chaos there"
        )
    if target_name not in config.allowlist.targets:
        raise NotAllowedError(f"target {target_name!r} is not on the allowlist")
    declared = config.target(target_name).proxies
    for proxy in proxies:
        if proxy not in config.allowlist.proxies:
            raise NotAllowedError(f"proxy {proxy!r} is not on the allowlist")
        if proxy not in declared:
            raise NotAllowedError(f"proxy {proxy!r} is not declared by target {target_name!r}")


def load_config(path: Path) -> FleetConfig:
    return load_yaml_model(path, FleetConfig)

"""`chaosfleet init`: a starter fleet config and suite for a user's own HTTP service.

From its base URL, its OpenAPI document (Swagger 2 or OpenAPI 3) when one is
given, and its declared proxies, it writes:

- `fleet.yaml`: the target with every GET/POST/PUT/PATCH operation of the
  document (OpenAPI path parameters become journey captures: `{bucket_id}`), a
  `healthy` probe, the proxies and the allowlist;
- one outage and one latency scenario per proxy, whose traffic is the safe part
  of the API: the GET operations without path parameters that answered 2xx when
  `init` sent each of them one request (GET only: nothing is written);
- `writes.yaml`: the write operations with payload recipes derived from their
  schemas, to turn into journeys once the service's auth is set (not in the suite);
- `suite.yaml` listing the scenarios (paths relative to it).

Nothing it writes needs a hand edit to validate and run; what to do next is in
the comments of the files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from chaosfleet.core.config import AuthHeader
from chaosfleet.core.errors import ConfigError

METHODS = ("get", "post", "put", "patch")
HEALTH = re.compile(r"health|heartbeat|ping|ready|alive|status", re.I)
MAX_DEPTH = 5
MAX_PROBED = 40  # GET requests init sends at most, one each


@dataclass
class Operation:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None  # a payload recipe, for writes
    params: list[str] = field(default_factory=list)  # path parameters


def load_document(source: str) -> dict[str, Any]:
    """An OpenAPI document from a URL or a file, JSON or YAML."""
    try:
        if re.match(r"^https?://", source):
            text = httpx.get(source, timeout=10).raise_for_status().text
        else:
            text = Path(source).read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (httpx.HTTPError, OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--openapi {source}: cannot read it: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ConfigError(f"--openapi {source}: not an OpenAPI document (no `paths`)")
    return doc


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "root"


def _resolve(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """Follow a local `$ref` (#/definitions/X or #/components/schemas/X)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < 20:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node, depth = target, depth + 1
    return node


def recipe_for(doc: dict[str, Any], schema: Any, name: str = "", depth: int = 0) -> Any:
    """A payload recipe for a JSON schema: Faker fields chosen by type, format and
    the property's name, nested objects and arrays at any depth."""
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return {"faker": "word"}
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type") or ("object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: recipe_for(doc, v, k, depth + 1) for k, v in props.items()
                if not k.startswith("$")}
    if kind == "array":
        return [recipe_for(doc, schema.get("items", {}), name, depth + 1)]
    if kind == "integer":
        low, high = schema.get("minimum", 1), schema.get("maximum", 1000)
        return {"faker": "pyint", "kwargs": {"min_value": int(low), "max_value": int(high)}}
    if kind == "number":
        return {"faker": "pyfloat", "kwargs": {"min_value": 0, "max_value": 1000}}
    if kind == "boolean":
        return {"faker": "pybool"}
    return _string_recipe(schema.get("format", ""), name.lower())


def _string_recipe(fmt: str, name: str) -> Any:
    by_format = {"email": "email", "date-time": "iso8601", "date": "date", "uuid": "uuid4",
                 "uri": "url", "url": "url", "password": "password"}
    if fmt in by_format:
        return {"faker": by_format[fmt]}
    for hint, provider in (("email", "email"), ("password", "password"), ("url", "url"),
                           ("name", "name"), ("title", "sentence"), ("phone", "phone_number"),
                           ("city", "city"), ("country", "country"), ("description", "text")):
        if hint in name:
            return {"faker": provider}
    if name in ("id", "slug", "username", "login"):
        return f"{name}-{{unique}}"
    return {"faker": "word"}


def _body_schema(op: dict[str, Any], shared: list[Any]) -> Any:
    content = (op.get("requestBody") or {}).get("content") or {}
    for media, spec in content.items():
        if "json" in media:
            return spec.get("schema")
    for param in [*shared, *(op.get("parameters") or [])]:
        if isinstance(param, dict) and param.get("in") == "body":
            return param.get("schema")
    return None


def read_operations(doc: dict[str, Any]) -> list[Operation]:
    """Every GET/POST/PUT/PATCH operation, named by operationId (or method and path)."""
    ops: list[Operation] = []
    seen: set[str] = set()
    for path, item in doc["paths"].items():
        if not isinstance(item, dict) or not isinstance(path, str) or not path.startswith("/"):
            continue
        shared = item.get("parameters") or []
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            name = _slug(op.get("operationId") or f"{method}_{path}")
            while name in seen:
                name += "_"
            seen.add(name)
            schema = _body_schema(op, shared) if method != "get" else None
            ops.append(Operation(name, method.upper(), path,
                                 recipe_for(doc, schema) if schema is not None else None,
                                 re.findall(r"{([^}]+)}", path)))
    return ops


def base_path(doc: dict[str, Any]) -> str:
    """Swagger 2's basePath, or the path of OpenAPI 3's first server."""
    if isinstance(doc.get("basePath"), str):
        return doc["basePath"].rstrip("/")
    servers = doc.get("servers") or []
    url = servers[0].get("url", "") if servers and isinstance(servers[0], dict) else ""
    return re.sub(r"^https?://[^/]+", "", url).rstrip("/")


def answering_reads(base_url: str, ops: list[Operation], skip: set[str],
                    headers: dict[str, str]) -> list[Operation]:
    """The GET operations without path parameters that answer 2xx to one request."""
    good = []
    with httpx.Client(timeout=5, headers=headers) as client:
        for op in [o for o in ops if o.method == "GET" and not o.params][:MAX_PROBED]:
            if op.path in skip:
                continue
            try:
                if client.get(base_url.rstrip("/") + op.path).status_code < 300:
                    good.append(op)
            except httpx.HTTPError:
                continue
    return good


def _scenario(name: str, target: str, reads: list[Operation], faults: list[dict[str, Any]],
              description: str) -> dict[str, Any]:
    return {
        "name": name[:64].rstrip("-_"), "description": description, "target": target, "seed": 1,
        "traffic": {"rate": 10, "duration": "30s", "concurrency": 8,
                    "operations": [{"name": op.name} for op in reads]},
        "faults": faults,
        "steady_state": {"probes": ["healthy"], "max_error_rate": 0.01},
        "during_fault": {"settle": "3s", "max_p95_ms": 2500, "max_timeout_rate": 0},
        "recovery": {"within": "10s", "max_error_rate": 0.02},
    }


def write_starter(out: Path, name: str, base_url: str, doc: dict[str, Any] | None,
                  proxies: dict[str, tuple[str, str]], auth_env: str | None = None,
                  auth_scheme: str | None = None) -> list[Path]:
    """Write the starter files into `out`; returns their paths. Refuses to
    overwrite a file that is there."""
    ops = read_operations(doc) if doc else []
    prefix = base_path(doc) if doc else ""
    url = base_url.rstrip("/")
    if prefix and not url.endswith(prefix):
        url += prefix
    health = next((o.path for o in ops if o.method == "GET" and not o.params
                   and HEALTH.search(o.path)), "/")
    auth = AuthHeader(env=auth_env, scheme=auth_scheme) if auth_env else None
    reads = answering_reads(url, ops, {"/__api__", "/openapi.json", "/swagger.json"},
                            auth.resolve() if auth else {}) or [
        Operation("read_root", "GET", health)]
    operations: dict[str, Any] = {op.name: {"method": op.method, "path": op.path}
                                  for op in [*ops, *reads]}
    target: dict[str, Any] = {"kind": "http", "base_url": url, "timeout": 5.0}
    if auth is not None:
        target["auth"] = auth.model_dump(exclude_none=True, exclude_defaults=True) | {
            "env": auth.env}
    target |= {"operations": operations,
               "probes": {"healthy": {"path": health, "expect_status": 200, "auth": False}},
               "proxies": {p: {"listen": listen, "upstream": up}
                           for p, (listen, up) in proxies.items()}}
    config = {"environment": "dev",
              "allowlist": {"targets": [name], "proxies": sorted(proxies)},
              "targets": {name: target}}
    files: dict[str, Any] = {"fleet.yaml": config}
    for proxy in sorted(proxies):
        files[f"{name}-{proxy}-outage.yaml"] = _scenario(
            f"{_slug(name)}-{_slug(proxy)}-outage", name, reads,
            [{"type": "proxy_down", "proxy": proxy, "start": "8s", "duration": "6s"}],
            f"{proxy} goes away for 6 s: {name} answers fast with a reason, then recovers.")
        files[f"{name}-{proxy}-latency.yaml"] = _scenario(
            f"{_slug(name)}-{_slug(proxy)}-latency", name, reads,
            [{"type": "latency", "proxy": proxy, "latency_ms": 1500, "start": "8s",
              "duration": "8s"}],
            f"{proxy} answers 1.5 s late for 8 s: {name} fails fast, then recovers.")
    scenarios = [f for f in files if f != "fleet.yaml"]
    files["suite.yaml"] = {"name": _slug(name).replace("_", "-")[:60],
                           "description": f"Starter chaos suite for {name} (chaosfleet init).",
                           "scenarios": scenarios}
    writes = [op for op in ops if op.method != "GET" and op.body is not None]
    if writes:
        files["writes.yaml"] = _scenario(
            f"{_slug(name)}-writes", name, [], [],
            "Write operations with payloads from their schemas; make them a journey "
            "(captures for path parameters, a login step) once auth is set.")
        files["writes.yaml"]["traffic"]["operations"] = [
            {"name": op.name, "payload": op.body if isinstance(op.body, dict) else {}}
            for op in writes if not op.params]
        if not files["writes.yaml"]["traffic"]["operations"]:
            del files["writes.yaml"]
    if not scenarios:
        del files["suite.yaml"]
    return _write(out, files)


def _write(out: Path, files: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    there = [f for f in files if (out / f).exists()]
    if there:
        raise ConfigError(f"{out}: would overwrite {', '.join(there)}; choose another --out")
    written = []
    for fname, content in files.items():
        path = out / fname
        path.write_text("# written by `chaosfleet init`\n"
                        + yaml.safe_dump(json.loads(json.dumps(content)), sort_keys=False,
                                         allow_unicode=True, width=100))
        written.append(path)
    return written


def parse_proxy(text: str) -> tuple[str, tuple[str, str]]:
    """`NAME=LISTEN,UPSTREAM`, e.g. `app-db=127.0.0.1:25499,127.0.0.1:5432`."""
    m = re.fullmatch(r"([a-z0-9][a-z0-9_-]{0,63})=([\w.\-]+:\d{1,5}),([\w.\-]+:\d{1,5})", text)
    if not m:
        raise ConfigError(f"--proxy {text!r}: expected NAME=LISTEN_HOST:PORT,UPSTREAM_HOST:PORT")
    return m.group(1), (m.group(2), m.group(3))

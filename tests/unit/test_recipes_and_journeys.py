"""Payload recipes at any depth, templates, journeys and their validation: pure
logic on plain objects (no service)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from chaosfleet.core.config import FleetConfig, HttpTarget, load_config
from chaosfleet.core.errors import ConfigError
from chaosfleet.core.recipes import MissingValue, Pending, TemplateError, parse_template, resolve
from chaosfleet.core.yamlio import parse_yaml_model
from chaosfleet.traffic.cursor import planned_ops
from chaosfleet.traffic.journeys import capture_values, reads_body
from chaosfleet.traffic.payloads import PayloadSource
from chaosfleet.traffic.plan import SlicePlan
from scenarios.loader import check_against_target, load_scenario, load_suite, suite_scenario_refs
from scenarios.model import JourneyStep, OperationMix, Scenario

REPO = Path(__file__).resolve().parents[2]
KINTO = REPO / "examples" / "kinto"

NESTED = """\
name: nested
target: api
seed: 3
traffic:
  rate: 10
  duration: 10s
  operations:
    - name: comment
      payload:
        comment:
          body: {faker: sentence}
          tags: [{faker: word}, "fixed", {faker: pyint, kwargs: {min_value: 1, max_value: 9}}]
          sku: "SKU-{faker:bothify:####-??}"
          slug: "post-{unique}"
          braces: "{{literal}}"
steady_state: {probes: [up]}
recovery: {within: 1s}
"""

JOURNEY = """\
name: journey
target: api
seed: 3
traffic:
  rate: 10
  duration: 10s
  journeys:
    - name: writer
      steps:
        - operation: login
          payload: {user: "u-{unique}", password: {faker: password}}
          capture: {token: body.token, user: request.user}
          auth: {bearer: "{token}"}
        - operation: create
          payload: {article: {title: {faker: sentence}, by: "{user}"}}
          capture: {article: body.article}
        - operation: read
steady_state: {probes: [up]}
recovery: {within: 1s}
"""

TARGET = {
    "kind": "http", "base_url": "http://127.0.0.1:9", "probes": {"up": {"path": "/"}},
    "operations": {
        "comment": {"path": "/comments"},
        "login": {"path": "/login"},
        "create": {"path": "/articles", "headers": {"X-User": "{user}"}},
        "read": {"method": "GET", "path": "/articles/{article.slug}",
                 "query": {"as": "{user}"}},
    },
}


def scenario(text: str) -> Scenario:
    return parse_yaml_model(textwrap.dedent(text), Scenario, "scenario.yaml")


def errors_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        scenario(text)
    return str(info.value)


def target() -> HttpTarget:
    t = FleetConfig.model_validate({"targets": {"api": TARGET}}).target("api")
    assert isinstance(t, HttpTarget)
    return t


def plan_of(s: Scenario, run_id: str = "r1", index: int = 0) -> SlicePlan:
    return SlicePlan(run_id=run_id, index=index, run_started_at=0.0, offset=0.0,
                     duration=10.0, rate=1.0, concurrency=1, seed=s.seed,
                     operations=s.traffic.operations, journeys=s.traffic.journeys,
                     target=target())


def test_nested_recipes_render_at_every_depth_with_no_literal_left():
    ops = [op.payload for op in planned_ops(plan_of(scenario(NESTED)))]
    text = json.dumps(ops)
    assert "faker" not in text and "{unique}" not in text
    first = ops[0]["comment"]
    assert isinstance(first["body"], str) and first["body"].endswith(".")
    assert first["tags"][1] == "fixed" and isinstance(first["tags"][2], int)
    assert first["sku"].startswith("SKU-") and first["sku"][4:8].isdigit()
    assert first["braces"] == "{literal}"


def test_unique_differs_per_operation_and_per_run_but_not_per_attempt():
    s = scenario(NESTED)
    slugs = [op.payload["comment"]["slug"] for op in planned_ops(plan_of(s))]
    assert len(set(slugs)) == len(slugs)
    again = [op.payload["comment"]["slug"] for op in planned_ops(plan_of(s))]
    other_run = [op.payload["comment"]["slug"] for op in planned_ops(plan_of(s, "r2"))]
    assert again == slugs and not set(other_run) & set(slugs)


@pytest.mark.parametrize(("recipe", "expected"), [
    ("{faker: sentense}", "unknown Faker provider 'sentense' (did you mean 'sentence'"),
    ('"x-{faker:sentense}"', "unknown Faker provider 'sentense'"),
    ("{faker: pyint, kwargs: {min_valu: 1}}", "Faker provider 'pyint'"),
    ('"open {brace"', "unclosed '{'"),
    ('"{nope:thing}"', "is neither a function"),
])
def test_a_bad_nested_recipe_is_named_with_its_path_and_line(recipe, expected):
    message = errors_of(NESTED.replace("{faker: sentence}", recipe, 1))
    assert "scenario.yaml:11: traffic.operations.0.payload.comment.body" in message
    assert expected in message


def test_a_journey_step_using_a_later_or_missing_capture_is_refused():
    later = JOURNEY.replace('by: "{user}"', 'by: "{article.id}"')
    message = errors_of(later)
    assert "scenario.yaml:" in message
    assert "steps.1.payload.article.by: {article.id} names capture 'article', captured " \
           "only by step 1, after this one" in message
    missing = errors_of(JOURNEY.replace('by: "{user}"', 'by: "{nobody}"'))
    assert "{nobody} names capture 'nobody', no step captures it" in missing


def test_a_target_template_naming_an_unknown_capture_is_refused_against_the_target():
    s = scenario(JOURNEY.replace("capture: {article: body.article}", "capture: {art: body.a}"))
    with pytest.raises(ConfigError) as info:
        check_against_target(s, target())
    message = str(info.value)
    assert "traffic.journeys.0.steps.2: target operation 'read' path needs " \
           "{article.slug}, but no earlier step captures 'article'" in message


def test_capture_paths_read_only_the_answer_or_the_request():
    message = errors_of(JOURNEY.replace("body.token", "cookies.token"))
    assert "a capture reads one of body, headers, status, request" in message


def test_captures_read_each_source_and_headers_ignore_case():
    step = JourneyStep.model_validate({"operation": "login", "capture": {
        "token": "body.data.token", "code": "status", "trace": "headers.X-Trace",
        "who": "request.user"}})
    found = capture_values(step, 201, {"data": {"token": "t1"}}, {"x-TRACE": "abc"},
                           {"user": "ada"})
    assert found == {"token": "t1", "code": 201, "trace": "abc", "who": "ada"}
    with pytest.raises(MissingValue, match="capture 'token': the answer \\(status 201\\)"):
        capture_values(step, 201, None, {"x-trace": "abc"}, {"user": "ada"})


def test_an_answer_body_is_parsed_only_for_a_step_that_captures_from_it():
    def step(capture: dict[str, str]) -> JourneyStep:
        return JourneyStep.model_validate({"operation": "op", "capture": capture})

    assert reads_body(step({"id": "body.items[0].id"}))
    assert reads_body(step({"all": "body"}))
    assert not reads_body(step({"code": "status", "etag": "headers.ETag"}))
    assert not reads_body(step({}))


def test_journey_steps_render_their_seeded_parts_and_wait_for_captures():
    (op, *_) = planned_ops(plan_of(scenario(JOURNEY)))
    assert [s.op_id for s in op.steps] == ["r1-s0-o0.0", "r1-s0-o0.1", "r1-s0-o0.2"]
    assert op.op_ids == [s.op_id for s in op.steps]
    by = op.steps[1].payload["article"]["by"]
    assert isinstance(by, Pending)
    assert resolve(op.steps[1].payload, {"user": "ada"})["article"]["by"] == "ada"
    with pytest.raises(MissingValue, match="no value named 'user'"):
        resolve(op.steps[1].payload, {})


def test_the_input_hash_never_depends_on_captured_values():
    one = list(planned_ops(plan_of(scenario(JOURNEY))))
    two = list(planned_ops(plan_of(scenario(JOURNEY))))
    assert [s.input_hash for o in one for s in o.steps] == \
           [s.input_hash for o in two for s in o.steps]


def test_a_reference_that_is_the_whole_template_keeps_its_type():
    assert resolve(Pending("{n}"), {"n": 7}) == 7
    assert resolve(Pending("n={n}"), {"n": 7}) == "n=7"


def test_env_templates_are_read_at_send_time_and_never_planned(monkeypatch):
    source = PayloadSource([OperationMix(name="a", payload={"key": "{env:API_KEY}"})], 1, 0)
    payload = source.next().steps[0].payload
    assert payload == {"key": "{env:API_KEY}"}  # the secret is not in the plan or its hash
    monkeypatch.setenv("API_KEY", "s3cret")
    assert resolve(payload, {}) == {"key": "s3cret"}


def test_templates_parse_literals_braces_and_expressions():
    parts = parse_template("a{{b}}-{x.y[1]}-{unique}")
    assert parts[0] == "a{b}-" and str(parts[1]) == "x.y[1]" and parts[3].fn == "unique"
    with pytest.raises(TemplateError):
        parse_template("a}b")


def test_traffic_needs_operations_or_journeys_not_both():
    both = JOURNEY.replace("  journeys:", "  operations: [{name: read}]\n  journeys:")
    assert "exactly one of traffic.operations" in errors_of(both)


def test_suite_paths_resolve_against_the_suite_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # anywhere but the repository
    refs = suite_scenario_refs(KINTO / "suite.yaml", load_suite(KINTO / "suite.yaml"))
    assert all(Path(r).is_file() for r in refs)
    builtin = suite_scenario_refs("smoke", load_suite("smoke"))
    assert [str(r) for r in builtin] == ["db-latency"]


@pytest.mark.parametrize("name", sorted(p.name for p in KINTO.glob("kinto-*.yaml")))
def test_the_kinto_example_validates_against_its_config(name):
    config = load_config(KINTO / "fleet.yaml")
    s = load_scenario(KINTO / name)
    check_against_target(s, config.target(s.target))


OPENAPI3 = {
    "openapi": "3.0.0", "servers": [{"url": "http://example.test/api"}],
    "paths": {
        "/health": {"get": {"operationId": "health"}},
        "/articles": {"post": {"operationId": "createArticle", "requestBody": {"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/New"}}}}}},
        "/articles/{slug}": {"get": {}, "delete": {"operationId": "drop"}},
    },
    "components": {"schemas": {"New": {"type": "object", "properties": {"article": {
        "type": "object", "properties": {
            "title": {"type": "string"}, "email": {"type": "string", "format": "email"},
            "stars": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"type": "string", "enum": ["draft", "live"]}}}}}}},
}


def test_init_reads_operations_and_derives_nested_payload_recipes():
    from chaosfleet.cli.starter import base_path, read_operations

    ops = {op.name: op for op in read_operations(OPENAPI3)}
    assert set(ops) == {"health", "createarticle", "get_articles_slug"}  # never DELETE
    assert ops["get_articles_slug"].params == ["slug"] and base_path(OPENAPI3) == "/api"
    article = ops["createarticle"].body["article"]
    assert article["title"] == {"faker": "sentence"}
    assert article["email"] == {"faker": "email"} and article["kind"] == "draft"
    assert article["stars"]["kwargs"] == {"min_value": 1, "max_value": 5}
    assert article["tags"] == [{"faker": "word"}]
    OperationMix.model_validate({"name": "c", "payload": ops["createarticle"].body})

"""The http target kind without a network: requests built from templates, answers
read in the target's own error shape, and correlation headers."""

from __future__ import annotations

import json

import pytest

from chaosfleet.core.config import FleetConfig, HttpTarget
from chaosfleet.core.outcomes import Outcome
from chaosfleet.core.recipes import MissingValue
from chaosfleet.targets.errors import describe_error
from chaosfleet.targets.http import build_request, classify_status, read_answer, traceparent


def target(**extra) -> HttpTarget:
    spec = {
        "kind": "http", "base_url": "http://127.0.0.1:9/api",
        "auth": {"env": "API_TOKEN", "scheme": "Bearer"},
        "operations": {
            "create": {"path": "/articles", "idempotency_header": "Idempotency-Key",
                       "expect_status": [201]},
            "comment": {"path": "/articles/{article.slug}/comments",
                        "headers": {"X-Tenant": "{payload.tenant}"}},
            "read": {"method": "GET", "path": "/articles/{article.slug}",
                     "query": {"fields": "{payload.fields}"}},
            "form": {"path": "/login", "body": "form"},
        },
        **extra,
    }
    t = FleetConfig.model_validate({"targets": {"t": spec}}).target("t")
    assert isinstance(t, HttpTarget)
    return t


def test_paths_and_queries_fill_from_captures_and_payload_url_encoded(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "tok")
    names = {"article": {"slug": "a b/c"}}
    req = build_request(target(), "read", {"fields": "title,body"}, "r-s0-o1.2", names=names)
    assert req.method == "GET" and req.body is None  # GET sends no body
    assert req.url == "http://127.0.0.1:9/api/articles/a%20b%2Fc?fields=title%2Cbody"
    assert req.headers["Authorization"] == "Bearer tok"


def test_every_request_carries_its_operation_id_and_a_traceparent():
    req = build_request(target(), "create", {"title": "x"}, "run-s1-o7")
    assert req.headers["X-Request-ID"] == "run-s1-o7"
    assert req.headers["traceparent"] == traceparent("run-s1-o7")
    assert traceparent("run-s1-o7") != traceparent("run-s1-o8")
    version, trace, span, flags = req.headers["traceparent"].split("-")
    assert (version, len(trace), len(span), flags) == ("00", 32, 16, "01")
    assert req.headers["Idempotency-Key"] == "run-s1-o7"
    assert json.loads(req.body or b"") == {"title": "x"}
    none = build_request(target(request_id_header=None), "create", {}, "run-s1-o7")
    assert "traceparent" not in none.headers


def test_journey_auth_replaces_the_targets_and_step_headers_render(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "tok")
    req = build_request(target(), "comment", {"tenant": "t1"}, "o", names={"article": {
        "slug": "s"}}, auth={"Authorization": "Basic eHg6eXk="})
    assert req.headers["Authorization"] == "Basic eHg6eXk=" and req.headers["X-Tenant"] == "t1"


def test_form_bodies_and_unfilled_templates():
    req = build_request(target(), "form", {"user": "ada", "n": 2}, "o")
    assert req.body == b"user=ada&n=2"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    with pytest.raises(MissingValue, match="article"):
        build_request(target(), "read", {"fields": "x"}, "o")


def test_expected_statuses_decide_what_is_ok():
    assert classify_status(201, [201]) == (Outcome.OK, None)
    assert classify_status(200, [201]) == (Outcome.ERROR, "http_200")
    assert classify_status(404, [404]) == (Outcome.OK, None)
    assert classify_status(302) == (Outcome.OK, None)
    assert classify_status(422) == (Outcome.REJECTED, "http_422")


@pytest.mark.parametrize(("body", "code", "message"), [
    ({"error": "unavailable", "reason": "database unavailable"}, "unavailable",
     "database unavailable"),
    ({"type": "https://x/errors/out-of-stock", "title": "Out of stock", "detail": "sku 4"},
     "https://x/errors/out-of-stock", "sku 4"),  # RFC 7807
    ({"detail": [{"loc": ["body", "comment", "body"], "msg": "field required",
                  "type": "missing"}]}, "missing", "body.comment.body: field required"),
    ({"detail": "Not authenticated"}, None, "Not authenticated"),  # FastAPI / DRF
    ({"title": ["This field is required."]}, None, "title: This field is required."),  # DRF
    ({"errors": [{"code": "E42", "message": "slug taken"}]}, "E42", "slug taken"),
    ({"errors": {"body": ["can't be blank"]}}, None, "body: can't be blank"),  # Conduit
    ({"error": {"code": "RESOURCE_EXHAUSTED", "message": "quota"}}, "RESOURCE_EXHAUSTED",
     "quota"),
    ({"code": 503, "errno": 201, "error": "Service Unavailable",
      "message": "Service temporary unavailable, please retry later."}, None,
     "Service temporary unavailable, please retry later."),  # Kinto: a phrase is no code
])
def test_error_bodies_are_read_in_the_common_shapes(body, code, message):
    assert describe_error(json.dumps(body).encode()) == (code, message)


def test_text_and_opaque_bodies():
    assert describe_error(b"upstream connect error\nmore") == (None, "upstream connect error")
    assert describe_error(b"Internal Server Error") == (None, "")
    assert describe_error(b"") == (None, "")
    assert describe_error(b'{"detail": "Internal Server Error"}') == (None, "")


def test_declared_error_paths_come_before_the_defaults():
    raw = json.dumps({"errno": 107, "error": "Invalid parameters", "message": "m"}).encode()
    assert describe_error(raw, ["errno"], ["message"]) == ("107", "m")
    t = target(errors={"code": ["errno"]})
    reply = read_answer(t, t.operations["create"], 400, raw)
    assert (reply.outcome, reply.error, reply.code, reply.status) == (
        Outcome.REJECTED, "http_400", "107", 400)
    opaque = read_answer(t, t.operations["create"], 500, b"Internal Server Error")
    assert (opaque.code, opaque.message) == ("http_500", "")


def test_a_retry_after_must_be_seconds_or_an_http_date():
    from chaosfleet.targets.http import says_when_to_retry

    assert says_when_to_retry("1") and says_when_to_retry(" 120 ")
    assert says_when_to_retry("Wed, 21 Oct 2026 07:28:00 GMT")
    for bad in (None, "", "soon", "-1", "1.5", "Wed, 99 Foo"):
        assert not says_when_to_retry(bad), bad


def test_backoff_answers_are_counted_by_status_and_kept_out_of_the_series():
    from chaosfleet.traffic.stats import count_backoff, parse_stats

    raw = {"c|0|error": 3, "b|503|with": 2, "b|503|without": 1, "b|429|with": 4,
           "b|x|with": 9}
    assert count_backoff(raw) == {429: {"with": 4}, 503: {"with": 2, "without": 1}}
    series, _ = parse_stats(raw)
    assert [s.total for s in series] == [3]


def test_an_effect_operation_needs_an_effects_audit():
    from chaosfleet.core.config import FleetConfig

    spec = {"kind": "http", "base_url": "http://127.0.0.1:1",
            "operations": {"create": {"path": "/x", "effect": True}, "read": {"path": "/y"}}}
    with pytest.raises(ValueError, match=r"\['create'\] are marked effect: true"):
        FleetConfig.model_validate({"targets": {"app": spec}})
    spec["effects"] = {"path": "/audit"}
    target = FleetConfig.model_validate({"targets": {"app": spec}}).target("app")
    assert target.effect_operations() == ["create"]

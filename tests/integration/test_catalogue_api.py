"""The catalogue's HTTP API on a real PostgreSQL: it refuses unauthenticated and
malformed requests and changes nothing; it answers typed responses otherwise."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from catalogue.db import build_engine, migrate
from catalogue.failures import get_failure, match_batch, observed
from catalogue.matching import Matcher
from catalogue.modes import load_catalogue
from catalogue.recording import write_batch
from chaosfleet.api.app import create_app
from tests.integration.test_catalogue import scratch_pg  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

TOKEN = "t" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(scratch_pg):  # noqa: F811
    engine = build_engine(scratch_pg)
    migrate(engine)
    catalogue = load_catalogue()
    raw = [observed(run_id="run1", scenario="s", code=c, message=m, status=st,
                    correlation_id=f"op-{i}", at=time.time())
           for i, (c, m, st) in enumerate([("unavailable", "circuit breaker open", 503),
                                           ("http_500", "flux capacitor overheated", 500)])]
    write_batch(engine, match_batch({"failures": raw}, Matcher(catalogue)))
    with TestClient(create_app(engine, TOKEN, catalogue)) as client:
        yield client, engine
    engine.dispose()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"},
                                     {"Authorization": TOKEN}])
def test_requests_without_the_token_get_401_and_change_nothing(api, headers):
    client, engine = api
    failure_id = client.get("/catalogue/failures", headers=AUTH).json()["items"][0]["id"]
    before = get_failure(engine, failure_id)
    for method, path, body in [("GET", "/catalogue/failures", None),
                               ("GET", "/catalogue/stats", None),
                               ("PATCH", f"/catalogue/failures/{failure_id}/recovery",
                                {"recovered": True})]:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
    assert get_failure(engine, failure_id) == before


def test_malformed_requests_get_field_errors_and_change_nothing(api):
    client, engine = api
    failure_id = client.get("/catalogue/failures", headers=AUTH).json()["items"][0]["id"]
    before = get_failure(engine, failure_id)
    cases = [
        ("GET", "/catalogue/failures?limit=0", None, "limit"),
        ("GET", "/catalogue/failures?since=yesterday", None, "since"),
        ("GET", "/catalogue/failures?status=maybe", None, "status"),
        ("GET", "/catalogue/failures?run_id=../../etc", None, "run_id"),
        ("PATCH", f"/catalogue/failures/{failure_id}/recovery", {"recovered": "perhaps"},
         "recovered"),
        ("PATCH", f"/catalogue/failures/{failure_id}/recovery", {"notes": "x"}, "recovered"),
        ("PATCH", f"/catalogue/failures/{failure_id}/recovery",
         {"recovered": True, "sneaky": 1}, "sneaky"),
    ]
    for method, path, body, field in cases:
        response = client.request(method, path, json=body, headers=AUTH)
        assert response.status_code == 422, (path, response.text)
        assert field in response.text, (path, response.text)
    assert client.patch("/catalogue/failures/nope/recovery", json={"recovered": True},
                        headers=AUTH).status_code == 404
    assert get_failure(engine, failure_id) == before


def test_list_get_update_stats_misses_and_warnings(api):
    client, _ = api
    page = client.get("/catalogue/failures?run_id=run1", headers=AUTH).json()
    assert {i["mode_id"] for i in page["items"]} == {"circuit-open", None}
    opened = next(i for i in page["items"] if i["mode_id"] == "circuit-open")
    assert client.get(f"/catalogue/failures/{opened['id']}", headers=AUTH).json()["id"] == \
        opened["id"]
    updated = client.patch(f"/catalogue/failures/{opened['id']}/recovery",
                           json={"recovered": False, "notes": "stuck open"}, headers=AUTH)
    assert updated.status_code == 200 and updated.json()["notes"] == "stuck open"
    unrecovered = client.get("/catalogue/unrecovered", headers=AUTH).json()
    assert [u["id"] for u in unrecovered] == [opened["id"]]
    stats = client.get("/catalogue/stats", headers=AUTH).json()
    assert stats["total"] == 2 and stats["by_mode"] == {"circuit-open": 1, "(miss)": 1}
    (miss,) = client.get("/catalogue/misses", headers=AUTH).json()
    assert miss["error_code"] == "http_500"
    assert client.get("/catalogue/warnings", headers=AUTH).json() == []
    modes = client.get("/catalogue/modes", headers=AUTH).json()
    assert len(modes) == len(load_catalogue().modes)


def test_the_api_refuses_to_start_without_a_real_token(scratch_pg):  # noqa: F811
    with pytest.raises(ValueError, match="CHAOSFLEET_API_TOKEN"):
        create_app(build_engine(scratch_pg), "", load_catalogue())

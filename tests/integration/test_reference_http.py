"""The reference target's HTTP layer: malformed input gets a 4xx naming the field,
never a 5xx, never a partial write."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from reftarget import db
from reftarget.app import create_app
from reftarget.service import Service
from reftarget.settings import TargetSettings
from tests.conftest import require

pytestmark = pytest.mark.integration

GOOD = b'{"customer": "Ada", "sku": "SKU-0001", "quantity": 1}'


@pytest.fixture
def client(toxiproxy):
    require("postgresql", "redis")
    service = Service(TargetSettings())
    service.create_schema()
    with service.engine.begin() as conn:
        conn.execute(text("TRUNCATE orders, events, halts"))
    with TestClient(create_app(service)) as http:
        yield http, service
    service.engine.dispose()


def orders(service) -> int:
    with service.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(db.orders)).scalar_one()


@pytest.mark.parametrize("body,ctype,field", [
    (b'{"customer": "Ada", "sku": "SKU-0001"}', "application/json", "quantity"),
    (b'{"customer": 5, "sku": "SKU-0001", "quantity": 1}', "application/json", "customer"),
    (b'{"customer": "Ada", "customer": "Eve", "sku": "SKU-0001", "quantity": 1}',
     "application/json", "customer"),
    (b'{"customer": "Ada", "sku": "SKU-0001", "quantity": NaN}', "application/json", "body"),
    (b'{"customer": "\xff\xfe", "sku": "SKU-0001", "quantity": 1}', "application/json", "body"),
    (b'{"customer": "Ada", "sku": "SKU-0001", "quantity": 1', "application/json", "body"),
    (b"[" * 5000 + b"]" * 5000, "application/json", "body"),
    (GOOD, "text/plain", "content-type"),
    (b"null", "application/json", "body"),
])
def test_malformed_orders_get_422_naming_the_field_and_write_nothing(client, body, ctype, field):
    http, service = client
    response = http.post("/orders", content=body, headers={"content-type": ctype})
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in response.json()["fields"]]
    assert orders(service) == 0


def test_a_good_order_is_created_once_per_idempotency_key(client):
    http, service = client
    headers = {"content-type": "application/json", "idempotency-key": "k-1"}
    first = http.post("/orders", content=GOOD, headers=headers)
    again = http.post("/orders", content=GOOD, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert http.get(f"/orders/{first.json()['id']}").json()["sku"] == "SKU-0001"
    assert http.get("/orders/999999").status_code == 404
    assert orders(service) == 1


def test_health_reports_breaker_state(client):
    http, _ = client
    body = http.get("/health").json()
    assert body["status"] == "ok" and body["breaker"] == "closed" and body["disabled"] == []


def test_open_breaker_answers_503_with_retry_after(client):
    http, service = client
    for _ in range(service.settings.breaker_threshold):
        service.breaker._record(ok=False, trial=False)
    response = http.post("/orders", content=GOOD, headers={"content-type": "application/json"})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert http.get("/health").json()["breaker"] == "open"

"""Entry points for `python` targets: the fleet calls these in-process.

Each operation takes the payload and the operation id (used as idempotency key).
"""

from __future__ import annotations

import threading
from typing import Any

from reftarget.service import Service
from reftarget.validation import OrderIn, check_idempotency_key, parse_input

_service: Service | None = None
_lock = threading.Lock()


def _get_service() -> Service:
    global _service
    with _lock:
        if _service is None:
            _service = Service()
            _service.create_schema()
        return _service


def create_order(payload: dict[str, Any], *, operation_id: str) -> dict[str, Any]:
    result = _get_service().create_order(payload, idempotency_key=operation_id)
    return {"id": result.id, "created": result.created}


def record_event(payload: dict[str, Any], *, operation_id: str) -> dict[str, Any]:
    result = _get_service().record_event(payload)
    return {"stored": result.stored, "shed": result.shed}


def validate_order(payload: dict[str, Any], *, operation_id: str) -> dict[str, Any]:
    """The service layer's input checks alone (no database): a cheap real code path,
    for measuring the fleet's own cost per operation (bench/python_overhead.py)."""
    check_idempotency_key(operation_id)
    order = parse_input(OrderIn, payload)
    return {"quantity": order.quantity}


def is_healthy() -> bool:
    return _get_service().health()["status"] == "ok"


def count_effects(key_prefix: str) -> dict[str, int]:
    return _get_service().count_effects(key_prefix)

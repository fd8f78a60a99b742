"""The reference target's service layer: the real code paths the fleet drives.

Every database call goes through the circuit breaker, then a retry loop with
exponential backoff bounded by the request budget, then a per-attempt deadline:
each layer's timeout is shorter than its caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.stop import stop_base

from reftarget import db
from reftarget.breaker import CircuitBreaker
from reftarget.errors import NotFound, TransientDBError, Unavailable
from reftarget.guards import HaltGuard, LoadShedder
from reftarget.settings import MECHANISMS, TargetSettings, get_target_settings
from reftarget.validation import EventIn, HaltIn, OrderIn, check_idempotency_key, parse_input

T = TypeVar("T")
MAX_BACKOFF = 0.4  # seconds between attempts, at most


@dataclass(frozen=True)
class OrderResult:
    id: int
    created: bool


@dataclass(frozen=True)
class EventResult:
    stored: bool
    shed: bool


def describe_db_error(exc: sa_exc.DBAPIError) -> str:
    """A short cause that says what happened without echoing the driver's text
    (which may name hosts or values): refused, reset, or the error class."""
    text = str(exc.orig).lower()
    if "too many connections" in text or "remaining connection slots" in text:
        return "too many connections"
    if "refused" in text:
        return "connection refused"
    if any(s in text for s in ("closed the connection", "reset", "consuming input failed",
                               "eof", "server closed", "terminating connection")):
        return "connection reset"
    return type(exc.orig).__name__


class _OutOfBudget(stop_base):
    """Stop retrying when one more attempt (after the longest back-off) could not
    finish inside the request budget: the budget holds even when connecting is slow."""

    def __init__(self, budget: float, attempt_cost: Callable[[], float]):
        self.budget = budget
        self.attempt_cost = attempt_cost

    def __call__(self, retry_state: RetryCallState) -> bool:
        elapsed = retry_state.seconds_since_start or 0.0
        return elapsed + MAX_BACKOFF + self.attempt_cost() > self.budget


class Service:
    def __init__(
        self,
        settings: TargetSettings | None = None,
        engine: Engine | None = None,
        redis_client: redis.Redis | None = None,
    ):
        self.settings = s = settings or get_target_settings()
        self.engine = engine or db.build_engine(s)
        self.redis = redis_client or redis.Redis.from_url(
            s.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.breaker = CircuitBreaker(
            s.breaker_threshold, s.breaker_reset, enabled=s.enabled("breaker")
        )
        self.shedder = LoadShedder(s.shed_capacity, enabled=s.enabled("shedding"),
                                   priority=s.enabled("priority"))
        self._last_checkout = 0.0  # seconds; a shared estimate, updated by every attempt
        self.halt_guard = HaltGuard(
            self.redis, s.halt_limit, s.halt_window, enabled=s.enabled("haltguard"),
            aggregate=s.enabled("aggregate"),
        )

    # -- the database path: breaker -> retries within budget -> deadline per attempt

    def _run_db(self, work: Callable[[Connection], T]) -> T:
        return self.breaker.call(lambda: self._with_retries(work))

    def _retry_policy(self) -> Retrying:
        s = self.settings
        stop: stop_base
        if not s.enabled("retries"):
            stop = stop_after_attempt(1)
        elif s.enabled("timeouts"):
            stop = stop_after_attempt(4) | _OutOfBudget(s.request_budget, self._attempt_cost)
        else:
            stop = stop_after_attempt(4)
        return Retrying(
            stop=stop,
            wait=wait_exponential(multiplier=0.05, max=MAX_BACKOFF),
            retry=retry_if_exception_type(TransientDBError),
            reraise=True,
        )

    def _with_retries(self, work: Callable[[Connection], T]) -> T:
        try:
            for attempt in self._retry_policy():
                with attempt:
                    return self._attempt(work)
        except TransientDBError as exc:
            raise Unavailable(f"database unavailable: {exc}") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _attempt_cost(self) -> float:
        """What one more attempt may take: the last checkout (a pool wait, or a new
        connection through a slow network) plus the query deadline."""
        return self._last_checkout + self.settings.query_deadline

    def _attempt(self, work: Callable[[Connection], T]) -> T:
        deadline = db.QueryDeadline(self.settings.query_deadline)
        began, checked_out = time.monotonic(), False
        try:
            with self.engine.connect() as conn:
                self._last_checkout, checked_out = time.monotonic() - began, True
                if not self.settings.enabled("timeouts"):
                    with conn.begin():
                        return work(conn)
                with deadline.guard(conn), conn.begin():
                    return work(conn)
        except sa_exc.TimeoutError:
            self._last_checkout = time.monotonic() - began
            raise Unavailable("database pool exhausted", retry_after=1.0) from None
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            if not checked_out:  # connecting failed: that is what the next one may cost
                self._last_checkout = time.monotonic() - began
            raise TransientDBError(
                "query deadline exceeded" if deadline.fired else describe_db_error(exc)
            ) from None

    # -- operations

    def create_order(self, payload: Any, idempotency_key: str | None = None) -> OrderResult:
        if self.settings.enabled("validation"):
            check_idempotency_key(idempotency_key)
            order = parse_input(OrderIn, payload).model_dump()
        else:
            order = {k: payload.get(k) for k in ("customer", "sku", "quantity")}
        key = idempotency_key if self.settings.enabled("idempotency") else None

        def write(conn: Connection) -> OrderResult:
            stmt = insert(db.orders).values(idempotency_key=key, request_key=idempotency_key,
                                            **order)
            if key is not None:
                stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
            row = conn.execute(stmt.returning(db.orders.c.id)).first()
            if row is not None:
                return OrderResult(id=row[0], created=True)
            existing = conn.execute(
                select(db.orders.c.id).where(db.orders.c.idempotency_key == key)
            ).scalar_one()
            return OrderResult(id=existing, created=False)

        if self.settings.enabled("durability"):
            return self._run_db(write)
        try:  # the regression "durability" stands for: an error answered as a success
            return self._run_db(write)
        except Unavailable:
            return OrderResult(id=0, created=True)

    def get_order(self, order_id: int) -> dict[str, Any]:
        def read(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(select(db.orders).where(db.orders.c.id == order_id)).first()
            return dict(row._mapping) if row else None

        found = self._run_db(read)
        if found is None:
            raise NotFound(f"order {order_id}")
        found["created_at"] = found["created_at"].isoformat()
        return found

    def count_effects(self, key_prefix: str) -> dict[str, int]:
        """How many orders the requests with keys starting with `key_prefix` left
        behind, and how many distinct keys: rows above keys are duplicate effects."""
        escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = escaped + "%"

        def count(conn: Connection) -> dict[str, int]:
            row = conn.execute(select(func.count(), func.count(func.distinct(
                db.orders.c.request_key))).where(
                db.orders.c.request_key.like(pattern, escape="\\"))).one()
            return {"rows": row[0], "keys": row[1]}

        return self._run_db(count)

    def record_event(self, payload: Any) -> EventResult:
        event = parse_input(EventIn, payload).model_dump()
        critical = event["kind"] == "critical"
        if not self.shedder.try_enter(critical):
            return EventResult(stored=False, shed=True)
        try:
            self._run_db(lambda conn: conn.execute(db.events.insert().values(**event)))
        finally:
            self.shedder.leave()
        return EventResult(stored=True, shed=False)

    def halt(self, payload: Any) -> dict[str, Any]:
        halt = parse_input(HaltIn, payload).model_dump()
        self.halt_guard.admit()
        halt_id = self._run_db(
            lambda conn: conn.execute(
                db.halts.insert().values(**halt).returning(db.halts.c.id)
            ).scalar_one()
        )
        return {"id": halt_id, **halt}

    def health(self) -> dict[str, Any]:
        """Healthy when the database answers through the breaker; a half-open
        breaker's trial call happens here too, so recovery needs no traffic."""
        started = time.monotonic()
        try:
            self._run_db(lambda conn: conn.execute(text("SELECT 1")))
            status = "ok"
        except Unavailable:
            status = "degraded"
        return {
            "status": status,
            "breaker": str(self.breaker.state),
            "check_ms": round((time.monotonic() - started) * 1000, 1),
            "disabled": sorted(m for m in MECHANISMS if not self.settings.enabled(m)),
        }

    def create_schema(self) -> None:
        db.create_schema(self.engine)

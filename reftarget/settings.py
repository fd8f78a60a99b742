"""Settings of the reference target, from REFTARGET_* variables.

The defaults reach PostgreSQL and Redis through the Toxiproxy proxies that the
fleet creates (`reference-db` on 25432, `reference-redis` on 26379).
"""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MECHANISMS = frozenset(
    {"breaker", "timeouts", "retries", "validation", "idempotency", "shedding", "priority",
     "haltguard", "durability", "backoff", "aggregate"}
)


class TargetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFTARGET_", extra="ignore")

    database_url: str = "postgresql+psycopg://reftarget:reftarget@127.0.0.1:25432/reftarget"
    redis_url: str = "redis://127.0.0.1:26379/2"
    pool_size: int = 5
    pool_timeout: float = Field(default=0.5, description="wait for a pooled connection (s)")
    connect_timeout: int = Field(default=2, ge=2, description="libpq's minimum is 2 s")
    query_deadline: float = Field(default=0.5, description="one DB attempt (s)")
    request_budget: float = Field(default=2.5, description="all attempts of one request (s)")
    breaker_threshold: int = 5
    breaker_reset: float = Field(default=2.0, description="open -> half-open after (s)")
    shed_capacity: int = Field(default=8, description="in-flight events before telemetry sheds")
    halt_limit: int = Field(default=5, description="halts accepted per window, all instances")
    halt_window: float = 10.0
    disable: str = Field(default="", description="comma list of mechanisms to turn off")

    def enabled(self, mechanism: str) -> bool:
        if mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {mechanism!r}")
        off = {m.strip() for m in self.disable.split(",") if m.strip()}
        unknown = off - MECHANISMS
        if unknown:
            raise ValueError(f"REFTARGET_DISABLE names unknown mechanisms: {sorted(unknown)}")
        return mechanism not in off


@lru_cache(maxsize=1)
def get_target_settings() -> TargetSettings:
    return TargetSettings()

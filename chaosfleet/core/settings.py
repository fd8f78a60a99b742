"""One settings object for the whole fleet, read from CHAOSFLEET_* variables.

Defaults work on a laptop with the services from scripts/services.sh running.
"""

import difflib
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from chaosfleet.core.errors import ConfigError

BUNDLED_CONFIG = Path(__file__).parents[1] / "config" / "fleet.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHAOSFLEET_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str | None = Field(
        default=None, description="catalogue database; SQLite under state_dir when unset"
    )
    toxiproxy_url: str = "http://127.0.0.1:8474"
    toxiproxy_timeout: float = Field(default=2.0, gt=0, description="bound on every API call")
    config_path: Path = BUNDLED_CONFIG
    state_dir: Path = Path(".chaosfleet")
    reports_dir: Path = Path("reports")
    key_prefix: str = "chaosfleet"
    janitor_period: float = Field(default=1.0, gt=0)
    lease_grace: float = Field(default=3.0, ge=0, description="lease = fault window + grace")
    max_run_seconds: int = Field(default=3600, gt=0, description="hard time limit of a run")
    slice_seconds: float = Field(default=5.0, gt=0)
    traffic_concurrency: int | None = Field(
        default=None, gt=0, description="parallel slices per time window; unset: half the "
                                        "traffic processes the workers announce")
    clock_offset: float = Field(
        default=0.0, description="shifts this host's own clock view by this many seconds "
                                 "(a test of clock skew); the fleet corrects it to Redis time")
    allow_production: bool = False
    log_format: Literal["text", "json"] = Field(
        default="text", description="workers', beat's and the API's logs: text or JSON lines")
    api_token: str = Field(default="", repr=False, description="bearer token of the HTTP API")
    api_tokens: dict[str, str] = Field(
        default_factory=dict, repr=False,
        description='named bearer tokens, as JSON {"ci": "...", "alice": "..."}: the access log '
                    'and a run\'s log name the caller, never the token')

    def named_tokens(self) -> dict[str, str]:
        """Every accepted token by the name the logs give its caller."""
        return {**({"api-token": self.api_token} if self.api_token else {}), **self.api_tokens}
    warning_period: float = Field(default=60.0, gt=0, description="early-warning beat period")
    warning_window: float = Field(default=300.0, gt=0, description="seconds each evaluation reads")
    nightly_cron: str = Field(default="0 2 * * *", description="UTC crontab; empty disables")
    nightly_suite: str = "nightly"
    nightly_target: str | None = Field(default=None, description="the scenarios' own if unset")
    beat_lock_timeout: float = Field(
        default=30.0, ge=2, description="a dead beat's lock passes to another after this")
    catalogue_path: Path | None = Field(
        default=None, description="failure catalogue YAML; the bundled one when unset")
    spool: Path | None = Field(
        default=None, description="where records wait while the catalogue database is down; "
                                  "state_dir/spool when unset")

    @property
    def spool_dir(self) -> Path:
        return self.spool or self.state_dir / "spool"

    @property
    def catalogue_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'catalogue.db').resolve()}"


PREFIX = "CHAOSFLEET_"
# read by scripts/services.sh, not by the fleet: known, so never warned about
SCRIPT_VARIABLES = frozenset({"CHAOSFLEET_GOBIN", "CHAOSFLEET_RUN_DIR"})


def _describe(error: ErrorDetails) -> str:
    """A pydantic error as the operator wrote it: the variable, their value, the form."""
    field = str(error["loc"][0]) if error["loc"] else "?"
    value = error.get("input")
    shown = repr(value if not isinstance(value, str) or len(value) <= 60 else value[:60] + "…")
    return f"{PREFIX}{field.upper()}={shown}: {error['msg']}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `reset_settings()` after changing env.

    A bad value is a ConfigError naming the variable and the expected form, so an
    operator never reads a pydantic traceback to find a typo."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError("invalid environment: " + "; ".join(
            _describe(e) for e in exc.errors(include_url=False))) from None
    except SettingsError as exc:  # a mapping setting whose value is not JSON
        field = m.group(1) if (m := re.search(r'field "(\w+)"', str(exc))) else "?"
        raise ConfigError(f"invalid environment: {PREFIX}{field.upper()}: expected a JSON "
                          'object, e.g. {"ci": "a-token-of-16-or-more"}') from None


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """CHAOSFLEET_* variables no setting reads, each with a "did you mean" when one
    is close: a misspelt variable must never be silently ignored."""
    known = {PREFIX + name.upper() for name in Settings.model_fields} | SCRIPT_VARIABLES
    warnings = []
    for name in sorted(environ if environ is not None else os.environ):
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
            warnings.append(f"{name} is not a chaosfleet setting"
                            + (f": did you mean {close[0]}?" if close else ""))
    return warnings


def reset_settings() -> None:
    get_settings.cache_clear()

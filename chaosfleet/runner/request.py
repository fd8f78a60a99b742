"""The typed request that starts a run, as sent on the `control` queue."""

from __future__ import annotations

import secrets
import time

from pydantic import BaseModel, ConfigDict, Field

from chaosfleet.core.config import TargetSpec
from scenarios.model import Scenario


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class RunRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str = Field(default_factory=new_run_id, pattern=r"^[A-Za-z0-9_-]{1,40}$")
    scenario: Scenario
    target_name: str
    target: TargetSpec = Field(description="resolved at trigger time: a replay sees the same")
    trigger: str = Field(default="cli", max_length=16, description="cli, api, beat, replay")
    suite_id: str | None = Field(default=None, description="the suite this run is part of")
    replay_of: str | None = Field(default=None, description="the run this one replays")

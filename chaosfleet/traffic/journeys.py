"""What a journey step takes from its answer and hands to the next: captures and
credentials. Shared by the traffic driver and dead-letter replay.

A capture reads the small JSON-path subset of chaosfleet/core/recipes.py from one of
`body` (the JSON answer), `headers` (case-insensitive), `status` or `request`
(the payload this step sent, e.g. a generated password).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from chaosfleet.core.config import HttpTarget
from chaosfleet.core.recipes import MissingValue, lookup, parse_ref, render_template
from scenarios.model import JourneyStep

SKIPPED_AFTER_FAILURE = "earlier_step_failed"
SKIPPED_CAPTURE = "capture_failed"
INTERRUPTED = "journey_interrupted"


def reads_body(step: JourneyStep) -> bool:
    """Whether one of the step's captures reads the answer's JSON body: only then is
    a successful answer's body parsed."""
    return any(parse_ref(path).root == "body" for path in step.capture.values())


def capture_values(step: JourneyStep, status: int, body: Any, headers: Mapping[str, str],
                   sent: Any) -> dict[str, Any]:
    """The step's captures from its answer; MissingValue names the first that is
    not there (the journey cannot go on honestly without it)."""
    found = {}
    for name, path in step.capture.items():
        ref = parse_ref(path)
        steps = ref.path
        source: Any
        if ref.root == "headers":  # case-insensitive, whatever mapping the client gave
            source = {k.lower(): v for k, v in headers.items()}
            if steps and isinstance(steps[0], str):
                steps = (steps[0].lower(), *steps[1:])
        else:
            source = {"body": body, "status": status, "request": sent}[ref.root]
        try:
            found[name] = lookup(source, steps)
        except KeyError:
            raise MissingValue(f"capture {name!r}: the answer (status {status}) has no "
                               f"{path}") from None
    return found


def step_headers(step: JourneyStep, names: dict[str, Any]) -> dict[str, str]:
    return {k: str(render_template(v, names)) for k, v in step.headers.items()}


def credentials(step: JourneyStep, names: dict[str, Any], target: HttpTarget
                ) -> dict[str, str] | None:
    """The header a step's `auth` sets for the rest of its journey, if it has one."""
    auth = step.auth
    if auth is None:
        return None
    header = target.auth.name if target.auth else "Authorization"
    if auth.basic is not None:
        pair = (f"{render_template(auth.basic.user, names)}:"
                f"{render_template(auth.basic.password, names)}")
        return {header: "Basic " + base64.b64encode(pair.encode()).decode()}
    if auth.bearer is not None:
        return {header: f"Bearer {render_template(auth.bearer, names)}"}
    assert auth.header is not None and auth.value is not None
    return {auth.header: str(render_template(auth.value, names))}

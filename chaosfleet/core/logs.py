"""The fleet's logs: plain text or JSON lines (CHAOSFLEET_LOG_FORMAT), each record
carrying what it belongs to (run_id, scenario, target, fault, slice, suite_id).

Context is bound with `log_context(...)` around a task's work and travels in
contextvars, so every record logged inside it, by chaosfleet or a library, says
which run it is about. structlog's ProcessorFormatter renders stdlib records, so
Celery's own loggers and ours share one format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, merge_contextvars, reset_contextvars
from structlog.typing import EventDict, WrappedLogger

FIELDS = ("run_id", "scenario", "target", "fault", "slice", "suite_id", "caller")

_SHARED: list[Any] = [
    merge_contextvars,
    structlog.stdlib.ExtraAdder(allow=FIELDS),  # logger.info(..., extra={"caller": ...})
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _plain(_: WrappedLogger, __: str, event: EventDict) -> str:
    """One readable line: time, level, logger, message, then the context as k=v."""
    head = (f"{event.pop('timestamp', '')} {event.pop('level', '').upper():<7} "
            f"[{event.pop('logger', '')}] {event.pop('event', '')}")
    exc = event.pop("exception", None)
    context = " ".join(f"{k}={event[k]}" for k in FIELDS if k in event)
    return head + (f"  {context}" if context else "") + (f"\n{exc}" if exc else "")


def make_formatter(fmt: str) -> logging.Formatter:
    """A stdlib formatter for "text" or "json"."""
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else _plain
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer])


def use_format(logger: logging.Logger, fmt: str) -> None:
    """Give every handler of `logger` the fleet's format (Celery's setup signals
    call this for the worker's and beat's loggers)."""
    for handler in logger.handlers:
        handler.setFormatter(make_formatter(fmt))


def configure(fmt: str, level: int | str = logging.INFO) -> None:
    """For processes that are not Celery's (the API): one stderr handler on root."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields (None ones are left out) to every record logged inside."""
    tokens = bind_contextvars(**{k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        reset_contextvars(**tokens)


"""Errors the service layer raises; the HTTP layer maps each to one status."""

from dataclasses import dataclass


class TargetError(Exception):
    """Root of the reference target's own errors."""


@dataclass
class FieldProblem:
    field: str
    message: str


class ValidationFailed(TargetError):
    """Input refused before any write (-> 422 naming the fields)."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


class RetryLater(TargetError):
    """Refused for now; the client may retry after `retry_after` seconds."""

    status = 503
    label = "unavailable"

    def __init__(self, reason: str, retry_after: float = 1.0):
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


class Unavailable(RetryLater):
    """A dependency is down, slow or saturated (-> 503 with Retry-After)."""


class RateLimited(RetryLater):
    """The aggregate halt limit is reached (-> 429 with Retry-After)."""

    status = 429
    label = "rate_limited"


class NotFound(TargetError):
    """No such record (-> 404)."""


class TransientDBError(TargetError):
    """One database attempt failed in a way a retry may fix."""

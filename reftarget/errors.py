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


class Unavailable(TargetError):
    """A dependency is down, slow or saturated (-> 503 with Retry-After)."""

    def __init__(self, reason: str, retry_after: float = 1.0):
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


class RateLimited(TargetError):
    """The aggregate halt limit is reached (-> 429 with Retry-After)."""

    def __init__(self, reason: str, retry_after: float):
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


class NotFound(TargetError):
    """No such record (-> 404)."""


class TransientDBError(TargetError):
    """One database attempt failed in a way a retry may fix."""

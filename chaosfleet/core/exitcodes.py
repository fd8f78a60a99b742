"""The exit codes every `chaosfleet` command uses, so a CI step can branch on them."""

from __future__ import annotations

from enum import IntEnum

from chaosfleet.core.errors import ConfigError, NotAllowedError


class ExitCode(IntEnum):
    PASSED = 0
    FAILED = 1  # the target failed a check, or a stop condition aborted the run
    HARNESS_ERROR = 2  # the fleet itself broke: nothing was proven either way
    INVALID = 3  # invalid input or configuration: nothing ran
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: the run was cancelled and its faults reverted


def exit_code_for(exc: BaseException) -> ExitCode:
    """Bad input (a scenario, a setting, the allowlist) is 3; anything else is 2."""
    return ExitCode.INVALID if isinstance(exc, ConfigError | NotAllowedError) else \
        ExitCode.HARNESS_ERROR

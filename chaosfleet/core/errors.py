"""The root exception of chaosfleet and the few kinds callers branch on."""


class ChaosfleetError(Exception):
    """Root of every error chaosfleet raises on purpose."""


class ConfigError(ChaosfleetError):
    """Configuration or scenario input is invalid; the message names the field."""


class NotAllowedError(ChaosfleetError):
    """A target, proxy or environment is not on the allowlist."""


class HarnessError(ChaosfleetError):
    """The fleet itself broke (a service it needs is down): the verdict is `error`."""


class KillSwitchEngaged(ChaosfleetError):
    """The global kill switch is on: no fault may be applied, every run stops."""

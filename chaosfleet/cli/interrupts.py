"""Ctrl-C and SIGTERM on a command that follows a run: the first asks the fleet to
cancel (the run stops and reverts its faults), a second exits at once."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType

from chaosfleet.core.exitcodes import ExitCode

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Catches the signals for the duration of a `with` block.

    The handler only sets a flag and writes to stderr (both safe inside a signal
    handler); the polling loop that follows the run sees `reason()` and requests
    the cancel, so no Redis call ever runs re-entrantly from a handler."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = name
            _say(f"\n{name}: cancelling the run and reverting its faults "
                 "(interrupt again to exit at once)\n")
            return
        _say(f"\n{name} again: exiting now; the janitor reverts any fault left "
             "when its lease expires\n")
        raise SystemExit(ExitCode.INTERRUPTED)

    def reason(self) -> str | None:
        """The cancel reason once a signal came, else None."""
        return f"interrupted by the operator ({self.received})" if self.received else None


def _say(text: str) -> None:
    os.write(2, text.encode())

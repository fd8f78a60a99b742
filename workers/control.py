"""The fleet's own remote-control command: a worker halt storm on any host asks the
traffic worker that owns a process to signal it (faults/halts.py).

The command runs in the worker's main process, which checks that the process id
is one of its own pool's before it sends anything: a storm can only ever reach
the fleet's traffic processes, never another process on that host.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from celery.worker.control import control_command

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}


@control_command(args=[("pid", int), ("signal_name", str)], signature="<pid> <SIGKILL|SIGTERM>")
def chaosfleet_signal_pool(state: Any, pid: int, signal_name: str) -> dict[str, Any]:
    """Send `signal_name` to `pid` if it is a process of this worker's pool."""
    host = socket.gethostname()
    if signal_name not in SIGNALS:
        return {"ok": False, "host": host, "error": f"unknown signal {signal_name!r}"}
    pool = state.consumer.pool
    processes = (pool.info if pool is not None else {}).get("processes", [])
    if pid not in processes:
        return {"ok": False, "host": host, "error": f"{pid} is not a process of this pool"}
    try:
        os.kill(pid, SIGNALS[signal_name])
    except ProcessLookupError:
        return {"ok": False, "host": host, "error": f"{pid} has exited"}
    return {"ok": True, "host": host, "pid": pid}

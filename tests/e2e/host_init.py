"""PID 1 of a simulated host (tests/e2e/hosts.py): names the host, starts its
workers in its own working directory, and stops them on SIGTERM, or when the
test that started it goes away (its pipe closes)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
from pathlib import Path

from chaosfleet.cli.procs import start_workers, stop_all


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--roles", default="")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--lifeline", type=int, required=True, help="fd: EOF means stop")
    args = parser.parse_args()
    socket.sethostname(args.name)  # this UTS namespace's own
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_lifeline() -> None:
        with os.fdopen(args.lifeline, "rb") as pipe:
            pipe.read()  # returns when the test process closes its end, or dies
        stop.set()

    threading.Thread(target=watch_lifeline, daemon=True).start()
    roles = [r for r in args.roles.split(",") if r]
    workdir = Path.cwd()
    procs = start_workers(roles, "h", workdir / "logs", concurrency=args.concurrency)
    (workdir / "ready").write_text(",".join(roles))
    try:
        while not stop.wait(0.5):
            if any(p.popen.poll() is not None for p in procs):
                break  # a worker died of itself: the host is broken, say so by exiting
    finally:
        stop_all(procs, timeout=10)


if __name__ == "__main__":
    main()

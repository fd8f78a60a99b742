"""Start and stop the fleet's own processes: workers by role and the reference target.

Used by `chaosfleet demo`, `chaosfleet worker` and the end-to-end tests, so all
three start workers exactly the same way (prefork, as in production).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from kombu.exceptions import OperationalError

# role -> (queue, default processes); prefetch is 1 for all: tasks are long or urgent
ROLES: dict[str, tuple[str, int]] = {
    "control": ("control", 2),
    "traffic": ("traffic", 4),
    "faults": ("faults", 2),
}


def worker_name(role: str, tag: str) -> str:
    return f"{role}-{tag}@{socket.gethostname()}"


def worker_command(role: str, tag: str, concurrency: int | None = None,
                   loglevel: str | None = None) -> list[str]:
    """The faults worker logs at INFO by default: each fault's wait and apply time."""
    queue, default = ROLES[role]
    loglevel = loglevel or ("INFO" if role == "faults" else "WARNING")
    return [
        sys.executable, "-m", "celery", "-A", "workers", "worker",
        "-Q", queue, "-n", worker_name(role, tag), "-P", "prefork",
        "-c", str(concurrency or default), "--prefetch-multiplier", "1",
        "--without-gossip", "--without-mingle", "-l", loglevel,
    ]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after `timeout`."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash would."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.popen.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    popen = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env={**os.environ, **(env or {})})
    return Proc(name, popen, log_path)


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.popen.returncode}\n"
                               f"{proc.tail()}")
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not ready within {timeout:g}s\n{proc.tail() if proc else ''}")


def _await_ready(proc: Proc, check: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a process to be ready; one that is not is stopped, never leaked."""
    try:
        wait_until(check, timeout, what, proc)
    except BaseException:
        proc.stop(timeout=5)
        raise


def start_worker(role: str, tag: str, log_dir: Path, concurrency: int | None = None,
                 env: dict[str, str] | None = None, timeout: float = 60.0) -> Proc:
    (proc,) = start_workers([role], tag, log_dir, env, timeout, concurrency)
    return proc


def start_workers(roles: Iterable[str], tag: str, log_dir: Path,
                  env: dict[str, str] | None = None, timeout: float = 60.0,
                  concurrency: int | None = None) -> list[Proc]:
    """Start one worker per role at once, then wait until each answers a ping: the
    workers boot in parallel. A worker that does not come up stops them all."""
    from chaosfleet.celery_app import reset_broker_connections
    from workers.app import app  # the app whose connections a Redis restart resets

    roles = list(roles)
    procs = [spawn(f"worker-{role}-{tag}", worker_command(role, tag, concurrency), log_dir, env)
             for role in roles]

    def answers_ping(name: str) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return bool(app.control.ping(destination=[name], timeout=0.5))
            except (redis.RedisError, OperationalError, OSError):
                reset_broker_connections(app)  # a stale broker connection (Redis restarted)
                return False
        return check

    try:
        for role, proc in zip(roles, procs, strict=True):
            name = worker_name(role, tag)
            wait_until(answers_ping(name), timeout, f"worker {name}", proc)
    except BaseException:
        stop_all(procs, timeout=5)
        raise
    return procs


def stop_all(procs: Iterable[Proc], timeout: float = 15.0) -> None:
    """SIGTERM every process group at once, then wait; SIGKILL what is left at the
    deadline. Workers shut down in parallel instead of one after another."""
    procs = [p for p in procs if p.popen.poll() is None]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def start_reference_target(port: int, log_dir: Path, env: dict[str, str] | None = None,
                           timeout: float = 40.0) -> Proc:
    proc = spawn(f"reftarget-{port}", [sys.executable, "-m", "reftarget", "--port", str(port)],
                 log_dir, env)

    def answering() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    _await_ready(proc, answering, timeout, f"reference target on port {port}")
    return proc

"""Simulated hosts on one machine: each is a PID, UTS and mount namespace
(`unshare`) with its own host name, its own /proc view and its own working
directory, running the fleet's workers. Hosts share only the network (so Redis,
PostgreSQL and Toxiproxy on 127.0.0.1) and nothing else the fleet reads: state
dir, spool and reports are in the host's working directory.

Killing a host SIGKILLs its PID 1, which takes every process of the namespace
down at once, like a power cut.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# not from tests.conftest: the benchmarks use these hosts too, with their own settings
REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

UNSHARE = ["unshare", "--pid", "--uts", "--mount-proc", "--fork", "--kill-child"]


def require_namespaces() -> None:
    """Skip (fail under CI) where this process may not create namespaces."""
    why = None
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        why = "unshare/nsenter (util-linux) are not installed"
    elif os.geteuid() != 0:
        why = "creating PID and UTS namespaces needs root"
    else:
        probe = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10)
        if probe.returncode != 0:
            why = f"unshare refused: {probe.stderr.decode(errors='replace').strip()}"
    if why:
        if IN_CI:
            pytest.fail(f"CI=true, and the three-host test cannot run: {why}")
        pytest.skip(why)


def host_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO),
            "CHAOSFLEET_STATE_DIR": str(workdir / ".chaosfleet"),
            "CHAOSFLEET_REPORTS_DIR": str(workdir / "reports"), **(extra or {})}


@dataclass
class Host:
    name: str
    workdir: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes]
    lifeline: int  # our end of the pipe its PID 1 watches

    @property
    def init_pid(self) -> int:
        """Its PID 1, as this (the parent) namespace numbers it."""
        children = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        return int(children.read_text().split()[0])

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not (self.workdir / "ready").exists():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"host {self.name} did not come up:\n{self.logs()}")
            time.sleep(0.2)

    def logs(self, lines: int = 25) -> str:
        out = []
        for log in sorted((self.workdir / "logs").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out) or "(no logs)"

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run `chaosfleet ARGS` on this host: in its namespaces and working directory."""
        cmd = ["nsenter", f"--target={self.init_pid}", "--pid", "--uts", "--mount",
               f"--wd={self.workdir}", sys.executable, "-m", "chaosfleet.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=self.env)

    def kill(self) -> None:
        """Every process of the host at once."""
        with contextlib.suppress(ProcessLookupError, IndexError, OSError):
            os.kill(self.init_pid, signal.SIGKILL)
        self.popen.wait(timeout=20)
        self._close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.kill(self.init_pid, signal.SIGTERM)
                self.popen.wait(timeout=30)
            except (ProcessLookupError, IndexError, OSError, subprocess.TimeoutExpired):
                self.kill()
        self._close()

    def _close(self) -> None:
        if self.lifeline >= 0:
            os.close(self.lifeline)
            self.lifeline = -1


def start_host(name: str, roles: list[str], workdir: Path, extra: dict[str, str] | None = None,
               concurrency: int = 2) -> Host:
    """Start a host (do not wait: `wait_ready`); its workers' logs are in workdir/logs."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "ready").unlink(missing_ok=True)
    env = host_env(workdir, extra)
    read, write = os.pipe()
    cmd = [*UNSHARE, sys.executable, "-m", "tests.e2e.host_init", f"--name={name}",
           f"--roles={','.join(roles)}", f"--concurrency={concurrency}", f"--lifeline={read}"]
    log = (workdir / "init.log").open("ab")
    popen = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                             pass_fds=(read,), start_new_session=True)
    os.close(read)
    log.close()
    return Host(name, workdir, env, popen, write)


def run_as_host(name: str, workdir: Path, extra: dict[str, str] | None, *args: str,
                timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`chaosfleet ARGS` on a host that comes back (a new namespace, the same name
    and working directory), with no worker started."""
    script = 'hostname "$0" && exec "$@"'
    cmd = [*UNSHARE, "sh", "-c", script, name, sys.executable, "-m", "chaosfleet.cli", *args]
    return subprocess.run(cmd, cwd=workdir, env=host_env(workdir, extra), capture_output=True,
                          text=True, timeout=timeout)

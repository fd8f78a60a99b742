"""Halt storms: signals to the fleet's own traffic workers, and halt requests to
the target.

Both run as a background thread in the process that applied them, for as long
as their lease stands: releasing the lease (from any process) or its expiry
stops the thread within one tick, and killing the process stops it outright.
The thread keeps a heartbeat key alive, so any process can see a storm that is
still running.
"""

from __future__ import annotations

import abc
import logging
import math
import os
import random
import threading
import time

from chaosfleet.core import clock
from chaosfleet.core.config import HttpTarget, PythonTarget
from chaosfleet.core.presence import PoolProcess
from chaosfleet.targets.http import HttpClient
from faults.base import Fault, FaultContext, FaultError, FaultFamily, FaultReport
from faults.specs import HaltSignalStormSpec, WorkerHaltStormSpec

log = logging.getLogger("chaosfleet.faults.halts")

TICK = 0.05
BEAT_MS = 1000

_running: dict[str, threading.Event] = {}
_running_lock = threading.Lock()


class _Storm(abc.ABC):
    """The shared thread plumbing: run `tick` until the lease is gone."""

    def __init__(self, name: str):
        self.lease_id = name
        self.name = name

    def _key(self, ctx: FaultContext, what: str) -> str:
        return f"{ctx.key_prefix}:fault:{self.lease_id}:{what}"

    def _start(self, ctx: FaultContext) -> None:
        with _running_lock:
            if self.lease_id in _running:
                return
            stop = _running[self.lease_id] = threading.Event()
        threading.Thread(target=self._loop, args=(ctx, stop), name=f"storm-{self.lease_id}",
                         daemon=True).start()

    def _loop(self, ctx: FaultContext, stop: threading.Event) -> None:
        beat = self._key(ctx, "beat")
        try:
            while not stop.is_set() and ctx.lease_alive(self.lease_id):
                if ctx.redis is not None:
                    ctx.redis.set(beat, os.getpid(), px=BEAT_MS)
                self.tick(ctx)
                stop.wait(TICK)
        except Exception:
            log.exception("storm %s stopped on an error", self.lease_id)
        finally:
            with _running_lock:
                _running.pop(self.lease_id, None)
            if ctx.redis is not None:
                ctx.redis.delete(beat)

    @abc.abstractmethod
    def tick(self, ctx: FaultContext) -> None:
        """One step of the storm; called every TICK while the lease stands."""

    def revert(self, ctx: FaultContext) -> None:
        with _running_lock:
            stop = _running.get(self.lease_id)
        if stop is not None:
            stop.set()
        # elsewhere, the thread sees the lease marked releasing within one tick
        deadline = time.monotonic() + 2 * BEAT_MS / 1000
        while self._beating(ctx) and time.monotonic() < deadline:
            time.sleep(TICK)

    def _beating(self, ctx: FaultContext) -> bool:
        return ctx.redis is not None and bool(ctx.redis.exists(self._key(ctx, "beat")))

    def _counts(self, ctx: FaultContext) -> dict[str, int]:
        if ctx.redis is None:
            return {}
        raw = ctx.redis.hgetall(self._key(ctx, "counts"))
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}

    def _count(self, ctx: FaultContext, field: str) -> None:
        if ctx.redis is not None:
            ctx.redis.hincrby(self._key(ctx, "counts"), field, 1)
            ctx.redis.expire(self._key(ctx, "counts"), 86_400)

    def validate(self, ctx: FaultContext) -> None:
        return None


class WorkerHaltStorm(_Storm):
    """Per interval, sends SIGKILL or SIGTERM to one of the fleet's traffic pool
    processes, on each host in turn (the process chosen by a generator seeded with
    the lease id; signalled by the worker that owns it), or restarts every traffic
    worker's pool (children exit after their slice in hand and are replaced)."""

    def __init__(self, spec: WorkerHaltStormSpec, name: str):
        super().__init__(name)
        self.spec = spec
        self._rng = random.Random(name)
        self._next = 0.0
        self._picked = 0

    def apply(self, ctx: FaultContext) -> None:
        self._start(ctx)

    def tick(self, ctx: FaultContext) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.spec.every
        if self.spec.signal == "pool_restart":
            self._restart_pools(ctx)
            return
        processes = ctx.traffic_processes()
        if not processes:
            self._count(ctx, "no_worker")
            return
        process = self._pick(processes)
        if not ctx.signal_traffic_process(process, self.spec.signal):
            self._count(ctx, "missed")  # exited meanwhile, or its worker did not answer
            return
        self._count(ctx, "signals")
        self._count(ctx, f"host:{process.host}")
        if ctx.redis is not None:
            ctx.redis.sadd(self._key(ctx, "hit"), f"{process.host}/{process.pid}")
            ctx.redis.expire(self._key(ctx, "hit"), 86_400)
        log.warning("halt storm %s: %s to traffic process %d on %s", self.lease_id,
                    self.spec.signal, process.pid, process.host)

    def _pick(self, processes: list[PoolProcess]) -> PoolProcess:
        """Hosts in turn, then a process of that host at random: a storm of n halts
        reaches min(n, hosts) hosts whatever their sizes."""
        hosts = sorted({p.host for p in processes})
        host = hosts[self._picked % len(hosts)]
        self._picked += 1
        return self._rng.choice([p for p in processes if p.host == host])

    def _restart_pools(self, ctx: FaultContext) -> None:
        asked = ctx.restart_traffic_pools()
        self._count(ctx, "signals" if asked else "no_worker")
        if asked:
            log.warning("halt storm %s: pool restart of %d traffic workers", self.lease_id, asked)

    def inspect(self, ctx: FaultContext) -> FaultReport:
        counts = self._counts(ctx)
        signals = counts.get("signals", 0)
        hosts = {k.removeprefix("host:"): v for k, v in counts.items() if k.startswith("host:")}
        hit = ctx.redis.scard(self._key(ctx, "hit")) if ctx.redis is not None else 0
        report = FaultReport(measured={"signals": signals, "processes": hit, "hosts": hosts})
        if self._beating(ctx):
            report.residue.append(f"halt storm {self.lease_id} is still running")
        where = (f" to {hit} traffic processes on {len(hosts)} host(s) ("
                 + ", ".join(f"{h}: {n}" for h, n in sorted(hosts.items())) + ")"
                 if hosts else " to traffic workers")
        missed = [f"{counts[k]} ticks {why}" for k, why in
                  (("no_worker", "found none"), ("missed", "missed their process"))
                  if counts.get(k)]
        report.checks.append((
            "halt storm reached the workers", signals > 0,
            f"{signals} {self.spec.signal} sent{where}"
            + (f"; {'; '.join(missed)}" if missed else "")))
        return report

    def describe(self) -> str:
        if self.spec.signal == "pool_restart":
            return f"traffic pool restart every {self.spec.every:g}s"
        return f"{self.spec.signal} to a traffic process every {self.spec.every:g}s"


class HaltSignalStorm(_Storm):
    """Calls the target's halt operation at a fixed rate. Each response is counted:
    accepted (2xx), limited (429), rejected (other 4xx), failed (5xx or no answer)."""

    def __init__(self, spec: HaltSignalStormSpec, name: str,
                 target: HttpTarget | PythonTarget | None):
        super().__init__(name)
        self.spec = spec
        self.target = target
        self._sent = 0
        self._started = 0.0
        self._http: list[HttpClient] = []

    def _endpoint(self) -> HttpTarget:
        if not isinstance(self.target, HttpTarget):
            raise FaultError("halt_signal_storm needs an http target")
        if self.spec.operation not in self.target.operations:
            raise FaultError(f"target declares no operation {self.spec.operation!r} "
                             f"(has: {sorted(self.target.operations)})")
        return self.target

    def validate(self, ctx: FaultContext) -> None:
        self._endpoint()

    def apply(self, ctx: FaultContext) -> None:
        self._endpoint()
        self._start(ctx)

    def tick(self, ctx: FaultContext) -> None:
        if not self._http:  # the target's auth on every halt; every instance in turn
            self._http = [HttpClient(t) for t in self._endpoint().each_instance()]
            self._started = time.monotonic()
        due = int((time.monotonic() - self._started) * self.spec.rate) + 1
        while self._sent < due:
            self._sent += 1
            body = {"component": self.spec.component,
                    "reason": f"chaosfleet {self.lease_id} #{self._sent}"}
            client = self._http[self._sent % len(self._http)]
            reply = client.call(self.spec.operation, body, f"{self.lease_id}-h{self._sent}")
            self._record(ctx, reply.status or 0)

    def _record(self, ctx: FaultContext, status: int) -> None:
        if 200 <= status < 300:
            self._count(ctx, "accepted")
            if ctx.redis is not None:  # per-window counts for the report
                window = math.floor(clock.now() / self.spec.expect.per)
                self._count(ctx, f"w{window}")
        elif status == 429:
            self._count(ctx, "limited")
        elif 400 <= status < 500:
            self._count(ctx, "rejected")
        else:
            self._count(ctx, "failed")

    def inspect(self, ctx: FaultContext) -> FaultReport:
        counts = self._counts(ctx)
        windows = {k: v for k, v in counts.items() if k.startswith("w")}
        accepted = counts.get("accepted", 0)
        # The bound is per window; the storm may straddle a boundary, so the total
        # allowed is the bound times the windows it touched (no clock race there).
        allowed = self.spec.expect.max_accepted * max(1, len(windows))
        report = FaultReport(measured={
            "accepted": accepted, "limited": counts.get("limited", 0),
            "rejected": counts.get("rejected", 0), "failed": counts.get("failed", 0),
            "max_accepted_per_window": max(windows.values(), default=0),
        })
        sent = sum(counts.get(k, 0) for k in ("accepted", "limited", "rejected", "failed"))
        report.checks.append((
            "halt storm capped", accepted <= allowed and sent > 0,
            f"{accepted} of {sent} halts accepted over {len(windows) or 1} window(s) "
            f"of {self.spec.expect.per:g}s; at most {allowed} allowed"))
        if self._beating(ctx):
            report.residue.append(f"halt storm {self.lease_id} is still running")
        return report

    def describe(self) -> str:
        spread = (f" across {1 + len(self.target.instances)} instances"
                  if isinstance(self.target, HttpTarget) and self.target.instances else "")
        return f"{self.spec.rate:g} halts/s to {self.spec.operation}{spread}"


def build(spec: WorkerHaltStormSpec | HaltSignalStormSpec, name: str,
          target: HttpTarget | PythonTarget | None = None) -> Fault:
    if isinstance(spec, WorkerHaltStormSpec):
        return WorkerHaltStorm(spec, name)
    return HaltSignalStorm(spec, name, target)


FAMILY = FaultFamily("halts", (WorkerHaltStormSpec, HaltSignalStormSpec), build)

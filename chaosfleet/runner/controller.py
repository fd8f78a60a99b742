"""The run controller: from a validated request to a verdict and a journal.

It runs in a `control` worker. Traffic slices go to the `traffic` queue and
fault apply/revert to the `faults` queue through a Dispatcher, so the
controller never waits behind traffic and can be exercised without Celery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import redis
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from catalogue.dlq import parse_filter, summarise_dead_letters
from catalogue.failures import defects_of_run
from catalogue.journals import store_journal
from catalogue.ledger import count_ok, ledger_totals, record_lost, recorded_op_ids
from catalogue.matching import Matcher
from catalogue.modes import load_catalogue
from catalogue.runs import get_run, record_run_finished, record_run_started
from catalogue.warnings import current_warnings
from chaosfleet.core import clock
from chaosfleet.core.config import FleetConfig, check_allowed
from chaosfleet.core.errors import ChaosfleetError, HarnessError, NotAllowedError
from chaosfleet.core.outcomes import Outcome
from chaosfleet.core.presence import config_hash, read_presence, traffic_processes
from chaosfleet.core.settings import Settings
from chaosfleet.runner import journal
from chaosfleet.runner.analysis import (
    Check,
    FaultReport,
    Verdict,
    judge,
    judge_harness_lag,
    lag_histogram,
)
from chaosfleet.runner.catalogue import (
    await_recording,
    record_run_failures,
    summarise,
    track_recovery,
)
from chaosfleet.runner.contracts import (
    check_acknowledged,
    check_backoff,
    check_budget,
    check_duplicates,
)
from chaosfleet.runner.effects import count_effects
from chaosfleet.runner.malformed import accepted_examples, coverage_warning
from chaosfleet.runner.malformed import by_field as malformed_by_field
from chaosfleet.runner.minimise import minimise_crashes
from chaosfleet.runner.probes import ProbeMonitor, ProbeSample, check_probe, probe_failing_for
from chaosfleet.runner.replay import replay_dead_letters
from chaosfleet.runner.request import RunRequest
from chaosfleet.runner.state import FaultPhase, FaultStatus, RunState, SliceStatus
from chaosfleet.traffic.cursor import planned_ops
from chaosfleet.traffic.plan import (
    MUTATED_KEY_MARK,
    FaultMark,
    MalformedWindow,
    SlicePlan,
    split_traffic,
)
from chaosfleet.traffic.stats import (
    OVER_BUDGET,
    Second,
    count_backoff,
    count_mutations,
    count_not_sent,
    parse_stats,
)
from faults.control import FaultControl, fault_of
from faults.leases import Lease
from faults.proxies import ensure_proxies
from scenarios.loader import check_against_target

log = logging.getLogger("chaosfleet.runner")

TICK = 0.1
DISPATCH_LEAD = 1.0  # send a slice this long before it is due
FALLBACK_FANOUT = 2  # slices per window when no traffic worker has announced itself
CONFIRM_WITHIN = 5.0  # a fault must be taken by a worker (or reverted) within this bound
APPLY_WITHIN = 20.0  # once taken, applied within this (the apply task's soft time limit)
RECORDING_WAIT = 60.0  # for spooled records to be backfilled before the ledger is balanced
STEADY_STATE_WAIT = 10.0  # how long the target may take to look healthy before the run


class Dispatcher(Protocol):
    def send_slice(self, plan: SlicePlan) -> None: ...

    def send_apply(self, lease: Lease) -> None: ...

    def send_revert(self, lease_id: str) -> None: ...


class Aborted(ChaosfleetError):
    """A stop condition, the kill switch or a cancel ended the run."""


@dataclass
class FaultSlot:
    index: int
    lease: Lease
    start: float  # absolute epoch seconds
    end: float
    describe: str
    sent_at: float | None = None  # apply sent to the faults queue
    received_at: float | None = None  # a faults worker took it (seen by the controller)
    applied_at: float | None = None
    reverted_at: float | None = None
    revert_sent: bool = False
    reverted_by: str = ""


@dataclass
class RunOutcome:
    verdict: Verdict
    reason: str
    checks: list[Check] = field(default_factory=list)
    journal_path: str | None = None


@dataclass(frozen=True)
class Observation:
    """The run as it was seen, taken once traffic is over: the per-second series
    from the stats hash, the probe samples, and the checks and fault reports judged
    from them. The verdict, the catalogue and the journal all read this one."""

    series: list[Second]
    errors: dict[str, int]
    not_sent: int
    samples: list[ProbeSample]
    checks: list[Check]
    fault_reports: list[FaultReport]


class RunController:
    def __init__(
        self,
        request: RunRequest,
        settings: Settings,
        config: FleetConfig,
        client: redis.Redis,
        faults: FaultControl,
        dispatcher: Dispatcher,
        engine: Engine,
        on_journal: Callable[[Path], object] | None = None,
    ):
        """`on_journal(path)` reads the journal once it is written (the worker task
        renders the HTML report from it) before the run is marked done."""
        self.request = request
        self.scenario = request.scenario
        self.settings = settings
        self.config = config
        self.faults = faults
        self.dispatcher = dispatcher
        self.engine = engine
        self.on_journal = on_journal
        self.state = RunState(client, settings.key_prefix, request.run_id)
        self.slots: list[FaultSlot] = []
        self.plans: list[SlicePlan] = []
        self.dispatched: set[int] = set()  # indices of the slices sent so far
        self.t0 = 0.0
        self.fanout = self.settings.traffic_concurrency or FALLBACK_FANOUT  # slices per window
        self.monitor: ProbeMonitor | None = None
        self.notes: list[str] = []
        self.recovery_checks: list[Check] = []
        self.observation: Observation | None = None  # taken once traffic is over
        self.extras: dict[str, Any] = {}  # journal sections: dead-letter replay, effects

    # -- the whole run

    def execute(self) -> RunOutcome:
        req = self.request
        if not self.state.claim():
            return self._redelivered()
        self.state.set_progress(phase="validate", scenario=self.scenario.name, verdict="")
        record_run_started(self.engine, req.run_id, self.scenario.name, req.target_name,
                           self.scenario.seed, req.trigger,
                           self.scenario.model_dump(mode="json", by_alias=True),
                           req.target.model_dump(mode="json"))
        aborted = False
        try:
            outcome = self._run()
        except Aborted as exc:
            outcome = RunOutcome(Verdict.ABORTED, str(exc))
            aborted = True
        except NotAllowedError as exc:
            outcome = RunOutcome(Verdict.ERROR, f"refused: {exc}")
        except (ChaosfleetError, redis.RedisError) as exc:
            outcome = RunOutcome(Verdict.ERROR, f"harness error: {exc}")
        except Exception as exc:  # never let a harness bug read as a verdict on the target
            log.exception("run %s crashed", req.run_id)
            outcome = RunOutcome(Verdict.ERROR, f"harness error: {type(exc).__name__}: {exc}")
        finally:
            self._revert_everything()
            if self.monitor:
                self.monitor.stop()
        if aborted:
            self._settle_after_abort()
        try:
            outcome.journal_path = self._write_journal(outcome)
        except Exception as exc:  # a verdict is still owed: the trigger waits for one
            log.exception("run %s: the journal could not be written", req.run_id)
            outcome = RunOutcome(Verdict.ERROR, f"harness error: the journal could not be "
                                 f"written: {type(exc).__name__}: {exc}")
        record_run_finished(self.engine, req.run_id, outcome.verdict, outcome.reason,
                            outcome.journal_path)
        self.state.set_progress(phase="done", verdict=outcome.verdict, reason=outcome.reason,
                                journal=outcome.journal_path or "")
        return outcome

    def _redelivered(self) -> RunOutcome:
        """A controller died mid-run and the task came back: never re-run the chaos;
        revert what is left and end the run as a harness error. A run that finished
        (a late redelivery) keeps its verdict."""
        finished = get_run(self.engine, self.request.run_id)
        if finished is not None and finished.finished_at is not None:
            return RunOutcome(Verdict(finished.status), finished.reason,
                              journal_path=finished.journal_path)
        for lease in self.faults.leases.active():
            if lease.run_id == self.request.run_id:
                self.faults.revert(lease)
        self.state.request_stop("controller lost")
        reason = "harness error: the run's controller was lost mid-run"
        record_run_finished(self.engine, self.request.run_id, Verdict.ERROR, reason, None)
        self.state.set_progress(phase="done", verdict=Verdict.ERROR, reason=reason)
        return RunOutcome(Verdict.ERROR, reason)

    def _run(self) -> RunOutcome:
        target = self.request.target
        check_against_target(self.scenario, target)
        check_allowed(self.config, self.request.target_name, self.scenario.proxies,
                      self.settings.allow_production)
        self._survey_fleet()
        self._check_stop()
        self.state.set_progress(phase="prepare")
        self._ensure_proxies()
        self.state.set_progress(phase="steady-state")
        before = self._steady_state_before()
        if before is not None:
            return RunOutcome(Verdict.FAILED, before)
        self._plan()
        for slot in self.slots:  # before any traffic: a fault that cannot act is a harness error
            fault_of(slot.lease).validate(self.faults.ctx)
        self.monitor = ProbeMonitor(target, self.scenario.monitored_probes)
        self.monitor.start()
        self.state.set_progress(phase="traffic", started_at=self.t0,
                                duration=self.scenario.traffic.duration)
        self._drive()
        self.state.set_progress(phase="draining")
        self._await_slices()
        self.monitor.stop()
        self.state.set_progress(phase="recovery checks")
        self._check_harness_lag()
        self._inspect_faults()
        self._check_malformed()
        self._check_contracts()
        self._check_replay_and_effects()
        self._check_defects()
        self.observation = self._observe(self.state.stats())
        outcome = self._verdict(self.observation)
        self._record_catalogue(outcome, self.observation)
        return outcome

    # -- phases

    def _survey_fleet(self) -> None:
        """Read the workers' announcements (chaosfleet/core/presence.py): refuse a
        fleet whose workers loaded different configs, size each time window to the
        traffic processes there are, and note any host whose clock is off."""
        workers = read_presence(self.state.client, self.settings.key_prefix)
        mine = config_hash(self.config)
        if differ := [w for w in workers if w.config_hash != mine]:
            raise HarnessError(
                "workers disagree on the fleet config: " + ", ".join(
                    f"{w.node} has {w.config_hash}" for w in differ[:5])
                + f"; this run's controller has {mine}. Restart every worker with the "
                  "same config file (CHAOSFLEET_CONFIG_PATH)")
        processes = traffic_processes(workers)
        # a window's slices start while the last window's finish: half the processes each
        self.fanout = (self.settings.traffic_concurrency
                       or (max(1, processes // 2) if processes else FALLBACK_FANOUT))
        for w in workers:
            if w.skew is not None and abs(w.skew) > clock.SKEW_WARN:
                self.notes.append(
                    f"clock skew: {w.node} on {w.host} is {w.skew:+.1f}s from Redis; the "
                    "fleet keeps time by Redis, so leases and send times are unaffected")
        self.extras["fleet"] = {
            "hosts": sorted({w.host for w in workers}),
            "traffic_processes": processes, "slices_per_window": self.fanout,
            "config_hash": mine,
            "workers": [w.model_dump(mode="json", exclude={"pool", "seen_at"})
                        for w in workers]}

    def _ensure_proxies(self) -> None:
        """From the request's own target declaration, which may differ from the config
        file (a replay, a test variant)."""
        ensure_proxies(self.faults.ctx.toxiproxy, self.request.target,
                       self.config.allowlist.proxies)

    def _steady_state_before(self) -> str | None:
        deadline = time.monotonic() + STEADY_STATE_WAIT
        while True:
            samples = [check_probe(self.request.target, p)
                       for p in self.scenario.steady_state.probes]
            failing = [f"{s.probe} ({s.detail})" for s in samples if not s.ok]
            if not failing:
                return None
            if time.monotonic() > deadline:
                return f"steady state did not hold before any fault: {', '.join(failing)}"
            self._check_stop()
            time.sleep(0.5)

    def _plan(self) -> None:
        s, traffic = self.settings, self.scenario.traffic
        self.t0 = clock.now() + DISPATCH_LEAD
        for i, spec in enumerate(self.scenario.faults):
            start, end = self.t0 + spec.start, self.t0 + spec.start + spec.duration
            lease = Lease(id=f"{self.request.run_id}-f{i}", run_id=self.request.run_id,
                          spec=spec, expires_at=end + s.lease_grace, target=self.request.target)
            self.slots.append(FaultSlot(i, lease, start, end, fault_of(lease).describe()))
        marks = [FaultMark(start=slot.start, end=slot.end, label=f"fault {slot.index}: "
                           f"{slot.describe}") for slot in self.slots]
        # the slices carry the windows of every fault that shapes traffic
        malformed = [MalformedWindow.model_validate(
                         {"start": slot.start, "end": slot.end, "spec": slot.lease.spec})
                     for slot in self.slots if slot.lease.spec.shapes_traffic]
        target = self.request.target
        if traffic.timeout is not None:  # the fleet's own deadline for this scenario
            target = target.model_copy(update={"timeout": traffic.timeout})
        self.plans = split_traffic(
            self.request.run_id, self.t0, traffic.duration, traffic.rate, traffic.concurrency,
            self.scenario.seed, traffic.operations, target, s.slice_seconds,
            self.fanout, scenario=self.scenario.name, fault_marks=marks,
            malformed=malformed, journeys=traffic.journeys,
        )

    def _drive(self) -> None:
        """Dispatch slices and faults on time until traffic ends and every fault is off."""
        pending = list(self.plans)
        end = self.t0 + self.scenario.traffic.duration
        last_progress = 0.0
        while pending or clock.now() < end or any(s.reverted_at is None for s in self.slots):
            now = clock.now()
            while pending and pending[0].starts_at - DISPATCH_LEAD <= now:
                plan = pending.pop(0)
                self.dispatcher.send_slice(plan)
                self.dispatched.add(plan.index)
            for slot in self.slots:
                self._step_fault(slot, now)
            if now - last_progress >= 1.0:
                last_progress = now
                self._report_progress(now)
                self._check_stop_conditions(now)
            self._check_stop()
            time.sleep(TICK)

    def _step_fault(self, slot: FaultSlot, now: float) -> None:
        status = self.state.fault_status(slot.lease.id)
        if slot.applied_at is None and now >= slot.start:
            if status is None:
                # marked before sending: a faults worker can take the message and mark
                # it "applied" before send_apply returns, and "sent" written after that
                # would hide the apply (the run then failed: "not taken within 5s")
                self.state.mark_fault(slot.lease.id, FaultStatus(FaultPhase.SENT))
                self.dispatcher.send_apply(slot.lease)
                slot.sent_at = now
            elif status.phase is FaultPhase.APPLIED:
                lease = self.faults.leases.get(slot.lease.id)
                slot.applied_at = (lease.applied_at if lease else None) or now
                slot.received_at = slot.received_at or slot.applied_at
            elif status.phase is FaultPhase.ERROR:
                raise HarnessError(f"fault {slot.index} ({slot.describe}) failed: {status}")
            elif status.phase is FaultPhase.RECEIVED:
                slot.received_at = slot.received_at or now
                if now - slot.received_at > APPLY_WITHIN:
                    raise HarnessError(
                        f"fault {slot.index} ({slot.describe}) was taken by a faults worker "
                        f"{slot.received_at - slot.start:.1f}s after its start but still not "
                        f"applied {APPLY_WITHIN:g}s later: see the faults worker's log")
            elif now - slot.start > CONFIRM_WITHIN:
                raise HarnessError(
                    f"fault {slot.index} ({slot.describe}) was not taken by any faults worker "
                    f"within {CONFIRM_WITHIN:g}s: is one consuming the faults queue, and is "
                    "anything else holding its processes?")
            return
        if slot.applied_at is not None and slot.reverted_at is None and now >= slot.end:
            if not slot.revert_sent:
                self.dispatcher.send_revert(slot.lease.id)
                slot.revert_sent = True
            if self.faults.leases.get(slot.lease.id) is None:
                slot.reverted_at, slot.reverted_by = now, "faults worker"
            elif now - slot.end > CONFIRM_WITHIN:
                self.faults.revert(slot.lease)  # the fault worker is gone: do it here
                slot.reverted_at, slot.reverted_by = clock.now(), "controller fallback"
                self.notes.append(f"fault {slot.index} reverted by the controller's fallback")

    def _report_progress(self, now: float) -> None:
        series, _ = parse_stats(self.state.stats())
        recent = [s for s in series if now - self.t0 - 3 <= s.t < now - self.t0]
        ops = sum(s.total for s in recent)
        errors = sum(s.counts.get(Outcome.ERROR, 0) + s.counts.get(Outcome.TIMEOUT, 0)
                     for s in recent)
        active = [s.describe for s in self.slots if s.applied_at and not s.reverted_at]
        self.state.set_progress(
            elapsed=round(now - self.t0, 1), ops_total=sum(s.total for s in series),
            ops_per_s=round(ops / 3, 1), error_rate=round(errors / ops, 3) if ops else 0,
            active_faults="; ".join(active),
        )

    def _check_stop_conditions(self, now: float) -> None:
        series, _ = parse_stats(self.state.stats())
        done = [s for s in series if s.t < int(now - self.t0)]  # complete seconds only
        samples = self.monitor.samples if self.monitor else []
        for cond in self.scenario.stop_conditions:
            if cond.probe_failing is not None:
                tripped = probe_failing_for(samples, cond.probe_failing, cond.for_, now)
            else:
                span = int(cond.for_)
                last = done[-span:] if len(done) >= span else []
                tripped = bool(last) and all(
                    s.total and (s.error_rate or 0.0) >= (cond.max_error_rate or 0) for s in last)
            if tripped:
                raise Aborted(f"stop condition: {cond.describe()}")

    def _check_stop(self) -> None:
        if self.faults.kill_switch_engaged():
            raise Aborted("kill switch engaged")
        if reason := self.state.stop_reason():
            raise Aborted(f"stopped: {reason}")

    def _await_slices(self) -> None:
        """Wait for every slice, close the books, then fail loudly on what is missing."""
        grace = self.settings.slice_seconds + self.request.target.timeout + 30
        deadline = clock.now() + grace
        while clock.now() < deadline and len(self.state.slices()) < len(self.plans):
            self._check_stop()
            time.sleep(0.2)
        statuses = self.state.slices()
        missing = [p.index for p in self.plans if p.index not in statuses]
        failed = {i: str(s) for i, s in statuses.items() if not s.done}
        self.extras["recording"] = await_recording(
            self.state.client, self.settings.key_prefix, self.request.run_id,
            RECORDING_WAIT, self._check_stop)
        lost = self._balance_ledger(statuses)
        if missing:
            raise HarnessError(
                f"{len(missing)} of {len(self.plans)} traffic slices never finished "
                f"(first: {missing[:10]}; {lost} operations lost): is a traffic worker "
                f"running, with at least {self.fanout * 2} processes?")
        if failed:
            raise HarnessError(f"traffic slices failed ({lost} operations lost): "
                               f"{dict(list(failed.items())[:5])}")
        if lost:
            raise HarnessError(f"{lost} operations were sent but have no outcome (lost)")

    def _settle_after_abort(self) -> None:
        """An aborted run still closes its books, after its faults are reverted: the
        slices see the stop key and end, and every operation they sent gets its one
        ledger outcome (the missing ones recorded `lost`). Bounded; never raises."""
        if not self.dispatched:
            return
        deadline = clock.now() + self.settings.slice_seconds + self.request.target.timeout + 10
        try:
            while clock.now() < deadline and not self.dispatched <= set(self.state.slices()):
                time.sleep(0.2)
            self.extras["recording"] = await_recording(
                self.state.client, self.settings.key_prefix, self.request.run_id,
                min(RECORDING_WAIT, max(1.0, deadline - clock.now())), lambda: None)
            lost = self._balance_ledger(self.state.slices())
            if lost:
                self.notes.append(f"{lost} operations sent before the abort have no outcome "
                                  "(recorded lost)")
        except (ChaosfleetError, redis.RedisError) as exc:
            self.notes.append(f"the ledger of the aborted run was not balanced: {exc}")

    def _balance_ledger(self, statuses: dict[int, SliceStatus]) -> int:
        """Every operation sent must have exactly one ledger outcome; the ones without
        are recorded as `lost`. Returns how many were lost."""
        lost_total = 0
        for plan in self.plans:
            status = statuses.get(plan.index)
            sent = (status.issued if status is not None and status.done
                    else self.state.high_water(plan.index))
            recorded = recorded_op_ids(self.engine, plan.run_id, plan.index)
            owed = (op_id for op in islice(planned_ops(plan), sent) for op_id in op.op_ids)
            lost = [(plan.index, op_id) for op_id in owed if op_id not in recorded]
            record_lost(self.engine, plan.run_id, plan.scenario, lost, clock.now())
            lost_total += len(lost)
        return lost_total

    def _check_harness_lag(self) -> None:
        """The fleet measures itself: if its slices woke up late to send (a starved
        CPU), the per-second series is not the target's and no check can be trusted:
        the run is a harness error, never `failed`. A worker halt storm makes the
        fleet late on purpose, so there it is only reported."""
        hist = lag_histogram(self.state.stats())
        if not hist:
            return
        slowed = any(s.lease.spec.slows_the_fleet for s in self.slots)
        self.extras["harness"], problem = judge_harness_lag(hist, exempt=slowed)
        if problem:
            raise HarnessError(problem)

    def _inspect_faults(self) -> None:
        """Each reverted fault must have left nothing behind; each family adds the
        checks of its own recovery path (a halt storm was capped, ...)."""
        measured: list[dict[str, Any]] = []
        for slot in self.slots:
            report = fault_of(slot.lease).inspect(self.faults.ctx)
            label = f"fault {slot.index}"
            self.recovery_checks.append(Check(
                f"{label}: nothing left behind", not report.residue,
                "; ".join(report.residue) if report.residue else "reverted without residue"))
            self.recovery_checks += [Check(f"{label}: {name}", passed, detail)
                                     for name, passed, detail in report.checks]
            if report.measured:
                measured.append({"fault": slot.index, **report.measured})
        if measured:
            self.extras["fault_measurements"] = measured

    def _check_malformed(self) -> None:
        """Every malformed input must be rejected with a 4xx naming what was wrong,
        leave no write behind, and any that crashed the target is minimised."""
        if not any(p.malformed for p in self.plans):
            return
        table = count_mutations(self.state.stats())
        totals: dict[str, int] = {}
        for row in table.values():
            for verdict, n in row.items():
                totals[verdict] = totals.get(verdict, 0) + n
        sent = sum(totals.values())
        good = totals.get("rejected", 0)
        by_field = count_mutations(self.state.stats(), "f")
        self.extras["malformed"] = {"by_mutation": table, "by_field": by_field,
                                    "totals": totals}
        bad = ", ".join(f"{n} {v}" for v, n in sorted(totals.items()) if v != "rejected")
        where = "; ".join(f"{field}: " + ", ".join(f"{n} {v}" for v, n in sorted(row.items())
                                                  if v != "rejected")
                          for field, row in by_field.items() if set(row) - {"rejected"})
        self.recovery_checks.append(Check(
            "malformed inputs rejected", sent > 0 and good == sent,
            f"{good} of {sent} rejected with a 4xx naming the field"
            + (f"; {bad}" if bad else "") + (f" (by field: {where})" if where else "")))
        effects = count_effects(self.request.target,
                                f"{self.request.run_id}-{MUTATED_KEY_MARK}-")
        if effects is not None:
            self.recovery_checks.append(Check(
                "no partial writes from malformed inputs", effects["rows"] == 0,
                f"{effects['rows']} rows written by malformed requests"))
        crashes = minimise_crashes(self.engine, self.request.run_id, self.plans)
        if crashes:
            self.extras["malformed"]["crashes"] = crashes
        accepted = (accepted_examples(self.engine, self.request.run_id, self.plans)
                    if totals.get("accepted") else {})
        self.extras["malformed"]["fields"] = malformed_by_field(by_field, crashes, accepted)
        if warning := coverage_warning(by_field):
            self.notes.append(warning)

    def _check_contracts(self) -> None:
        """What the target keeps whatever its dependencies do (runner/contracts.py):
        a 429/503 says when to come back, or every client retries at once into the
        recovering target; answers stay within the declared budget."""
        raw = self.state.stats()
        table = count_backoff(raw)
        if table and self.scenario.during_fault.retry_after:
            self.extras["backoff"] = {str(status): row for status, row in table.items()}
            self.recovery_checks.append(check_backoff(table))
        if (budget := self.request.target.budget) is not None:
            self.recovery_checks.append(check_budget(int(raw.get(OVER_BUDGET, 0)), budget))

    def _check_replay_and_effects(self) -> None:
        """Replay the run's dead letters if the scenario asks (each must succeed now
        that the faults are gone), then audit the target's effects: none twice, and
        none acknowledged but missing."""
        run_id = self.request.run_id
        if self.scenario.recovery.replay_dead_letters:
            summary = replay_dead_letters(self.engine, parse_filter(run_id=run_id))
            self.extras["replay"] = {"replayed": summary.replayed, "ok": summary.ok,
                                     "failed": summary.failed}
            self.recovery_checks.append(Check(
                "dead letters replayed", summary.failed == 0,
                f"{summary.ok} of {summary.replayed} replayed successfully after the faults"))
        effects = count_effects(self.request.target, f"{run_id}-")
        if effects is None:
            return
        check, duplicates = check_duplicates(effects)
        self.extras["effects"] = {**effects, "duplicates": duplicates}
        self.recovery_checks.append(check)
        if marked := self.request.target.effect_operations():
            acked = count_ok(self.engine, run_id, marked)
            check, counts = check_acknowledged(acked, effects["keys"], marked)
            self.extras["effects"].update(counts)
            self.recovery_checks.append(check)

    def _actual_windows(self) -> list[tuple[float, float]]:
        """Each fault from when it was applied to when it was reverted (seconds after
        traffic start); the schedule stands in only for a time never confirmed."""
        return [((slot.applied_at or slot.start) - self.t0,
                 (slot.reverted_at or slot.end) - self.t0) for slot in self.slots]

    def deadline_ms(self) -> float:
        """The fleet's own deadline per operation: latencies at it are cut off."""
        return 1000 * (self.scenario.traffic.timeout or self.request.target.timeout)

    def _observe(self, raw: dict[str, int]) -> Observation:
        """Read the run once: every later step works from this observation."""
        series, errors = parse_stats(raw)
        samples = self.monitor.samples if self.monitor else []
        checks, reports = (judge(self.scenario, series, samples, self.t0,
                                 [s.describe for s in self.slots], self._actual_windows(),
                                 self.deadline_ms())
                           if self.t0 else ([], []))  # no traffic ran: nothing to judge
        return Observation(series, errors, count_not_sent(raw), samples, checks, reports)

    def _verdict(self, seen: Observation) -> RunOutcome:
        checks = seen.checks + self.recovery_checks
        failed = [c for c in checks if not c.passed]
        if failed:
            return RunOutcome(Verdict.FAILED, "; ".join(f"{c.name}: {c.detail}" for c in failed),
                              checks)
        return RunOutcome(Verdict.PASSED, "every check passed", checks)

    def _check_defects(self) -> None:
        """A failure the catalogue knows as a defect (a broken recovery path, such as
        a critical event shed) fails the run, whichever check would also catch it."""
        defects = defects_of_run(self.engine, self.request.run_id)
        self.recovery_checks.append(Check(
            "no defects in the failure catalogue", not defects,
            ", ".join(f"{n} {mode}" for mode, n in sorted(defects.items()))
            if defects else "no failure matched a defect mode"))

    def _record_catalogue(self, outcome: RunOutcome, seen: Observation) -> None:
        """Run-level failures, then each fault's recovery result on the failures of
        its window; the journal gets the run's matches and misses."""
        failed = [c.name for c in outcome.checks if not c.passed]
        ledger = ledger_totals(self.engine, self.request.run_id)
        record_run_failures(self.engine, self._matcher(), self.request.run_id,
                            self.scenario.name, ledger, self.extras.get("effects"),
                            self.extras.get("fault_measurements", []), failed)
        windows = self._actual_windows()
        next_starts = [min((s for s, _ in windows if s >= end),
                           default=self.scenario.traffic.duration) for _, end in windows]
        track_recovery(self.engine, self.request.run_id, self.scenario.name, seen.fault_reports,
                       self.t0, self.scenario.recovery.within, next_starts)
        self.extras["catalogue"] = summarise(self.engine, self.request.run_id)
        self.extras["dead_letters"] = summarise_dead_letters(self.engine, self.request.run_id)
        self.extras["warnings"] = current_warnings(self.engine)

    def _matcher(self) -> Matcher:
        return Matcher(load_catalogue(self.settings.catalogue_path))

    def _revert_everything(self) -> None:
        """Whatever happened, no fault of this run outlives it."""
        try:
            for lease in self.faults.leases.active():
                if lease.run_id == self.request.run_id:
                    self.faults.revert(lease)
                    for slot in self.slots:
                        if slot.lease.id == lease.id and slot.reverted_at is None:
                            slot.reverted_at, slot.reverted_by = clock.now(), "run cleanup"
            self.state.request_stop("run finished")
        except (ChaosfleetError, redis.RedisError) as exc:
            log.error("cleanup of run %s incomplete (the janitor will finish it): %s",
                      self.request.run_id, exc)

    def _write_journal(self, outcome: RunOutcome) -> str | None:
        """The journal is the run's record; reports are rendered from it by whoever
        reads it (the worker task renders the HTML next to it)."""
        seen = self.observation
        if seen is None:  # the run ended early: observe what there is
            try:
                raw = self.state.stats()
            except redis.RedisError:
                raw = {}
            seen = self._observe(raw)
        not_sent = seen.not_sent
        if not_sent:
            self.notes.append(
                f"{not_sent} operations were not sent: every slice was at its concurrency "
                "limit until its window closed (the target was too slow for the rate; "
                "raise traffic.concurrency or lower traffic.rate)")
        if "warnings" not in self.extras:  # a run that ended early: still evaluated
            try:
                self.extras["warnings"] = current_warnings(self.engine)
            except Exception as exc:  # the journal says so rather than "none"
                self.notes.append(f"early warnings not evaluated: {type(exc).__name__}")
        try:
            ledger = ledger_totals(self.engine, self.request.run_id)
        except Exception as exc:  # the journal is still written without it
            ledger = {}
            self.notes.append(f"ledger totals unavailable: {type(exc).__name__}")
        doc = journal.build(self.request, outcome.verdict, outcome.reason, outcome.checks,
                            self.t0, seen.series, seen.errors, not_sent, ledger, self.slots,
                            seen.fault_reports, seen.samples, self.notes, self.deadline_ms())
        doc.update(self.extras)
        path = journal.write(self.settings.reports_dir, self.request.run_id, doc)
        try:  # where every other host reads it (chaosfleet report RUN_ID, the API)
            store_journal(self.engine, self.request.run_id, "run", doc)
        except SQLAlchemyError as exc:
            log.error("run %s: journal not stored in the catalogue database (only in %s): %s",
                      self.request.run_id, path, exc)
        if self.on_journal is not None:
            try:
                self.on_journal(path)
            except Exception:  # the journal is the record; a report can be rendered again
                log.exception("run %s: no report rendered from its journal", self.request.run_id)
        return str(path)

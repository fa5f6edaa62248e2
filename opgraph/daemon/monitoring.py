"""Run monitoring: runs whose run worker is stuck, dead, too slow or will not stop.

Deadlines and grace come from instance.yaml's `liveness` section (docs/liveness.md).

- NOT_STARTED longer than `start_timeout_seconds`: whatever created it (a webserver, a
  CLI command, a schedule) stopped before handing it to the run coordinator; it FAILS
  with that reason instead of sitting there forever.
- STARTING with no run worker recorded, the liveness grace after RUN_STARTING, while the
  process that stored RUN_STARTING is gone (it died in between: a daemon kill -9'd
  mid-launch): the launcher starts the worker it never started, once (`relaunch_run`).
  A launching process still alive is only slow, and one on another host is given the
  grace alone.
- STARTING longer than `start_timeout_seconds`: the worker is terminated, the run FAILS.
- STARTED with a dead run worker (the launcher says so, or no heartbeat for the liveness
  grace, `missed_heartbeats` beats): the run is resumed by a new worker that continues
  from the event log (up to `max_resume_run_attempts` times, counted in the run's
  `opgraph/resume_attempts` tag) and adopts the remote steps still running on live
  workers; only steps whose own worker went silent are stopped first. Without resume
  attempts left, its remote steps are all stopped and it FAILS.
- STARTED longer than its `opgraph/max_runtime_seconds` tag: terminated, FAILS.
- CANCELING longer than `cancel_timeout_seconds`: terminated, CANCELED.

"Terminated" is real: the launcher kills the worker's process group and Celery steps are
revoked with SIGKILL (on a resume, only those whose worker is gone). Every decision is an event on the run that says why.
"""

from __future__ import annotations

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.daemon.remote_steps import stop_orphaned_steps, stop_run_steps, worker_last_seen
from opgraph.events import EventType, make_event
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import LivenessConfig, RunMonitoringConfig
from opgraph.ports import RUN_WORKER_PID_TAG, RunLauncher, StepTerminator, WorkerHealth
from opgraph.process_lifetime import process_gone
from opgraph.run_lifecycle import append_if_status, append_lifecycle_event
from opgraph_storage.records import RunRecord, RunsFilter, RunStatus, StepAttemptStatus

MAX_RUNTIME_TAG = "opgraph/max_runtime_seconds"
RESUME_ATTEMPTS_TAG = "opgraph/resume_attempts"
RESUMED_AT_TAG = "opgraph/resumed_at"
RELAUNCHED_AT_TAG = "opgraph/relaunched_at"

S = RunStatus


class RunMonitor(DaemonPart):
    name = "RUN_MONITORING"

    def __init__(
        self,
        instance: OpgraphInstance,
        config: RunMonitoringConfig,
        terminator: StepTerminator | None = None,
        liveness: LivenessConfig | None = None,
    ):
        self.instance = instance
        self.config = config
        self.liveness = liveness or instance.config.liveness
        self.terminator = terminator
        self.interval_seconds = config.poll_interval_seconds

    @property
    def launcher(self) -> RunLauncher:
        return self.instance.run_launcher

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        if not self.config.enabled:
            report.info["enabled"] = False
            return report
        watched = [S.NOT_STARTED, S.STARTING, S.STARTED, S.CANCELING]
        for run in self.instance.storage.get_runs(RunsFilter(statuses=watched)):
            try:
                self._check(run, now, report)
            except Exception as exc:
                report.errors.append(f"run {run.run_id}: {type(exc).__name__}: {exc}")
        return report

    def _check(self, run: RunRecord, now: float, report: TickReport) -> None:
        since = now - run.updated_at  # updated when the status last moved
        start_timeout = self.liveness.start_timeout_seconds
        cancel_timeout = self.liveness.cancel_timeout_seconds
        if run.status is S.NOT_STARTED and since > start_timeout:
            why = (
                f"Run was never submitted: still NOT_STARTED after {since:.0f}s "
                f"(liveness.start_timeout_seconds: {start_timeout:g}); "
                "the process that created it stopped before handing it to the run coordinator"
            )
            append_lifecycle_event(
                self.instance,
                run.run_id,
                EventType.RUN_FAILURE,
                why,
                only_from=(S.NOT_STARTED,),
                reason=why,
            )
            report.count("never_submitted")
        elif run.status is S.STARTING and self._relaunch_cut_short(run, now, since):
            report.count("relaunched")
        elif run.status is S.STARTING and since > start_timeout:
            self._end(
                run,
                now,
                S.FAILURE,
                f"Run timed out: still STARTING after {since:.0f}s "
                f"(liveness.start_timeout_seconds: {start_timeout:g})",
            )
            report.count("start_timeouts")
        elif run.status is S.CANCELING and since > cancel_timeout:
            self._end(
                run,
                now,
                S.CANCELED,
                f"Run did not stop within {cancel_timeout:g}s of the cancel "
                "request (liveness.cancel_timeout_seconds); its worker was terminated",
            )
            report.count("cancel_timeouts")
        elif run.status is S.STARTED:
            self._check_started(run, now, report)

    def _relaunch_cut_short(self, run: RunRecord, now: float, since: float) -> bool:
        """Start the worker of a launch cut short (see the module doc); True if it did."""
        launcher = self.launcher
        if (
            not launcher.supports_relaunch
            or since <= self.liveness.grace_seconds
            or RELAUNCHED_AT_TAG in run.tags
        ):
            return False
        starting = self.instance.storage.get_events(
            run.run_id, event_types=[EventType.RUN_STARTING.value]
        )
        launched_by = starting[-1].data.get("launched_by", {}) if starting else {}
        if process_gone(launched_by) is False:
            return False  # the launch is slow, not cut short: the start timeout covers it
        self.instance.storage.add_run_tags(run.run_id, {RELAUNCHED_AT_TAG: repr(now)})
        if not launcher.relaunch_run(run):
            return False  # it has a worker: the early-exit report or the timeout covers it
        who = f"pid {launched_by.get('pid', '?')} on {launched_by.get('host', '?')}"
        append_if_status(
            self.instance,
            make_event(
                run.run_id,
                EventType.ENGINE_EVENT,
                level="WARNING",
                message=f"The launch of this run was cut short: the process that started it "
                f"({who}) is gone and no run worker was recorded {since:.0f}s later; "
                "its run worker was started again",
                data={"relaunched": True, "launched_by": launched_by},
            ),
            (S.STARTING, S.STARTED),
        )
        return True

    def _check_started(self, run: RunRecord, now: float, report: TickReport) -> None:
        limit = _max_runtime(run, report)
        if limit is not None and run.started_at is not None and now - run.started_at > limit:
            self._end(
                run,
                now,
                S.FAILURE,
                f"Run exceeded its maximum runtime of {limit:g}s (tag {MAX_RUNTIME_TAG}) "
                "and was terminated",
            )
            report.count("runtime_exceeded")
            return
        dead = self._dead_reason(run, now)
        if dead is None:
            return
        attempts = int(run.tags.get(RESUME_ATTEMPTS_TAG, "0") or 0)
        resumable = self.launcher.supports_resume
        if resumable and attempts < self.config.max_resume_run_attempts:
            # Steps still running on live workers are the new run worker's to adopt: only
            # those whose own worker is gone are given up (and run again by the new one).
            stop_orphaned_steps(
                self.instance,
                self.terminator,
                run.run_id,
                f"run worker {dead}",
                now,
                self.liveness.grace_seconds,
            )
            self._resume(run, now, dead, attempts + 1)
            report.count("resumed")
            return
        stop_run_steps(self.instance, self.terminator, run.run_id, f"run worker {dead}", now)
        why = f"Run worker {dead}"
        if self.config.max_resume_run_attempts and resumable:
            why += (
                f"; no resume attempts left ({attempts} of {self.config.max_resume_run_attempts})"
            )
        self._end(run, now, S.FAILURE, why)
        report.count("worker_failures")

    def _dead_reason(self, run: RunRecord, now: float) -> str | None:
        launcher = self.launcher
        health = launcher.check_run_worker_health(run) if launcher.supports_health_check else None
        if health is WorkerHealth.DEAD:
            pid = run.tags.get(RUN_WORKER_PID_TAG, "?")
            return f"(pid {pid}) is no longer running"
        seen = max(worker_last_seen(run), float(run.tags.get(RESUMED_AT_TAG, "0") or 0))
        silent = now - seen
        grace = self.liveness.grace_seconds
        if silent > grace:
            return (
                f"has not heartbeated for {silent:.0f}s (liveness grace: "
                f"{self.liveness.missed_heartbeats} beats of "
                f"{self.liveness.heartbeat_interval_seconds:g}s = {grace:g}s)"
            )
        return None

    def _resume(self, run: RunRecord, now: float, dead: str, attempt: int) -> None:
        self.instance.storage.add_run_tags(
            run.run_id, {RESUME_ATTEMPTS_TAG: str(attempt), RESUMED_AT_TAG: repr(now)}
        )
        resuming = make_event(
            run.run_id,
            EventType.ENGINE_EVENT,
            level="WARNING",
            message=f"Run worker {dead}; resuming the run in a new worker from its "
            f"event log (attempt {attempt} of {self.config.max_resume_run_attempts})",
            data={"resume_attempt": attempt},
        )
        if not append_if_status(self.instance, resuming, (S.STARTED,)):
            return  # it finished or was canceled meanwhile: nothing to resume
        if self.launcher.supports_terminate:
            self.launcher.terminate(run.run_id)  # a hung worker must not run on beside the new one
        self.launcher.resume_run(self.instance.get_run(run.run_id))

    def _end(self, run: RunRecord, now: float, status: RunStatus, message: str) -> None:
        """Kill the worker and its steps first, then record the end (only if still live)."""
        if self.launcher.supports_terminate:
            self.launcher.terminate(run.run_id)
        steps_status = (
            StepAttemptStatus.CANCELED if status is S.CANCELED else StepAttemptStatus.LOST
        )
        stop_run_steps(self.instance, self.terminator, run.run_id, message, now, steps_status)
        event = EventType.RUN_CANCELED if status is S.CANCELED else EventType.RUN_FAILURE
        append_lifecycle_event(
            self.instance, run.run_id, event, message, only_from=(run.status,), reason=message
        )


def _max_runtime(run: RunRecord, report: TickReport) -> float | None:
    value = run.tags.get(MAX_RUNTIME_TAG)
    if value is None:
        return None
    try:
        limit = float(value)
    except ValueError:
        limit = -1.0
    if limit <= 0:
        report.errors.append(
            f"run {run.run_id}: tag {MAX_RUNTIME_TAG}={value!r} is not a positive number of "
            "seconds (e.g. 3600); the run has no maximum runtime"
        )
        return None
    return limit

"""Driving one run: RUN_START, the executor loop, RUN_SUCCESS / RUN_FAILURE / RUN_CANCELED.

Events are written to storage in batches (one transaction per step or per burst of
events), which keeps per-op overhead low on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opgraph.active_execution import ActiveExecution
from opgraph.context import RunInfo
from opgraph.errors import RunNotFound
from opgraph.events import STEP_START_EVENTS, EventType, make_event
from opgraph.plan import ExecutionPlan
from opgraph.reexecution import reused_steps
from opgraph.run_lifecycle import TRANSITIONS, append_lifecycle_event
from opgraph_storage.records import EventRecord, RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.definitions.graph import JobDefinition
    from opgraph.instance import OpgraphInstance

CANCEL_CHECK_INTERVAL = 0.5
_CANCELED = (RunStatus.CANCELING, RunStatus.CANCELED)


class RunInterrupted(BaseException):
    """Raised in the run worker's main thread when SIGTERM arrives while an op runs in it."""


class Interruption:
    """SIGTERM/SIGINT for a run worker: always a flag the executors poll; and an exception
    when user code is running in this thread (in-process), which otherwise could not stop."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.in_user_code = False

    def request(self) -> None:
        self.event.set()
        if self.in_user_code:
            self.in_user_code = False
            raise RunInterrupted("the run worker was asked to stop")


# A step start is written at once (STEP_START_EVENTS), so that a crash mid-step leaves a
# trace a resumed run can see; other events wait for the end of the step or for
# MAX_BUFFER_SECONDS.
MAX_BUFFER_SECONDS = 0.1


class EventSink:
    """Buffers a run's events and writes them in one transaction per flush; lifecycle
    events go through the run lifecycle, after what was buffered before them."""

    def __init__(self, instance: OpgraphInstance, run_id: str):
        self.instance = instance
        self.run_id = run_id
        self._buffer: list[EventRecord] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def emit(self, event: EventRecord) -> None:
        with self._lock:
            self._buffer.append(event)
        if (
            event.event_type in STEP_START_EVENTS
            or time.monotonic() - self._last_flush > MAX_BUFFER_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        if batch:
            self.instance.storage.store_events(batch)

    def append_lifecycle(
        self, event_type: EventType, message: str, data: dict[str, Any] | None = None
    ) -> RunStatus:
        """Flush, then move the run by `event_type`; the run's status afterwards (another
        process may have moved it first, e.g. a cancel: then the event is refused)."""
        self.flush()
        if append_lifecycle_event(self.instance, self.run_id, event_type, message, **(data or {})):
            return TRANSITIONS[event_type].to_status
        status = self.instance.storage.get_run_status(self.run_id)
        if status is None:
            raise RunNotFound(f"no run with id {self.run_id!r}")
        return status

    def start_run(self, message: str, data: dict[str, Any] | None = None) -> RunStatus | None:
        """RUN_START: the run's status afterwards, or None if another worker had already
        stored it (the run is that worker's)."""
        self.flush()
        if append_lifecycle_event(
            self.instance, self.run_id, EventType.RUN_START, message, **(data or {})
        ):
            return RunStatus.STARTED
        status = self.instance.storage.get_run_status(self.run_id)
        if status is None:
            raise RunNotFound(f"no run with id {self.run_id!r}")
        return None if status is RunStatus.STARTED else status


@dataclass
class RunContext:
    """What an executor needs to drive the steps of one run."""

    instance: OpgraphInstance
    run: RunRecord
    job: JobDefinition
    plan: ExecutionPlan
    sink: EventSink
    in_process: bool = False
    interruption: Interruption = field(default_factory=Interruption)
    _last_check: float = 0.0
    _cancel_seen: bool = False
    user_exceptions: list[BaseException] = field(default_factory=list)
    status: RunStatus | None = None

    @property
    def run_info(self) -> RunInfo:
        return RunInfo(
            self.run.run_id, self.run.job_name, dict(self.run.tags), dict(self.run.run_config)
        )

    def emit(self, event: EventRecord, active: ActiveExecution | None = None) -> None:
        self.sink.emit(event)
        if active is not None:
            active.handle_event(event)

    def emit_skips(self, active: ActiveExecution) -> None:
        for skip in active.pop_skips():
            self.sink.emit(
                make_event(
                    self.run.run_id,
                    EventType.STEP_SKIPPED,
                    step_key=skip.step_key,
                    message=f'Skipped step "{skip.step_key}": {skip.reason}',
                    data={"reason": skip.reason},
                )
            )

    def cancel_requested(self, fresh: bool = False) -> bool:
        """True once the run was asked to stop (status CANCELING, or SIGTERM); `fresh`:
        read the status now, not at most every CANCEL_CHECK_INTERVAL."""
        if self._cancel_seen:
            return True
        now = time.monotonic()
        due = now - self._last_check >= CANCEL_CHECK_INTERVAL
        if fresh or due or self.interruption.event.is_set():
            self._last_check = now
            # CANCELED too: a forced cancel marks the run CANCELED before its worker stops.
            self._cancel_seen = self.instance.storage.get_run_status(self.run.run_id) in _CANCELED
        return self._cancel_seen or self.interruption.event.is_set()

    def fail_step(self, active: ActiveExecution, step_key: str, attempt: int, message: str) -> None:
        """A step the framework had to give up on (worker died, run canceled)."""
        self.emit(
            make_event(
                self.run.run_id,
                EventType.STEP_FAILURE,
                step_key=step_key,
                attempt=attempt,
                level="ERROR",
                message=message,
                data={
                    "error": {"class": "StepInterrupted", "message": message, "user_code": False}
                },
            ),
            active,
        )


def finish_run(ctx: RunContext, active: ActiveExecution, error: BaseException | None) -> RunStatus:
    """Write the final run event from what the steps did."""
    ctx.emit_skips(active)
    ctx.cancel_requested(fresh=True)  # the final event follows the status as it is now
    for step_key in active.in_flight:  # e.g. interrupted mid-op: never left looking alive
        ctx.fail_step(
            active,
            step_key,
            active.steps[step_key].attempt,
            f'step "{step_key}" interrupted: the run worker stopped before it finished',
        )
    data: dict[str, Any] = {}
    if ctx._cancel_seen:
        event_type, message = EventType.RUN_CANCELED, "Run canceled"
    elif ctx.interruption.event.is_set():
        event_type = EventType.RUN_FAILURE
        message = "The run worker was interrupted (SIGTERM/SIGINT) before the run finished"
    elif error is not None:
        from opgraph.step_runner import error_data

        event_type = EventType.RUN_FAILURE
        message = f"Execution of run for {ctx.job.name!r} failed: {type(error).__name__}: {error}"
        data = error_data(error, user_code=False)
    elif active.failed_steps or not active.is_complete:
        failed = active.failed_steps
        event_type = EventType.RUN_FAILURE
        message = f"Execution of run for {ctx.job.name!r} failed. Steps failed: {failed}"
        data = {"failed_steps": failed}
    else:
        event_type = EventType.RUN_SUCCESS
        message = f"Finished execution of run for {ctx.job.name!r}"
    return ctx.sink.append_lifecycle(event_type, message, data)


def execute_run(
    instance: OpgraphInstance,
    run: RunRecord,
    job: JobDefinition,
    plan: ExecutionPlan,
    executor: Any,
    *,
    in_process: bool = False,
    resume: bool = False,
    interruption: Interruption | None = None,
) -> RunContext:
    """Run all steps of `run` with `executor`; returns the context (events, errors)."""
    sink = EventSink(instance, run.run_id)
    ctx = RunContext(instance, run, job, plan, sink, in_process=in_process)
    if interruption is not None:
        ctx.interruption = interruption
    reused = reused_steps(instance.storage, run, plan)
    if resume:
        active = ActiveExecution.rebuild(plan, instance.storage.get_events(run.run_id), reused)
        sink.emit(
            make_event(
                run.run_id, EventType.ENGINE_EVENT, message="Resuming run from its event log"
            )
        )
        sink.flush()
    else:
        active = ActiveExecution(plan, reused)
        started = sink.start_run(
            f"Started execution of run for {job.name!r}",
            {"reused_steps": active.reused_step_keys} if reused else None,
        )
        if started is None:
            # Another worker stored RUN_START first (a relaunch of a launch that was only
            # thought cut short): it runs the run, this one must not run it a second time.
            sink.emit(
                make_event(
                    run.run_id,
                    EventType.ENGINE_EVENT,
                    level="WARNING",
                    message=f"Another run worker started this run first; this one "
                    f"(pid {os.getpid()}) runs nothing",
                )
            )
            sink.flush()
            return ctx
        if started is not RunStatus.STARTED:
            # Canceled (or failed by the daemon) before this worker got going: run nothing.
            if started is RunStatus.CANCELING:
                started = sink.append_lifecycle(
                    EventType.RUN_CANCELED, "Run canceled before it started"
                )
            ctx.status = started
            return ctx
    error: BaseException | None = None
    try:
        executor.execute(ctx, active)
    except RunInterrupted:
        pass  # finish_run records it from the interruption flag
    except Exception as exc:  # a framework failure: recorded on the run, never lost
        error = exc
    finally:
        ctx.status = finish_run(ctx, active, error)
    return ctx

"""The step task: claim the attempt, run the op, record the outcome once.

A message is only a pointer. The worker claims the attempt (QUEUED -> RUNNING) before
running anything, so a redelivered or duplicated message is dropped; the outcome events
(outputs, success or failure) are stored in the same transaction that finishes the
attempt, so a step's STEP_SUCCESS is stored once whatever the broker does.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import replace
from typing import Any

from celery.exceptions import Reject
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from pydantic import ValidationError

from opgraph.assets.data_versions import remember_run_versions
from opgraph.events import STEP_START_EVENTS, EventType, make_event
from opgraph.process_lifetime import die_with_parent
from opgraph.step_runner import error_data, run_step
from opgraph.worker_exit import record_early_exit
from opgraph_celery import get_app
from opgraph_celery.payload import StepPayload
from opgraph_celery.settings import (
    RUN_TASK,
    STEP_TASK,
    broker_identity,
    uses_urgent_lanes,
    with_urgent_lanes,
)
from opgraph_celery.worker_state import worker_state
from opgraph_storage.base import StorageError, StorageUnreachable
from opgraph_storage.records import EventRecord, StepAttemptStatus

log = logging.getLogger("opgraph.celery")
app = get_app()
# Waiting for a database that is away: tries 0.25 s, 0.5 s, ... then every 2 s.
STORAGE_RETRY_FIRST_SECONDS = 0.25
STORAGE_RETRY_MAX_SECONDS = 2.0

# Events that decide the step's outcome travel with the attempt's completion.
OUTCOME_EVENTS = frozenset(
    {
        EventType.STEP_OUTPUT.value,
        EventType.HANDLED_OUTPUT.value,
        EventType.STEP_SUCCESS.value,
        EventType.STEP_FAILURE.value,
        EventType.STEP_UP_FOR_RETRY.value,
        EventType.LOGS_CAPTURED.value,
    }
)


class _Duplicate(BaseException):
    """The attempt was already claimed or finished: this delivery is a copy."""


class _AttemptEvents:
    """Where one attempt's events go. The claim writes none; the step's start and other
    live events (inputs, logs) wait until the process's keeper writes them (once they are
    a quarter second old) or the completion does; outcome events wait for the completion.
    A short step thus costs a plain claim and one completion that writes all its events."""

    def __init__(self, state: Any, payload: StepPayload, claimant: str):
        self.state = state
        self.storage = state.instance.storage
        self.payload = payload
        self.claimant = claimant
        self.claimed = False
        self.live: list[EventRecord] = []
        self.outcome: list[EventRecord] = []
        self._oldest_live = 0.0
        self._done = False
        # The keeper's writes and the completion never interleave: events stay in order.
        self._lock = threading.Lock()

    def claim(self) -> None:
        """QUEUED -> RUNNING before any user code runs; a copy of a message stops here."""
        if not self.storage.claim_step_attempt(
            self.payload.attempt_id, self.claimant, self.state.pid, time.time()
        ):
            raise _Duplicate
        self.claimed = True
        self.state.keeper.add(self.payload.attempt_id, self)

    def emit(self, event: EventRecord) -> None:
        if not self.claimed:
            self.claim()
        if event.event_type in STEP_START_EVENTS:  # where the step runs, for the UI
            worker = {"worker": self.claimant, "pid": self.state.pid}
            event = replace(event, data={**event.data, **worker})
        with self._lock:
            if event.event_type in OUTCOME_EVENTS:
                self.outcome.append(self._explain_timeout(event))
                return
            if not self.live:
                self._oldest_live = time.monotonic()
            self.live.append(event)

    def flush_live(self, older_than: float) -> None:
        """Called by the keeper thread."""
        with self._lock:
            if self._done or not self.live or time.monotonic() - self._oldest_live < older_than:
                return
            batch, self.live = self.live, []
            try:
                self.storage.store_events(batch)
            except BaseException:
                self.live[:0] = batch  # the completion (or the next try) writes them
                raise

    def complete(self, status: StepAttemptStatus, outputs: list[Any]) -> bool:
        """Finish the attempt with its outputs and every event not written yet; False if it
        was given up (then neither is stored)."""
        with self._lock:
            self._done = True
            return self.storage.complete_step_attempt(
                self.payload.attempt_id,
                status,
                time.time(),
                self.live + self.outcome,
                outputs=outputs,
            )

    def _explain_timeout(self, event: EventRecord) -> EventRecord:
        error = event.data.get("error") or {}
        if event.event_type != EventType.STEP_FAILURE.value:
            return event
        if error.get("class") not in ("SoftTimeLimitExceeded", "TimeLimitExceeded"):
            return event
        message = (
            f'step "{event.step_key}" timed out after {self.payload.timeout_seconds:g}s '
            "(op tag op/timeout_seconds)"
        )
        return replace(event, message=message)

    @property
    def succeeded(self) -> bool:
        return any(e.event_type == EventType.STEP_SUCCESS.value for e in self.outcome)


class _BeforeClaim(Exception):
    """The storage could not be reached before the attempt was claimed: nothing ran and
    nothing was recorded, so the same message may be tried again."""


def run_attempt(payload: StepPayload, node_name: str | None = None) -> str:
    """Run one attempt; `node_name` (celery@host) is where a cancel aims its revoke."""
    events: _AttemptEvents | None = None
    try:
        state = worker_state()
        events = _AttemptEvents(state, payload, node_name or state.hostname)
        return _run_claimed(state, payload, events)
    except StorageUnreachable as exc:
        if events is None or not events.claimed:
            raise _BeforeClaim(str(exc)) from exc
        raise


def _run_claimed(state: Any, payload: StepPayload, events: _AttemptEvents) -> str:
    claimant = events.claimant
    step = payload.execution_step()
    outputs: list[Any] = []
    try:
        try:
            env = state.environment(payload.run_id)  # cached: a copy costs a dict lookup
        except StorageError:
            raise  # the database, not the user's code: never a step failure
        except Exception as exc:  # broken user code: the step fails with the reason
            events.emit(
                make_event(
                    payload.run_id,
                    EventType.STEP_FAILURE,
                    step_key=step.key,
                    attempt=step.attempt,
                    level="ERROR",
                    message=f"worker {claimant} could not load job {payload.job_name!r}: {exc}",
                    data=error_data(exc, user_code=True),
                )
            )
        else:
            remember_run_versions(payload.run_id, payload.asset_versions)
            # Outputs the database IO manager stores travel with the completion.
            with state.instance.storage.collect_outputs() as outputs, state.running(payload.run_id):
                run_step(env, step, events.emit)  # its first event, the start, claims
        status = StepAttemptStatus.SUCCESS if events.succeeded else StepAttemptStatus.FAILURE
        recorded = events.complete(status, outputs)
    except _Duplicate:
        log.info("dropping %s: attempt already claimed or finished", payload.attempt_id)
        return "duplicate"
    finally:
        state.keeper.remove(payload.attempt_id)
    if not recorded:
        log.warning(
            "attempt %s was given up before it finished; its outcome was dropped",
            payload.attempt_id,
        )
        return "abandoned"
    return status.value


@app.task(name=STEP_TASK, bind=True)
def execute_step(self: Any, payload: dict[str, Any]) -> str:
    try:
        parsed = StepPayload.model_validate(payload)
    except ValidationError as exc:
        log.error("rejected a malformed step message: %s", exc)
        return "rejected"
    if (self.request.delivery_info or {}).get("redelivered") and _taken(parsed.attempt_id):
        log.info("dropping %s: a redelivered copy of a claimed attempt", parsed.attempt_id)
        return "duplicate"
    return _run_when_storage_answers(parsed, self.request.hostname)


def _taken(attempt_id: str) -> bool:
    """Whether the attempt was claimed (or given up) already: one read, done only for a
    message the broker delivers again. RabbitMQ gives a killed worker's unacknowledged
    messages back at once, to the head of the queue, so the copy of an attempt the dead
    worker had claimed went to the next worker to start, which loaded the run's job
    before its claim found the copy; under a kill every 2 s one such copy went to 10
    replacement workers in a row, each killed before it served anything else (issue 14's
    kill loop, 6 December 2026)."""
    try:
        found = worker_state().instance.storage.get_step_attempts(attempt_ids=[attempt_id])
    except StorageError:  # the claim decides, once the storage answers
        return False
    return bool(found) and found[0].status is not StepAttemptStatus.QUEUED


def _run_when_storage_answers(payload: StepPayload, node_name: str | None) -> str:
    """A database outage before the claim (e.g. a pool process that never connected, so
    the engine's own patience does not apply) is waited out for
    `storage.reconnect_timeout_seconds`; after that the message is rejected back to its
    queue (late acks: not acknowledged, not lost) for a later delivery. Either way the
    attempt stays QUEUED, so the outage costs no retry."""
    patience = worker_state().instance.config.storage.reconnect_timeout_seconds
    deadline = time.monotonic() + patience
    delay = STORAGE_RETRY_FIRST_SECONDS
    while True:
        try:
            return run_attempt(payload, node_name)
        except _BeforeClaim as exc:
            if time.monotonic() + delay > deadline:
                log.warning(
                    "storage unreachable for %gs (storage.reconnect_timeout_seconds) before "
                    "attempt %s was claimed; rejected back to the queue: %s",
                    patience,
                    payload.attempt_id,
                    exc,
                )
                raise Reject(str(exc), requeue=True) from exc
            log.warning(
                "storage unreachable before attempt %s was claimed; trying again in %.1fs: %s",
                payload.attempt_id,
                delay,
                exc,
            )
            time.sleep(delay)
            delay = min(delay * 2, STORAGE_RETRY_MAX_SECONDS)


@celeryd_after_setup.connect
def _consume_urgent_lanes(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """On RabbitMQ a worker consumes each of its queues' urgent lanes too, however it was
    started (`-Q`, `python -m opgraph_celery.worker`): the executor sends messages above the
    default priority there (settings.message_queue). Celery sends this signal after `-Q`
    was applied and before the consumer starts."""
    if instance is None or not uses_urgent_lanes(instance.app.conf.broker_url):
        return
    queues = instance.app.amqp.queues
    queues.select(with_urgent_lanes(list(queues.consume_from)))


_heartbeat: Any = None


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """The main worker process announces itself in storage (for `opgraph workers list`).
    Celery sends this signal with the worker's Consumer as sender."""
    global _heartbeat
    from opgraph.instance import OpgraphInstance
    from opgraph_celery.fleet import BROKER_KEY, WorkerHeartbeat

    def consumed_queues() -> list[str]:
        # The consumer of now (a broker reconnect makes a new one; a drain cancels a queue).
        task_consumer = getattr(sender, "task_consumer", None)
        return sorted(q.name for q in list(task_consumer.queues)) if task_consumer else []

    controller = getattr(sender, "controller", None)
    info = {
        "queues": consumed_queues(),
        "concurrency": getattr(controller, "concurrency", None),
        "pid": os.getpid(),
        BROKER_KEY: broker_identity(str(sender.app.conf.broker_url)),
    }
    instance = OpgraphInstance.get()
    interval = instance.config.liveness.heartbeat_interval_seconds
    _heartbeat = WorkerHeartbeat(
        instance.storage, sender.hostname, info, interval, current_queues=consumed_queues
    )
    _heartbeat.start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()


def _record_run_worker(instance: Any, run_id: str, pid: int) -> None:
    """Where the run worker runs, for operators (and `kill` on that host)."""
    from opgraph.ports import RUN_WORKER_HOST_TAG, RUN_WORKER_PID_TAG, RUN_WORKER_START_TAG
    from opgraph.process_lifetime import process_start_time

    tags = {RUN_WORKER_PID_TAG: str(pid), RUN_WORKER_HOST_TAG: socket.gethostname()}
    start_time = process_start_time(pid)
    if start_time is not None:
        tags[RUN_WORKER_START_TAG] = start_time
    try:
        instance.storage.add_run_tags(run_id, tags)
    except Exception:  # informative only: the run goes on without them
        log.exception("could not record the run worker of run %s", run_id)


@app.task(name=RUN_TASK)
def execute_run(payload: dict[str, Any]) -> str:
    """Run a run worker for `payload["run_id"]` as a child process and wait for it."""
    import subprocess
    import sys

    from opgraph_storage.records import RunStatus

    run_id = str(payload.get("run_id", ""))
    state = worker_state()
    run = state.instance.storage.get_run(run_id)
    if run is None:
        log.error("run task for unknown run %r dropped", run_id)
        return "unknown run"
    # -P: the run worker's directory is the user's project, whose `app.py` or `storage.py`
    # must not shadow anything (the project's modules load through opgraph.user_code).
    command = [sys.executable, "-P", "-m", "opgraph.run_worker", run_id]
    if run.status is RunStatus.STARTED:
        beat = run.worker_heartbeat_at or run.started_at or 0
        requested = payload.get("resume_requested_at")
        if isinstance(requested, int | float):  # the daemon found the worker dead
            if beat > requested:
                return "already resumed"  # this resume task was delivered twice
        elif time.time() - beat < 30:  # a redelivered launch: resume only a silent run
            return "already running"
        command.append("--resume")
    elif run.status is not RunStatus.STARTING:
        return f"run is {run.status.value}"
    env = {**os.environ, "OPGRAPH_HOME": str(state.instance.home)}
    cwd = (run.code_pointer or {}).get("working_directory")
    # Its output goes where the subprocess launcher puts it, so that a worker that dies
    # before it starts leaves its own error for the run's failure event.
    log_path = state.instance.home / "run_workers" / f"{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        # The run worker gets SIGTERM if this task's process dies.
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    _record_run_worker(state.instance, run_id, process.pid)
    # A revoke with terminate sends SIGTERM to this pool process: pass it on, so the run
    # worker stops cleanly and records why.
    previous = signal.signal(signal.SIGTERM, lambda *_: process.send_signal(signal.SIGTERM))
    try:
        returncode = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    # A worker that died before RUN_START (a broken interpreter, an import, the OOM
    # killer) fails its run here, at once, with no daemon involved.
    record_early_exit(state.instance, run_id, process.pid, returncode, log_path)
    return f"run worker exited {returncode}"

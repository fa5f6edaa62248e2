"""The Celery executor: the run worker owns the plan and publishes each ready step.

Steps are published as soon as their inputs are ready (at most `max_in_flight` at a
time). Each published step is a step attempt stored as QUEUED first; its task id is the
attempt id. Completion comes back through the storage's event log (LISTEN/NOTIFY on
PostgreSQL), not through a result backend, so nothing waits on `result.get()`.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from opgraph.active_execution import ActiveExecution
from opgraph.assets.data_versions import DispatchedVersions
from opgraph.errors import OpgraphError
from opgraph.events import EventType, make_event
from opgraph.execution import RunContext
from opgraph.resources import InMemoryIOManager, mem_io_manager
from opgraph.run_config import job_resource_defs
from opgraph.steps import ExecutionStep
from opgraph_celery.celery_app import instance_celery_config, make_celery_app
from opgraph_celery.config import CeleryRunConfig
from opgraph_celery.live_workers import (
    LiveWorkers,
    counts_against_queued,
    counts_against_running,
    unanswered_consumers,
    worker_sessions,
)
from opgraph_celery.lost_messages import FleetLook, look_at_fleet
from opgraph_celery.settings import (
    DEFAULT_PRIORITY,
    STEP_TASK,
    broker_identity,
    broker_priority,
    message_queue,
    republished_priority,
)
from opgraph_celery.worker_state import HEARTBEAT_SECONDS
from opgraph_storage.records import StepAttempt, StepAttemptStatus

logger = logging.getLogger(__name__)

QUEUE_TAG = "celery/queue"
PRIORITY_TAG = "celery/priority"
RUN_PRIORITY_TAG = "celery/run_priority"
TIMEOUT_TAG = "op/timeout_seconds"
CHECK_SECONDS = 1.0
WAIT_SECONDS = 1.0
# While a look at the fleet is under way, the loop wakes this often to judge it the moment
# it ends (a look lasts lost_messages.REPLY_TIMEOUT_SECONDS): waiting for the next check
# cost a second per look, two per stranded attempt.
LOOK_POLL_SECONDS = 0.1
# A running attempt beats every HEARTBEAT_SECONDS: one silent for one and a half beats is
# doubted, and its worker is asked whether it still runs it (the ask is cheap, so doubting
# early costs nothing; only a worker's answer, or its silence twice, decides).
SUSPECT_SECONDS = 1.5 * HEARTBEAT_SECONDS
# Looks in a row that must find an attempt held by no live worker before it is given up.
STRIKES = 2
# A QUEUED attempt is looked for once it waited this long: a message normally waits in its
# queue (a healthy fan-out asks nothing of the workers) or is claimed within a second.
DOUBT_QUEUED_SECONDS = 1.0
# Publishing once the broker has been reached: ride out a broker restart (about a minute)
# instead of failing the run. The first publish keeps kombu's short default, so a wrong
# broker URL fails the run at once.
PATIENT_PUBLISH = {"max_retries": 30, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}
STEP_ENDS = frozenset(
    {EventType.STEP_SUCCESS.value, EventType.STEP_FAILURE.value, EventType.STEP_UP_FOR_RETRY.value}
)
# What the run worker reads back from the workers' events: the rest is for people.
FED_EVENTS = sorted(STEP_ENDS | {EventType.STEP_OUTPUT.value})
# ... and, for a job whose assets have upstream assets, their data versions.
FED_ASSET_EVENTS = sorted(set(FED_EVENTS) | {EventType.ASSET_MATERIALIZATION.value})
# Attempts a resumed run worker takes over rather than publishing their steps again.
ADOPTED_STATUSES = (
    StepAttemptStatus.QUEUED,
    StepAttemptStatus.RUNNING,
    StepAttemptStatus.SUCCESS,
    StepAttemptStatus.FAILURE,
)


@dataclass
class _Flight:
    attempt_id: str
    step: ExecutionStep
    queue: str  # the step's queue, as stored with the attempt
    published_at: float
    # Where its message is: `queue`, or on RabbitMQ its urgent lane (settings.message_queue).
    broker_queue: str


class CeleryExecutor:
    def __init__(self, **config: Any):
        self.config = CeleryRunConfig.model_validate(config)
        self.in_flight: dict[str, _Flight] = {}
        self._broker_reached = False
        self.infra_retries: dict[str, int] = {}
        self._consumers: dict[str, Future[bool]] = {}
        self._warned: set[str] = set()
        self._inspector = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opgraph-inspect")
        self._timeouts_checked: set[str] = set()
        self._inspect_app: Any = None
        # Looking for stranded attempts (lost_messages.py): the look in the background;
        # since when each QUEUED attempt's message has been out of its queue; how many
        # looks in a row found an attempt held by no live worker; when a worker last said
        # it runs a silent attempt.
        self._look: Future[FleetLook] | None = None
        self._next_look = 0.0
        self._missing_since: dict[str, float] = {}
        self._strikes: dict[str, int] = {}
        self._seen_running: dict[str, float] = {}
        self._said_left_running: set[str] = set()
        # RUNNING attempts the last look that asked about them (or failed to) did not find
        # running on their worker: only those can time out.
        self._unconfirmed: set[str] = set()
        self._look_asked: list[str] = []
        self.unclaimed_timeout = 0.0
        self.worker_silent_after = 0.0
        self.worker_beat_missed_after = 0.0
        # The workers' heartbeats and which of their database sessions are open, read at
        # most once per check and only when a broadcast left something open
        # (live_workers.py).
        self._beats: tuple[dict[str, Any], set[str] | None] | None = None
        self.transport_options: dict[str, Any] = {}
        # Steps whose attempt was lost and not yet published again: their new attempt goes
        # one priority level up and above the default, ahead of the steps published after
        # the lost one was (on RabbitMQ, through the queue's urgent lane).
        self._republish: set[str] = set()
        self._versions: DispatchedVersions | None = None

    # -- setup --------------------------------------------------------------------------
    def _app(self, ctx: RunContext) -> Any:
        instance_config = instance_celery_config(ctx.instance.home)
        overrides: dict[str, Any] = {}
        if self.config.broker_url:
            overrides["broker_url"] = self.config.broker_url
        if self.config.default_queue:
            overrides["default_queue"] = self.config.default_queue
        merged = instance_config.model_copy(
            update={
                **overrides,
                "config_source": {**instance_config.config_source, **self.config.config_source},
            }
        )
        self.unclaimed_timeout = (
            self.config.lost_message_timeout_seconds
            or ctx.instance.config.liveness.step_unclaimed_timeout_seconds
        )
        # A worker's main process beats every liveness interval: two beats late, it is gone
        # (live_workers.py); until then a worker that does not answer a broadcast is late.
        interval = ctx.instance.config.liveness.heartbeat_interval_seconds
        self.worker_silent_after = 2 * interval + 1
        # A worker that did not answer whether it holds a message may hold it while it has
        # missed no beat: a starved one answers late but still beats; a killed one, whose
        # beat stops, is passed over after one beat (not two: a kill loop strands a message
        # every few seconds, and the claim makes one success of a wrong guess).
        self.worker_beat_missed_after = interval + 1
        self.default_queue = merged.default_queue
        self._inspect_app = make_celery_app(merged)  # its own connections, for its thread
        app = make_celery_app(merged)
        # The app's own: OPGRAPH_CELERY_BROKER_URL (`opgraph dev`) wins over the config.
        self.broker_url = app.conf.broker_url
        self.transport_options = dict(app.conf.broker_transport_options)
        return app

    @staticmethod
    def _refuse_in_memory_outputs(ctx: RunContext) -> None:
        manager = job_resource_defs(ctx.job).get("io_manager")
        if manager is mem_io_manager or isinstance(manager, InMemoryIOManager):
            raise OpgraphError(
                f"job {ctx.job.name!r} keeps outputs in memory, but the Celery executor runs "
                "its ops on other machines: use fs_io_manager on a shared path or db_io_manager"
            )

    # -- the loop -------------------------------------------------------------------------
    def execute(self, ctx: RunContext, active: ActiveExecution) -> None:
        self._refuse_in_memory_outputs(ctx)
        app = self._app(ctx)
        storage = ctx.instance.storage
        ctx.sink.flush()
        self._adopt_attempts(ctx, app, active)
        self._versions = DispatchedVersions(ctx.job)
        fed_events = FED_ASSET_EVENTS if self._versions.wanted else FED_EVENTS
        cursor = storage.last_event_id(ctx.run.run_id)
        last_check = time.monotonic()
        try:
            while True:
                if ctx.cancel_requested():
                    self._cancel(ctx, active, app)
                    return
                room = self.config.max_in_flight - len(self.in_flight)
                steps = active.get_steps_to_execute(limit=room) if room > 0 else []
                ctx.emit_skips(active)
                if steps:
                    self._publish(ctx, app, steps)
                ctx.sink.flush()
                idle = not self.in_flight and not steps
                if idle and (active.is_complete or active.next_retry_at is None):
                    return
                timeout = WAIT_SECONDS
                if active.next_retry_at is not None:
                    timeout = min(timeout, max(0.0, active.next_retry_at - time.time()))
                if self._look is not None:
                    timeout = min(timeout, LOOK_POLL_SECONDS)
                fed = storage.wait_for_events(ctx.run.run_id, cursor, timeout, fed_events)
                for event in fed:
                    cursor = event.storage_id
                    self._feed(active, event)
                looked = self._look is not None and self._look.done()
                if looked or time.monotonic() - last_check >= CHECK_SECONDS:
                    last_check = time.monotonic()
                    self._check_attempts(ctx, active, app)
        finally:
            # Close the broker connections now: kombu's after-fork hook would otherwise try
            # to close them in any child this process forks later, and can block there. The
            # inspector's own app closes after its last question (at most a second), so the
            # run does not wait for it.
            app.close()
            for answer in self._consumers.values():
                answer.cancel()
            self._inspector.submit(self._inspect_app.close)
            self._inspector.shutdown(wait=False)

    def _adopt_attempts(self, ctx: RunContext, app: Any, active: ActiveExecution) -> None:
        """A resumed run worker follows the attempts its predecessor dispatched instead of
        running their steps again; attempts that finished meanwhile are read from the log
        by the next check. (A new run has none.)"""
        attempts = ctx.instance.storage.get_step_attempts(ctx.run.run_id, ADOPTED_STATUSES)
        latest = {attempt.step_key: attempt for attempt in attempts}  # by queued_at
        for attempt in latest.values():
            step = active.adopt(attempt.step_key, attempt.attempt_number)
            if step is None:
                continue
            queue = attempt.queue or ""
            broker_queue = message_queue(queue, attempt.priority, self.broker_url)
            self.in_flight[step.key] = _Flight(
                attempt.attempt_id, step, queue, attempt.queued_at, broker_queue
            )
            self._watch_queue(ctx, app, broker_queue)

    def _feed(self, active: ActiveExecution, event: Any) -> None:
        """Only events of the attempt in flight count: a late copy of an old one doesn't."""
        if event.event_type == EventType.ASSET_MATERIALIZATION.value:
            if self._versions is not None:
                self._versions.observe(event.data)
            return
        flight = self.in_flight.get(event.step_key or "")
        if flight is None or event.attempt != flight.step.attempt:
            return
        active.handle_event(event)
        if event.event_type in STEP_ENDS:
            del self.in_flight[event.step_key]

    # -- publishing -----------------------------------------------------------------------
    def _route(self, ctx: RunContext, step: ExecutionStep) -> tuple[str, int, float | None]:
        tags = ctx.plan.ops[step.handle].op_def.tags
        queue = str(tags.get(QUEUE_TAG) or self.default_queue)
        try:
            priority = int(tags.get(PRIORITY_TAG, DEFAULT_PRIORITY)) + int(
                ctx.run.tags.get(RUN_PRIORITY_TAG, 0)
            )
            timeout = float(tags[TIMEOUT_TAG]) if TIMEOUT_TAG in tags else None
        except ValueError as exc:
            raise OpgraphError(
                f"op {step.handle!r}: tags {PRIORITY_TAG}, {RUN_PRIORITY_TAG} and {TIMEOUT_TAG} "
                f"must be numbers ({exc})"
            ) from exc
        if timeout is not None and step.handle not in self._timeouts_checked:
            self._timeouts_checked.add(step.handle)
            self._warn_if_redelivered(ctx, step.handle, timeout)
        return queue, priority, timeout

    def _warn_if_redelivered(self, ctx: RunContext, handle: str, timeout: float) -> None:
        visibility = self.transport_options.get("visibility_timeout")
        if visibility is not None and timeout >= visibility:
            ctx.sink.emit(
                make_event(
                    ctx.run.run_id,
                    EventType.ENGINE_EVENT,
                    step_key=handle,
                    level="WARNING",
                    message=(
                        f"op {handle!r} may run {timeout:g}s, not less than the Redis "
                        f"visibility_timeout of {visibility}s: its message may be delivered "
                        "twice (the attempt claim drops the copy); raise celery.config_source."
                        "broker_transport_options.visibility_timeout"
                    ),
                )
            )

    def _publish(self, ctx: RunContext, app: Any, steps: list[ExecutionStep]) -> None:
        now = time.time()
        planned = []
        for step in steps:
            queue, priority, timeout = self._route(ctx, step)
            if step.key in self._republish:
                self._republish.discard(step.key)
                priority = republished_priority(priority)
            attempt = StepAttempt(
                attempt_id=str(uuid.uuid4()),
                run_id=ctx.run.run_id,
                step_key=step.key,
                attempt_number=step.attempt,
                queue=queue,
                priority=priority,
                queued_at=now,
            )
            planned.append((attempt, step, timeout))
        # The attempts exist before any message does: a worker can always claim what it gets.
        ctx.instance.storage.add_step_attempts([attempt for attempt, _, _ in planned])
        with app.producer_or_acquire() as producer:
            for attempt, step, timeout in planned:
                self._send(ctx, app, producer, attempt, step, timeout)

    def _send(
        self,
        ctx: RunContext,
        app: Any,
        producer: Any,
        attempt: StepAttempt,
        step: ExecutionStep,
        timeout: float | None,
    ) -> None:
        payload = {
            "run_id": ctx.run.run_id,
            "attempt_id": attempt.attempt_id,
            "step": step.to_dict(),
            "code_pointer": ctx.run.code_pointer,
            "job_name": ctx.job.name,
            "timeout_seconds": timeout,
        }
        versions = self._versions.for_step(step.handle) if self._versions is not None else {}
        if versions:  # only asset steps carry it: op jobs' messages are unchanged
            payload["asset_versions"] = versions
        options: dict[str, Any] = {}
        if timeout is not None:
            options = {"soft_time_limit": timeout, "time_limit": timeout + 5}
        if self._broker_reached:
            options["retry_policy"] = PATIENT_PUBLISH
        broker_queue = message_queue(attempt.queue or "", attempt.priority, self.broker_url)
        app.send_task(
            STEP_TASK,
            args=[payload],
            task_id=attempt.attempt_id,
            producer=producer,
            # What worker logs show for the task (Celery would repr the whole payload).
            argsrepr=repr([ctx.run.run_id, step.key]),
            kwargsrepr="{}",
            queue=broker_queue,
            priority=broker_priority(attempt.priority, self.broker_url),
            **options,
        )
        self._broker_reached = True
        self.in_flight[step.key] = _Flight(
            attempt.attempt_id, step, attempt.queue or "", attempt.queued_at, broker_queue
        )
        self._watch_queue(ctx, app, broker_queue)

    # -- queues nobody consumes ---------------------------------------------------------------
    def _watch_queue(self, ctx: RunContext, app: Any, queue: str) -> None:
        """Ask the fleet in the background whether anyone consumes `queue` (a broker queue:
        an urgent lane is consumed by every worker of its queue, and asked about itself)."""
        if queue not in self._consumers:
            self._consumers[queue] = self._inspector.submit(
                _has_consumers, self._inspect_app, queue
            )

    def _queue_unconsumed(self, ctx: RunContext, flight: _Flight) -> bool:
        queue = flight.broker_queue
        answer = self._consumers.get(queue)
        if answer is None or not answer.done() or answer.exception() is not None:
            return False
        if answer.result():
            return False
        # No answer names the queue, but a worker that answered late (starved, restarting)
        # may consume it: its heartbeat says so. Its heartbeat alone: a step fails when
        # this is wrong, and a worker that lost its database session may be coming back.
        live = self._live_workers(ctx, self.worker_silent_after, sessions=False)
        broker = broker_identity(self.broker_url)
        if live.consuming_on(queue, broker):
            return False
        if queue not in self._warned:
            self._warned.add(queue)
            elsewhere = {node: live.brokers[node] for node in live.consuming(queue)}
            message = (
                f"no Celery worker consumes queue {queue!r} on broker {broker}; steps routed "
                f"there wait. Start one with: celery -A opgraph_celery worker -Q {flight.queue}"
            )
            if elsewhere:
                message = (
                    f"no Celery worker consumes queue {queue!r} on broker {broker}, the run "
                    f"worker's; {_on_brokers(elsewhere)}. Steps routed there wait: give the "
                    "run worker and the workers the same celery.broker_url (instance.yaml) or "
                    "OPGRAPH_CELERY_BROKER_URL"
                )
            ctx.sink.emit(
                make_event(
                    ctx.run.run_id,
                    EventType.ENGINE_EVENT,
                    level="WARNING",
                    message=message,
                    data={"queue": queue, "broker": broker, "workers_elsewhere": elsewhere},
                )
            )
        return True

    def _live_workers(
        self, ctx: RunContext, silent_after: float, sessions: bool = True
    ) -> LiveWorkers:
        """The workers whose heartbeat is at most `silent_after` old and, with `sessions`,
        whose database session is still open: a killed worker's closed at once."""
        if self._beats is None:
            storage = ctx.instance.storage
            beats = storage.get_daemon_heartbeats()
            self._beats = (beats, worker_sessions(storage, beats))
        beats, open_sessions = self._beats
        return LiveWorkers.from_heartbeats(
            beats, time.time(), silent_after, open_sessions if sessions else None
        )

    def _dead_workers(self, ctx: RunContext) -> LiveWorkers:
        """Its `gone`: the workers whose session ended (known dead) that beat within two
        beats: a worker's last beat may come a whole interval before its death."""
        return self._live_workers(ctx, self.worker_silent_after)

    # -- lost and stuck attempts ----------------------------------------------------------
    def _check_attempts(self, ctx: RunContext, active: ActiveExecution, app: Any) -> None:
        if not self.in_flight:
            return
        self._beats = None  # read again when needed: workers come and go between checks
        storage = ctx.instance.storage
        now = time.time()
        flights = {f.attempt_id: f for f in self.in_flight.values()}
        long_queued: dict[str, _Flight] = {}
        silent: dict[str, tuple[_Flight, StepAttempt]] = {}
        for attempt in storage.get_step_attempts(attempt_ids=list(flights)):
            flight = flights[attempt.attempt_id]
            if attempt.status is StepAttemptStatus.RUNNING:
                own_beat = attempt.heartbeat_at or attempt.started_at or now
                beat = max(own_beat, self._seen_running.get(attempt.attempt_id, 0.0))
                timeout = self.config.heartbeat_timeout_seconds
                if now - own_beat > timeout and attempt.attempt_id in self._seen_running:
                    self._say_left_running(ctx, attempt, now - own_beat)
                timed_out = now - beat > timeout
                if timed_out and attempt.attempt_id in self._unconfirmed:
                    # No beat, and the fleet, asked, did not say it runs the attempt.
                    self._running_lost(
                        ctx, active, flight, attempt, f"stopped heartbeating {now - beat:.0f}s ago"
                    )
                elif now - beat > SUSPECT_SECONDS:
                    silent[attempt.attempt_id] = (flight, attempt)
            elif attempt.status in (StepAttemptStatus.SUCCESS, StepAttemptStatus.FAILURE):
                # Finished in storage but its end event not seen: read it from the log.
                for event in storage.get_events(ctx.run.run_id, step_key=attempt.step_key):
                    if attempt.step_key in self.in_flight:
                        self._feed(active, event)
            elif attempt.status is StepAttemptStatus.QUEUED:
                waited = now - flight.published_at
                if self._queue_unconsumed(ctx, flight):
                    if waited > self.config.no_consumer_timeout_seconds:
                        self._unconsumed(ctx, active, app, flight, waited)
                elif waited > DOUBT_QUEUED_SECONDS:
                    long_queued[attempt.attempt_id] = flight
        self._look_for_stranded(ctx, active, long_queued, silent)
        # Ask again later about queues that had no consumer: one may have started since.
        for queue, answer in list(self._consumers.items()):
            if answer.done() and answer.exception() is None and not answer.result():
                self._consumers[queue] = self._inspector.submit(
                    _has_consumers, self._inspect_app, queue
                )

    def _say_left_running(self, ctx: RunContext, attempt: StepAttempt, silent: float) -> None:
        """Once per attempt: silent past the timeout, but its worker says it runs it."""
        if attempt.attempt_id in self._said_left_running:
            return
        self._said_left_running.add(attempt.attempt_id)
        ctx.sink.emit(
            make_event(
                ctx.run.run_id,
                EventType.ENGINE_EVENT,
                step_key=attempt.step_key,
                attempt=attempt.attempt_number,
                level="WARNING",
                message=(
                    f"attempt {attempt.attempt_number} of step {attempt.step_key!r} has not "
                    f"heartbeated for {silent:.0f}s, but its worker {attempt.hostname} still "
                    "runs it: it is slow, not lost, and is left running"
                ),
                data={"attempt_id": attempt.attempt_id, "worker": attempt.hostname},
            )
        )

    def _running_lost(
        self,
        ctx: RunContext,
        active: ActiveExecution,
        flight: _Flight,
        attempt: StepAttempt,
        why: str,
    ) -> None:
        reason = (
            f"attempt {attempt.attempt_number} of step {attempt.step_key!r} on "
            f"{attempt.hostname} (pid {attempt.pid}) {why}"
        )
        if ctx.instance.storage.finish_step_attempt(
            attempt.attempt_id,
            StepAttemptStatus.LOST,
            time.time(),
            reason,
            [StepAttemptStatus.RUNNING],
        ):
            self._lost(ctx, active, flight, reason)

    def _unconsumed(
        self, ctx: RunContext, active: ActiveExecution, app: Any, flight: _Flight, waited: float
    ) -> None:
        reason = (
            f"step {flight.step.key!r} waited {waited:.0f}s on queue "
            f"{flight.broker_queue!r}, which no worker consumes"
        )
        if self._give_up_queued(ctx, flight, reason):
            app.control.revoke(flight.attempt_id)
            del self.in_flight[flight.step.key]
            ctx.fail_step(active, flight.step.key, flight.step.attempt, reason)

    def _look_for_stranded(
        self,
        ctx: RunContext,
        active: ActiveExecution,
        long_queued: dict[str, _Flight],
        silent: dict[str, tuple[_Flight, StepAttempt]],
    ) -> None:
        """Judge the last look at the fleet (lost_messages.py), then start the next one
        while any attempt is in doubt: QUEUED for a while, or RUNNING and silent."""
        doubted = long_queued.keys() | silent.keys()
        for book in (self._missing_since, self._strikes):
            for attempt_id in list(book):
                if attempt_id not in doubted:  # claimed, beating, finished or given up
                    del book[attempt_id]
        # A worker's answer stands while the attempt is in flight (it keeps a slow attempt
        # out of `silent`); it goes with the attempt.
        flying = {flight.attempt_id for flight in self.in_flight.values()}
        for attempt_id in list(self._seen_running):
            if attempt_id not in flying:
                del self._seen_running[attempt_id]
        self._unconfirmed &= flying
        look = self._look
        if look is not None and look.done():
            self._look = None
            if look.exception() is None:
                self._judge_queued(ctx, active, look.result(), long_queued)
                self._judge_running(ctx, active, look.result(), silent)
            else:  # the fleet could not be asked: the heartbeat timeout decides
                self._unconfirmed.update(self._look_asked)
        if doubted and self._look is None and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + CHECK_SECONDS
            queued = {attempt_id: f.broker_queue for attempt_id, f in long_queued.items()}
            self._look_asked = sorted(silent)
            # The look ends once every live worker answered, not after the whole reply
            # timeout: a second less per look, two per stranded attempt.
            live = len(self._live_workers(ctx, self.worker_beat_missed_after).queues)
            self._look = self._inspector.submit(
                look_at_fleet, self._inspect_app, queued, self._look_asked, live or None
            )

    def _strike(self, attempt_id: str, needed: int = STRIKES) -> bool:
        """One more look found the attempt held by no live worker: True once it is enough.
        One is enough where a worker that may hold it stayed silent and is known dead (its
        database session ended): the second look guards against a live worker late to
        list a message it has just taken, or merely slow to answer."""
        self._strikes[attempt_id] = self._strikes.get(attempt_id, 0) + 1
        return self._strikes[attempt_id] >= needed

    def _judge_queued(
        self,
        ctx: RunContext,
        active: ActiveExecution,
        look: FleetLook,
        long_queued: dict[str, _Flight],
    ) -> None:
        """A QUEUED attempt whose message is out of its queue is stranded once, twice in a
        row, no answering worker holds it while every live worker consuming its queue
        answered; or once it went unclaimed for `unclaimed_timeout` (a worker that holds it
        but hangs, or live workers that do not answer in time)."""
        now = time.time()
        for attempt_id, flight in list(long_queued.items()):
            queue_waiting = look.waiting.get(flight.broker_queue)
            if queue_waiting is None or attempt_id in queue_waiting:
                # Waiting (again: a broker gives a dead worker's messages back), or nothing
                # could be told: the clock starts over.
                self._missing_since.pop(attempt_id, None)
                self._strikes.pop(attempt_id, None)
                continue
            # Out of the queue at the latest when the look began.
            since = self._missing_since.setdefault(attempt_id, look.started_at)
            if attempt_id in look.held:
                self._strikes.pop(attempt_id, None)
            elif attempt_id in look.asked:
                live = self._live_workers(ctx, self.worker_beat_missed_after)
                if counts_against_queued(look, live, attempt_id, flight.broker_queue):
                    dead = self._dead_workers(ctx).gone_consuming(flight.broker_queue)
                    dead -= look.answered
                    if self._strike(attempt_id, 1 if dead else STRIKES):
                        holder = (
                            "no worker that answered holds it"
                            if look.answered
                            else "no worker answered, and none consuming its queue still beats"
                        )
                        if dead:
                            holder += f" (dead: {', '.join(sorted(dead))})"
                        self._message_lost(ctx, active, flight, now - since, holder)
                        continue
                else:
                    # A live consumer did not answer: it may hold the message and be late
                    # (a starved worker). No strike, and the row of strikes is broken.
                    self._strikes.pop(attempt_id, None)
                    logger.debug(
                        "attempt %s out of queue %s since %.1fs: no strike, %s did not answer",
                        attempt_id,
                        flight.broker_queue,
                        now - since,
                        ", ".join(sorted(unanswered_consumers(look, live, flight.broker_queue))),
                    )
            if now - since >= self.unclaimed_timeout:
                live = self._live_workers(ctx, self.worker_beat_missed_after)
                late = unanswered_consumers(look, live, flight.broker_queue)
                why = "no worker claimed it"
                if late and attempt_id not in look.held:
                    why += f" ({', '.join(sorted(late))} did not answer)"
                self._message_lost(ctx, active, flight, now - since, why)

    def _judge_running(
        self,
        ctx: RunContext,
        active: ActiveExecution,
        look: FleetLook,
        silent: dict[str, tuple[_Flight, StepAttempt]],
    ) -> None:
        """A RUNNING attempt that stopped heartbeating is lost once, twice in a row, its
        claimant did not say it runs it (answered without it, or did not answer) and the
        attempt did not beat since the look began. The attempt's own beat (every second,
        from the pool process running it) decides also when no worker answers at all: a
        killed worker is found as fast as when others answer, not once its main
        process's heartbeat is two liveness beats late. One its worker still runs is slow,
        not lost: the heartbeat timeout counts from that answer, and applies only to
        attempts the fleet, asked, did not confirm."""
        for attempt_id, (flight, attempt) in silent.items():
            if attempt_id not in look.asked:
                continue
            if attempt.hostname in look.held.get(attempt_id, ()):
                self._seen_running[attempt_id] = look.started_at
                self._strikes.pop(attempt_id, None)
                self._unconfirmed.discard(attempt_id)
                continue
            self._unconfirmed.add(attempt_id)
            # Another worker holding it holds a copy the broker gave back (RabbitMQ does
            # when the claimant's connection closed); its claim will fail.
            beat = attempt.heartbeat_at or attempt.started_at or 0.0
            if not counts_against_running(look, attempt_id, attempt.hostname, beat):
                continue
            gone = self._dead_workers(ctx).gone
            if not self._strike(attempt_id, 1 if attempt.hostname in gone else STRIKES):
                continue
            if attempt.hostname in gone:
                why = "stopped heartbeating, and its worker is dead (its database session ended)"
            elif attempt.hostname in look.answered:
                why = "stopped heartbeating, and its worker no longer runs it"
            elif look.answered:
                why = "stopped heartbeating, and its worker no longer answers"
            else:
                why = "stopped heartbeating, and no worker answered"
            self._running_lost(ctx, active, flight, attempt, why)

    def _message_lost(
        self, ctx: RunContext, active: ActiveExecution, flight: _Flight, unclaimed: float, why: str
    ) -> None:
        reason = (
            f"attempt {flight.step.attempt} of step {flight.step.key!r} was taken off queue "
            f"{flight.broker_queue!r} at least {unclaimed:.0f}s ago and {why}: the worker that took "
            "it died or hangs, or the broker lost the message"
        )
        if self._give_up_queued(ctx, flight, reason):
            self._lost(ctx, active, flight, reason)

    @staticmethod
    def _give_up_queued(ctx: RunContext, flight: _Flight, reason: str) -> bool:
        """QUEUED -> LOST; False if a worker claimed it meanwhile (then it runs)."""
        return ctx.instance.storage.finish_step_attempt(
            flight.attempt_id,
            StepAttemptStatus.LOST,
            time.time(),
            reason,
            [StepAttemptStatus.QUEUED],
        )

    def _lost(self, ctx: RunContext, active: ActiveExecution, flight: _Flight, reason: str) -> None:
        key = flight.step.key
        del self.in_flight[key]
        retries = self.infra_retries.get(key, 0)
        if retries >= self.config.max_infra_retries:
            ctx.fail_step(
                active, key, flight.step.attempt, f"{reason}; no infrastructure retries left"
            )
            return
        self.infra_retries[key] = retries + 1
        self._republish.add(key)
        ctx.sink.emit(
            make_event(
                ctx.run.run_id,
                EventType.ENGINE_EVENT,
                step_key=key,
                attempt=flight.step.attempt,
                level="WARNING",
                message=f"{reason}; publishing a new attempt (infrastructure retry {retries + 1})",
                data={"infra_retry": retries + 1},
            )
        )
        active.retry_step(key)

    # -- cancel ---------------------------------------------------------------------------------
    def _cancel(self, ctx: RunContext, active: ActiveExecution, app: Any) -> None:
        """Revoke queued steps, terminate running ones, and wait until they really stopped."""
        storage = ctx.instance.storage
        now = time.time()
        flights = {f.attempt_id: f for f in self.in_flight.values()}
        running = []
        for attempt in storage.get_step_attempts(attempt_ids=list(flights)):
            if attempt.status is StepAttemptStatus.QUEUED and storage.finish_step_attempt(
                attempt.attempt_id,
                StepAttemptStatus.CANCELED,
                now,
                "run canceled",
                [StepAttemptStatus.QUEUED],
            ):
                app.control.revoke(attempt.attempt_id)
            elif attempt.status is StepAttemptStatus.RUNNING:
                destination = [attempt.hostname] if attempt.hostname else None
                app.control.revoke(
                    attempt.attempt_id, terminate=True, signal="SIGKILL", destination=destination
                )
                running.append(attempt.attempt_id)
        self._wait_stopped(ctx, running, revoked_at=now)
        for flight in list(self.in_flight.values()):
            storage.finish_step_attempt(
                flight.attempt_id, StepAttemptStatus.CANCELED, time.time(), "run canceled"
            )
            ctx.fail_step(
                active,
                flight.step.key,
                flight.step.attempt,
                f'step "{flight.step.key}" interrupted: the run was canceled',
            )
        self.in_flight.clear()

    def _wait_stopped(self, ctx: RunContext, attempt_ids: list[str], revoked_at: float) -> None:
        """Until each attempt finished or its heartbeat (every HEARTBEAT_SECONDS) stopped after
        the revoke."""
        deadline = time.monotonic() + self.config.cancel_timeout_seconds
        pending = set(attempt_ids)
        while pending and time.monotonic() < deadline:
            time.sleep(0.5)
            now = time.time()
            for attempt in ctx.instance.storage.get_step_attempts(attempt_ids=sorted(pending)):
                silent = now - (attempt.heartbeat_at or 0) > 3.0 and now - revoked_at > 3.0
                if attempt.status is not StepAttemptStatus.RUNNING or silent:
                    pending.discard(attempt.attempt_id)


def _on_brokers(workers: dict[str, str]) -> str:
    """Per broker: "w1@a, w2@b consume it on amqp://rabbit:5672//"."""
    by_broker: dict[str, list[str]] = {}
    for node, broker in sorted(workers.items()):
        by_broker.setdefault(broker, []).append(node)
    return "; ".join(
        f"{', '.join(nodes)} consume{'s' if len(nodes) == 1 else ''} it on {broker}"
        for broker, nodes in by_broker.items()
    )


def _has_consumers(app: Any, queue: str) -> bool:
    replies = app.control.inspect(timeout=1.0).active_queues() or {}
    return any(q.get("name") == queue for queues in replies.values() for q in queues)

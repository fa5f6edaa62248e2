"""What a warm worker process keeps between tasks: the instance, loaded jobs, and the
step environment (plan, resources) of the runs it recently served.

One worker may serve runs of several code locations. Each run's job is loaded into its
location's own module table (`opgraph.user_code`, kept per location and code version), and
that location is active, alone, while the run's resources are built or torn down and while
its ops run (`WorkerState.running`); the prefork pool runs one task per process at a
time, so a step never sees another location's modules."""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from collections import OrderedDict
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

from opgraph.code_pointer import load_job
from opgraph.context import RunInfo
from opgraph.instance import OpgraphInstance
from opgraph.plan import ExecutionPlan
from opgraph.resources import build_resources
from opgraph.run_config import job_resource_defs, validate_run_config
from opgraph.step_runner import StepEnvironment
from opgraph.user_code import running

log = logging.getLogger("opgraph.celery")

MAX_CACHED_RUNS = 8
# The code locations this fleet's pool processes loaded last (kv key; JSON list, newest
# first): a pool process starting later loads them before its first task (opgraph_celery.
# warmup). Written once per location per process, off the step's path (LocationNotes).
RECENT_LOCATIONS_KEY = "opgraph_celery/recent_locations"
MAX_RECENT_LOCATIONS = 4
NOTE_THREAD = "opgraph-note-location"
# A running attempt's beat: its run worker doubts it after one and a half beats of
# silence and then asks the fleet (executor.py), so the beat sets how soon a dead
# worker's attempts are found. One UPDATE per second per busy pool process.
HEARTBEAT_SECONDS = 1.0
LIVE_EVENTS_SECONDS = 0.25
KEEPER_TICK_SECONDS = 0.05


@dataclass
class _RunEnvironment:
    env: StepEnvironment
    resources: ExitStack
    job: Any

    def close(self) -> None:
        with running(self.job):  # resource teardown is user code too
            self.resources.close()


class RunningAttempt(Protocol):
    def flush_live(self, older_than: float) -> None: ...


class AttemptKeeper:
    """One thread per worker process keeps its running attempts visible: it beats for
    them every HEARTBEAT_SECONDS and writes their live events (the step's start, its logs)
    once they are LIVE_EVENTS_SECONDS old. A step shorter than that writes its live events
    with its outcome, so its claim is a plain update (no run lock, no notification)."""

    def __init__(self, instance: OpgraphInstance):
        self.instance = instance
        self.running: dict[str, RunningAttempt] = {}
        self._lock = threading.Lock()
        self._busy = threading.Event()  # set while attempts run: the thread sleeps otherwise
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idle until an attempt is added); the pool process's warm-up
        does, so that a step does not wait for a new thread to be scheduled."""
        with self._lock:
            self._start()

    def add(self, attempt_id: str, attempt: RunningAttempt) -> None:
        with self._lock:
            self.running[attempt_id] = attempt
            self._busy.set()
            self._start()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def remove(self, attempt_id: str) -> None:
        with self._lock:
            self.running.pop(attempt_id, None)

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while True:
            if not self._busy.is_set():
                self._busy.wait()
                last_beat = time.monotonic()  # each attempt was claimed with a fresh beat
            time.sleep(KEEPER_TICK_SECONDS)
            with self._lock:
                attempts = dict(self.running)
                if not attempts:
                    self._busy.clear()
            for attempt in attempts.values():
                try:
                    attempt.flush_live(LIVE_EVENTS_SECONDS)
                except Exception:  # kept for the completion, which writes them too
                    log.warning("could not write live events yet", exc_info=True)
            if attempts and time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                try:
                    self.instance.storage.heartbeat_step_attempts(sorted(attempts), time.time())
                except Exception:  # the next beat may work; a stale beat means a retry
                    pass


class WorkerState:
    def __init__(self) -> None:
        self.instance = OpgraphInstance.get()
        self.instance.ride_out_database_outages()  # steps in flight outlast a restart
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.keeper = AttemptKeeper(self.instance)
        self.notes = LocationNotes(self.instance)
        self._runs: OrderedDict[str, _RunEnvironment] = OrderedDict()
        # The warm-up thread and a task may ask for the same run at once: built once.
        self._building = threading.Lock()
        self._noted: set[str] = set()

    def start_threads(self) -> None:
        """Start the process's attempt keeper and location notes ahead of its first step
        (the warm-up does): a first step that started them waited for each new thread to
        be scheduled, 6-14 ms each under cProfile at load 12 on 2 cores."""
        self.keeper.start()
        self.notes.start()

    def environment(self, run_id: str) -> StepEnvironment:
        """The run's plan and resources, built once per process (LRU of recent runs)."""
        with self._building:
            return self._environment(run_id)

    def _environment(self, run_id: str) -> StepEnvironment:
        cached = self._runs.get(run_id)
        if cached is not None:
            self._runs.move_to_end(run_id)
            return cached.env
        run = self.instance.get_run(run_id)
        job = load_job(run.code_pointer or {}, run.job_name)
        self._note_location(run.code_pointer or {}, run.job_name, run_id)
        stack = ExitStack()
        with running(job):
            resolved = validate_run_config(job, run.run_config)
            plan = ExecutionPlan.build(job, resolved)
            resources = stack.enter_context(
                build_resources(
                    job_resource_defs(job), resolved.resource_configs, self.instance, run_id
                )
            )
        env = StepEnvironment(
            run=RunInfo(run.run_id, run.job_name, dict(run.tags), dict(run.run_config)),
            plan=plan,
            resources=resources,
            compute_logs_dir=self.instance.compute_logs_dir,
            capture="fd",
            instance=self.instance,
        )
        self._runs[run_id] = _RunEnvironment(env, stack, job)
        while len(self._runs) > MAX_CACHED_RUNS:
            _, oldest = self._runs.popitem(last=False)
            oldest.close()
        return env

    def _note_location(self, pointer: dict[str, Any], job_name: str, run_id: str) -> None:
        """Add the run's code location to the fleet's recent ones, once per process."""
        key = json.dumps(pointer, sort_keys=True)
        if key in self._noted:
            return
        self._noted.add(key)
        self.notes.put({"pointer": pointer, "job_name": job_name, "run_id": run_id})

    def newest_location_is(self, pointer: dict[str, Any]) -> None:
        """The fleet's newest recent location (as the warm-up read it) is `pointer`'s: this
        process's steps of it do not note it again, since that would only change which of
        its runs the next pool process builds a plan for, while the first step's note (two
        statements in a thread beside the step) competed with the step for the CPU."""
        self._noted.add(json.dumps(pointer, sort_keys=True))

    def running(self, run_id: str) -> AbstractContextManager[Any]:
        """The run's code location active while its step runs."""
        cached = self._runs.get(run_id)
        return running(cached.job if cached is not None else None)


class LocationNotes:
    """Writes the code locations this process loads into the fleet's recent ones, one at a
    time in one thread (NOTE_THREAD), which the warm-up starts before the first step."""

    def __init__(self, instance: OpgraphInstance):
        self.instance = instance
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=NOTE_THREAD, daemon=True)
                self._thread.start()

    def put(self, entry: dict[str, Any]) -> None:
        self.start()
        self._queue.put(entry)

    def join(self) -> None:
        """Until every note put so far is written (or failed)."""
        self._queue.join()

    def _loop(self) -> None:
        while True:
            entry = self._queue.get()
            try:
                note_recent_location(self.instance.storage, entry)
            finally:
                self._queue.task_done()


def recent_locations(storage: Any) -> list[dict[str, Any]]:
    """The code locations pool processes loaded last, newest first (see RECENT_LOCATIONS_KEY)."""
    try:
        entries = json.loads(storage.kv_get(RECENT_LOCATIONS_KEY) or "[]")
    except ValueError:  # written by hand or by another version: nothing to warm
        return []
    if not isinstance(entries, list):
        return []
    return [
        e
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("pointer"), dict) and e.get("job_name")
    ]


def note_recent_location(storage: Any, entry: dict[str, Any]) -> None:
    """Put `entry` first among the recent locations. Two processes writing at once may
    lose one entry: it only means one less location warmed in advance."""
    try:
        others = [e for e in recent_locations(storage) if e["pointer"] != entry["pointer"]]
        entries = [entry, *others][:MAX_RECENT_LOCATIONS]
        storage.kv_set(RECENT_LOCATIONS_KEY, json.dumps(entries))
    except Exception:  # e.g. the database is down: the warm-up is an optimization only
        log.debug("could not note the recent code location", exc_info=True)


_state: WorkerState | None = None


def worker_state() -> WorkerState:
    """Built lazily in each pool process (after the fork), then reused."""
    global _state
    if _state is None or _state.pid != os.getpid():
        _state = WorkerState()
    return _state

"""The run lifecycle under races: whatever launch, cancel, finish, monitor-fail, resume and
delete do at the same time, in threads or in processes, on SQLite and on the real
PostgreSQL, the run's status equals the fold of its stored lifecycle events, and a
deleted run has neither a row nor events.

Hypothesis writes the programs: a few actions done one after another first (to reach any
starting status), then one list of actions per thread (or process), all released at
once by a barrier. Every action is the platform's own code path (the coordinators, the
in-memory launcher, the run worker's event sink, the run monitor, the core's delete).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from opgraph.daemon.monitoring import RunMonitor
from opgraph.errors import RunNotFound
from opgraph.events import EventType
from opgraph.execution import EventSink
from opgraph.instance import OpgraphInstance
from opgraph.instance_config import RunMonitoringConfig
from opgraph.ports import RunStatusError
from opgraph.run_lifecycle import (
    LIFECYCLE_EVENT_TYPES,
    delete_run,
    fold_status,
    submit_or_fail,
)
from opgraph_launchers.coordinators import QueuedRunCoordinator
from opgraph_storage import FINISHED_STATUSES, RunStatus, Storage

IN_MEMORY_LAUNCHER = {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"}
ACTIONS = (
    "enqueue",
    "launch",
    "start",
    "cancel",
    "succeed",
    "fail",
    "monitor_fail",
    "resume",
    "delete",
)
PROCESSES = 3
# Interleavings per backend: about 2,000 in all, in 40-60 s on a 2-core machine
# (a PostgreSQL example costs about twice a SQLite one: more round trips per action).
THREAD_EXAMPLES = {"sqlite": 1000, "postgresql": 600}
PROCESS_EXAMPLES = {"sqlite": 250, "postgresql": 200}
# Seconds a barrier or a result may take before the test fails instead of hanging.
PATIENCE = 60

actions = st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3)
prefixes = st.lists(st.sampled_from(ACTIONS), max_size=2)


def backend_of(storage_url: str) -> str:
    return "postgresql" if storage_url.startswith("postgresql") else "sqlite"


class Actor:
    """Does one action the way the platform does it; True if it deleted the run."""

    def __init__(self, instance: OpgraphInstance):
        self.instance = instance
        self.queue = QueuedRunCoordinator(instance)
        self.monitor = RunMonitor(instance, RunMonitoringConfig(max_resume_run_attempts=1))

    def act(self, action: str, run_id: str) -> bool:
        instance = self.instance
        try:
            if action == "enqueue":
                self.queue.submit_run(instance.get_run(run_id))
            elif action == "launch":  # the immediate coordinator: mark_starting
                submit_or_fail(instance, instance.get_run(run_id))
            elif action == "start":
                EventSink(instance, run_id).append_lifecycle(EventType.RUN_START, "started")
            elif action == "cancel":
                instance.cancel_run(run_id)
            elif action == "succeed":
                EventSink(instance, run_id).append_lifecycle(EventType.RUN_SUCCESS, "done")
            elif action == "fail":
                EventSink(instance, run_id).append_lifecycle(EventType.RUN_FAILURE, "broke")
            elif action == "monitor_fail":  # the monitor's decision on what it last read
                run = instance.get_run(run_id)
                self.monitor._end(run, time.time(), RunStatus.FAILURE, "worker is gone")
            elif action == "resume":
                run = instance.get_run(run_id)
                if run.status is RunStatus.STARTED:
                    self.monitor._resume(run, time.time(), "is gone", 1)
            elif action == "delete":
                delete_run(instance, run_id)
                return True
        except (RunNotFound, RunStatusError):
            pass  # the run moved (or went) under this action: refused, as it should be
        return False

    def run_all(self, run_id: str, program: Sequence[str]) -> bool:
        return any([self.act(action, run_id) for action in program])


def check_agrees(storage: Storage, run_id: str, deleted: bool) -> None:
    run = storage.get_run(run_id)
    events = storage.get_events(run_id)
    if deleted:
        assert run is None and events == [], (run, [e.event_type for e in events])
        return
    assert run is not None
    types = [event.event_type for event in events]
    assert run.status is fold_status(types), types  # fold_status raises on a bad step
    assert (run.started_at is not None) == ("RUN_START" in types), (run, types)
    assert (run.ended_at is not None) == (run.status in FINISHED_STATUSES), (run, types)
    for event in events:
        refused = event.data.get("refused_event")
        if refused is not None:  # a refusal: an engine event naming the event and status
            # (a refused resume is a refused ENGINE_EVENT: it needs the run STARTED)
            assert event.event_type == "ENGINE_EVENT"
            assert refused in {*LIFECYCLE_EVENT_TYPES, "ENGINE_EVENT"}, refused
            assert event.message.startswith(f"{refused} refused: run is "), event.message


def write_home(tmp_path: Path, storage_url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    config = {
        "storage": {"url": storage_url},
        "run_coordinator": "immediate",
        "run_launcher": IN_MEMORY_LAUNCHER,
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    return home


@pytest.fixture
def instance(tmp_path: Path, storage_url: str) -> Iterator[OpgraphInstance]:
    made = OpgraphInstance.get(write_home(tmp_path, storage_url))
    yield made
    made.dispose()
    made.storage.dispose()


def run_threads(actor: Actor, run_id: str, programs: Sequence[Sequence[str]]) -> bool:
    barrier = threading.Barrier(len(programs))
    deleted: list[bool] = []
    errors: list[BaseException] = []

    def play(program: Sequence[str]) -> None:
        try:
            barrier.wait(PATIENCE)
            deleted.append(actor.run_all(run_id, program))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=play, args=(program,)) for program in programs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return any(deleted)


def test_threads_never_part_status_and_log(instance: OpgraphInstance, storage_url: str) -> None:
    actor = Actor(instance)

    @settings(max_examples=THREAD_EXAMPLES[backend_of(storage_url)], deadline=None, database=None)
    @given(prefix=prefixes, programs=st.lists(actions, min_size=2, max_size=3))
    def interleave(prefix: list[str], programs: list[list[str]]) -> None:
        run_id = instance.create_run("etl").run_id
        deleted = actor.run_all(run_id, prefix)
        if not deleted:
            deleted = run_threads(actor, run_id, programs)
        check_agrees(instance.storage, run_id, deleted)

    interleave()


# -- processes ---------------------------------------------------------------------------------
def _actor_process(home: str, tasks: Any, results: Any, barrier: Any) -> None:
    instance = OpgraphInstance.get(home)
    actor = Actor(instance)
    try:
        while (task := tasks.get()) is not None:
            run_id, program = task
            try:
                barrier.wait(PATIENCE)
                results.put((actor.run_all(run_id, program), None))
            except BaseException as exc:
                results.put((False, repr(exc)))
    finally:
        instance.dispose()
        instance.storage.dispose()


class ActorProcesses:
    """PROCESSES long-lived processes (spawned: nothing of this one's pools is shared),
    each with its own instance; `play` releases them on one run at once."""

    def __init__(self, home: Path):
        context = multiprocessing.get_context("spawn")
        self.results = context.Queue()
        self.tasks = [context.Queue() for _ in range(PROCESSES)]
        self.barrier = context.Barrier(PROCESSES)  # kept: its semaphore lives while we do
        self.processes = [
            context.Process(
                target=_actor_process, args=(str(home), tasks, self.results, self.barrier)
            )
            for tasks in self.tasks
        ]
        for process in self.processes:
            process.start()

    def play(self, run_id: str, programs: Sequence[Sequence[str]]) -> bool:
        for tasks, program in zip(self.tasks, programs, strict=True):
            tasks.put((run_id, list(program)))
        outcomes = []
        waited = 0
        while len(outcomes) < PROCESSES:
            try:
                outcomes.append(self.results.get(timeout=1))
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if p.exitcode is not None]
                waited += 1
                if dead or waited >= PATIENCE:
                    pytest.fail(f"actor processes stopped answering (exit codes: {dead})")
        errors = [error for _, error in outcomes if error is not None]
        assert errors == []
        return any(deleted for deleted, _ in outcomes)

    def close(self) -> None:
        for tasks in self.tasks:
            tasks.put(None)
        for process in self.processes:
            process.join(PATIENCE)
        assert [process.exitcode for process in self.processes] == [0] * PROCESSES


def test_processes_never_part_status_and_log(instance: OpgraphInstance, storage_url: str) -> None:
    actor = Actor(instance)
    actors = ActorProcesses(instance.home)
    try:

        @settings(
            max_examples=PROCESS_EXAMPLES[backend_of(storage_url)], deadline=None, database=None
        )
        @given(
            prefix=prefixes,
            programs=st.lists(actions, min_size=PROCESSES, max_size=PROCESSES),
        )
        def interleave(prefix: list[str], programs: list[list[str]]) -> None:
            run_id = instance.create_run("etl", run_id=uuid.uuid4().hex).run_id
            deleted = actor.run_all(run_id, prefix)
            if not deleted:
                deleted = actors.play(run_id, programs)
            check_agrees(instance.storage, run_id, deleted)

        interleave()
    finally:
        actors.close()

"""Real daemon processes on PostgreSQL: kill -9 crash and takeover, 300 queued runs under
limits (checked from the event log), and a SIGKILLed run worker found and resumed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_procs import IN_PROCESS, DaemonProcess, make_home, wait_for

from opgraph.daemon.controller import LEASE_NAME
from opgraph.daemon.run_queue import PRIORITY_TAG
from opgraph.instance import OpgraphInstance
from opgraph_storage.records import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    RunsFilter,
    RunStatus,
    TickStatus,
)

pytestmark = pytest.mark.slow
S = RunStatus


@pytest.fixture
def procs() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for process in started:
        process.stop()


def instance_at(home: Path, schedule_running: bool = False) -> OpgraphInstance:
    instance = OpgraphInstance.get(home)
    if not schedule_running:  # runs of the test's own only
        instance.storage.upsert_instigator_state(
            InstigatorState(
                "procs:every_two_seconds", InstigatorType.SCHEDULE, InstigatorStatus.STOPPED
            )
        )
    return instance


def test_standby_takes_over_after_kill_9_once_the_lease_runs_out(
    tmp_path: Path, pg_storage_url: str, procs: list[DaemonProcess]
) -> None:
    """How soon (the lease, 10 s, plus a standby's 1 s between tries) is a figure of the
    daemon benchmark (`standby_takeover_s`); here, what holds at any load: the standby
    does not take a live lease, and takes a dead daemon's lease once it has run out."""
    home = make_home(tmp_path / "home", pg_storage_url)  # default lease: 10 s
    instance = instance_at(home)
    storage = instance.storage
    try:
        active = DaemonProcess(home, "a")
        procs.append(active)
        lease = wait_for(lambda: storage.get_lease(LEASE_NAME), 30, "the first daemon's lease")
        assert lease.pid == active.pid
        standby = DaemonProcess(home, "b")
        procs.append(standby)

        def standby_beat() -> float | None:
            beat = storage.get_daemon_heartbeats().get("DAEMON_STANDBY")
            return beat.timestamp if beat is not None else None

        first_beat = wait_for(standby_beat, 30, "a standby heartbeat")
        # A standby beats once per try: a later beat is a try that found the lease held.
        wait_for(lambda: (standby_beat() or 0) > first_beat, 30, "the standby's next try")
        assert storage.get_lease(LEASE_NAME).pid == active.pid  # type: ignore[union-attr]
        active.kill9()
        dead = storage.get_lease(LEASE_NAME)
        assert dead is not None
        taken = wait_for(
            lambda: (lease := storage.get_lease(LEASE_NAME)) and lease.pid == standby.pid and lease,
            60,
            "the standby to take the lease",
        )
        if dead.pid == active.pid:  # (else the standby had taken it already: read too late)
            assert taken.acquired_at >= dead.expires_at, (taken, dead)
        assert taken.generation == lease.generation + 1
        # The new active daemon works: a queued run is launched and finishes.
        run = instance.create_run("tiny", run_config=IN_PROCESS, code_pointer=_pointer(home))
        instance.submit_run(run.run_id)
        wait_for(lambda: instance.get_run(run.run_id).status is S.SUCCESS, 30, "the run to succeed")
    finally:
        instance.dispose()


def _pointer(home: Path) -> dict[str, Any]:
    return {"python_file": str(home / "jobs.py"), "working_directory": str(home)}


def test_kill_9_between_run_created_and_tick_recorded_makes_no_duplicate(
    tmp_path: Path, pg_storage_url: str, procs: list[DaemonProcess]
) -> None:
    # Dequeuing paused: runs stay QUEUED, so every run the scheduler made is counted.
    home = make_home(
        tmp_path / "home",
        pg_storage_url,
        run_coordinator={"queued": {"max_concurrent_runs": 0}},
        daemon={"lease_seconds": 2, "scheduler_interval_seconds": 0.2},
    )
    instance = instance_at(home, schedule_running=True)
    storage = instance.storage
    try:
        script = str(Path(__file__).with_name("crash_daemon.py"))
        crashing = DaemonProcess(home, "crash", argv=[os.sys.executable, script])  # type: ignore[attr-defined]
        procs.append(crashing)
        assert crashing.process.wait(60) == -signal.SIGKILL, crashing.output()
        [crashed_tick] = [
            t
            for t in storage.get_ticks("procs:every_two_seconds")
            if t.status is TickStatus.STARTED
        ]
        made = storage.get_runs(RunsFilter(tags={"opgraph/tick": crashed_tick.tick_key}))
        assert len(made) == 1  # the run was created; the tick does not know it
        # Two daemons now: the restarted one and a second, for a few ticks.
        procs.extend([DaemonProcess(home, "again"), DaemonProcess(home, "second")])
        recorded = wait_for(
            lambda: (
                (t := storage.get_tick(crashed_tick.tick_key)).status is TickStatus.SUCCESS and t
            ),
            30,
            "the crashed tick to be completed",
        )
        assert recorded.run_ids == [made[0].run_id]
        wait_for(lambda: len(storage.get_ticks("procs:every_two_seconds")) >= 6, 30, "more ticks")
        # Every run of a recorded tick was submitted (and waits: dequeuing is paused). A tick
        # still in progress may have made its run a moment ago and not submitted it yet; a
        # tick is recorded after its runs are submitted, so the ticks are read first.
        recorded_ticks = {
            t.tick_key
            for t in storage.get_ticks("procs:every_two_seconds")
            if t.status is TickStatus.SUCCESS
        }
        runs = storage.get_runs(RunsFilter(tags={"opgraph/schedule_name": "every_two_seconds"}))
        per_tick: dict[str, int] = {}
        for run in runs:
            per_tick[run.tags["opgraph/tick"]] = per_tick.get(run.tags["opgraph/tick"], 0) + 1
        assert per_tick and max(per_tick.values()) == 1, per_tick
        of_recorded = [run for run in runs if run.tags["opgraph/tick"] in recorded_ticks]
        assert len(of_recorded) >= 5 and all(run.status is S.QUEUED for run in of_recorded)
    finally:
        instance.dispose()


def test_300_queued_runs_launch_in_priority_order_within_limits(
    tmp_path: Path, pg_storage_url: str, procs: list[DaemonProcess]
) -> None:
    limits = [
        {"key": "database", "limit": 2},
        {"key": "resource", "value": "gpu", "limit": 1},
    ]
    home = make_home(
        tmp_path / "home",
        pg_storage_url,
        run_coordinator={"queued": {"max_concurrent_runs": 10, "tag_concurrency_limits": limits}},
    )
    instance = instance_at(home)
    storage = instance.storage
    try:
        pointer = _pointer(home)
        created = []
        for index in range(int(os.environ.get("DAEMON_TEST_RUNS", "300"))):
            tags = {PRIORITY_TAG: str(index % 4)}
            if index % 10 == 0:
                tags["database"] = "pg" if index % 20 else "mysql"
            elif index % 15 == 1:
                tags["resource"] = "gpu"
            elif index % 15 == 2:
                tags["resource"] = "cpu"
            run = instance.create_run(
                "tiny", run_config=IN_PROCESS, tags=tags, code_pointer=pointer
            )
            instance.submit_run(run.run_id)
            created.append(run)
        procs.append(DaemonProcess(home, "queue"))
        done = {S.SUCCESS, S.FAILURE}
        wait_for(
            lambda: storage.get_runs_count(RunsFilter(statuses=list(done))) == len(created),
            240,
            "300 runs to finish",
            poll=0.5,
        )
        assert storage.get_runs_count(RunsFilter(statuses=[S.SUCCESS])) == len(created)
        spans = {}
        for run in created:
            events = {e.event_type: e for e in storage.get_events(run.run_id)}
            spans[run.run_id] = (events["RUN_STARTING"], events["RUN_SUCCESS"])

        def most_at_once(run_ids: list[str]) -> int:
            edges = []
            for run_id in run_ids:
                starting, ended = spans[run_id]
                edges += [(starting.storage_id, 1), (ended.storage_id, -1)]
            level = peak = 0
            for _, step in sorted(edges):  # event ids order the moments on the database
                level += step
                peak = max(peak, level)
            return peak

        by_tags = {run.run_id: run.tags for run in created}
        everyone = list(spans)
        assert 2 <= most_at_once(everyone) <= 10  # never exceeded
        assert most_at_once([r for r in everyone if "database" in by_tags[r]]) <= 2
        gpu = [r for r in everyone if by_tags[r].get("resource") == "gpu"]
        assert most_at_once(gpu) <= 1
        # Untagged runs were launched by priority, then in the order they were queued.
        plain = [run for run in created if set(run.tags) == {PRIORITY_TAG}]
        launch_order = sorted(plain, key=lambda run: spans[run.run_id][0].storage_id)
        expected = sorted(plain, key=lambda run: -int(run.tags[PRIORITY_TAG]))
        assert [r.run_id for r in launch_order] == [r.run_id for r in expected]
    finally:
        instance.dispose()


@pytest.mark.parametrize("resume", [False, True], ids=["fail", "resume"])
def test_sigkilled_run_worker_is_detected(
    tmp_path: Path, pg_storage_url: str, procs: list[DaemonProcess], resume: bool
) -> None:
    home = make_home(
        tmp_path / "home",
        pg_storage_url,
        run_monitoring={
            "poll_interval_seconds": 0.5,
            "max_resume_run_attempts": 1 if resume else 0,
        },
    )
    marker = tmp_path / "hold"
    marker.touch()
    instance = instance_at(home)
    storage = instance.storage
    try:
        procs.append(DaemonProcess(home, "monitor", DAEMON_TEST_MARKER=str(marker)))
        run = instance.create_run("two_steps", run_config=IN_PROCESS, code_pointer=_pointer(home))
        instance.submit_run(run.run_id)
        wait_for(
            lambda: storage.get_events(run.run_id, event_types=["STEP_START"], step_key="slow"),
            60,
            "the slow step to start",
        )
        pid = int(instance.get_run(run.run_id).tags["opgraph/run_worker_pid"])
        os.kill(pid, signal.SIGKILL)
        # Found by the launcher's health check of that pid (its message says so), not by
        # the run worker's heartbeats going silent for the liveness grace: what the
        # message names is the load-independent fact, so no clock is asserted.
        found_dead = f"Run worker (pid {pid}) is no longer running"
        if not resume:
            [failure] = wait_for(
                lambda: storage.get_events(run.run_id, event_types=["RUN_FAILURE"]), 60, "FAILURE"
            )
            assert instance.get_run(run.run_id).status is S.FAILURE
            assert found_dead in failure.message
            return

        def resumed_by_a_new_worker() -> bool:
            # The attempt count is written before the new worker starts and records its pid.
            tags = instance.get_run(run.run_id).tags
            new_pid = tags.get("opgraph/run_worker_pid")
            return tags.get("opgraph/resume_attempts") == "1" and new_pid not in (None, str(pid))

        wait_for(resumed_by_a_new_worker, 60, "the run to be resumed by a new run worker")
        resuming = [
            e.message
            for e in storage.get_events(run.run_id, event_types=["ENGINE_EVENT"])
            if "resuming the run" in e.message
        ]
        assert len(resuming) == 1 and resuming[0].startswith(found_dead), resuming
        marker.unlink()  # let the slow step finish this time
        wait_for(lambda: instance.get_run(run.run_id).status is S.SUCCESS, 60, "SUCCESS")
        kinds = ["STEP_START", "STEP_RESTARTED"]
        starts = [e.step_key for e in storage.get_events(run.run_id, event_types=kinds)]
        assert starts.count("first") == 1  # done before the crash: not run again
        assert starts.count("slow") == 2  # in flight at the crash: run again by the new worker
        successes = storage.get_events(run.run_id, event_types=["STEP_SUCCESS"])
        assert sorted(e.step_key for e in successes) == ["first", "slow"]
    finally:
        instance.dispose()

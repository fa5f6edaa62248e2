"""Run monitoring, the step sweeper, run retries and retention: tick(now) with a stepped clock."""

from __future__ import annotations

import time
from typing import Any

from daemon_env import DaemonEnv, MakeEnv

from opgraph.daemon.monitoring import MAX_RUNTIME_TAG, RESUME_ATTEMPTS_TAG, RunMonitor
from opgraph.daemon.retention import Retention
from opgraph.daemon.run_retries import RETRY_NUMBER_TAG, RunRetries
from opgraph.events import EventType
from opgraph.instance_config import (
    LivenessConfig,
    RetentionConfig,
    RunMonitoringConfig,
    RunRetriesConfig,
)
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_celery.sweeper import StepSweeper
from opgraph_storage.records import (
    DaemonHeartbeat,
    RunRecord,
    RunsFilter,
    RunStatus,
    StepAttempt,
    StepAttemptStatus,
    TickRecord,
    TickStatus,
)

S = RunStatus
A = StepAttemptStatus


class Revokes:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def revoke(self, attempt: StepAttempt, terminate: bool) -> None:
        self.calls.append((attempt.attempt_id, terminate))


def launched(env: DaemonEnv, **tags: str) -> RunRecord:
    run = env.instance.create_run("etl", tags=tags)
    env.launcher.launch_run(run)
    return env.instance.get_run(run.run_id)


def started(env: DaemonEnv, **tags: str) -> RunRecord:
    run = launched(env, **tags)
    append_lifecycle_event(
        env.instance.storage, run.run_id, EventType.RUN_START, timestamp=time.time()
    )
    return env.instance.get_run(run.run_id)


def messages(env: DaemonEnv, run_id: str, event_type: str) -> list[str]:
    return [e.message for e in env.instance.storage.get_events(run_id, event_types=[event_type])]


def monitor(env: DaemonEnv, revokes: Revokes | None = None, **config: Any) -> RunMonitor:
    """`config`: keys of run_monitoring and of liveness (start_timeout_seconds, ...)."""
    liveness = {key: config.pop(key) for key in list(config) if key in LivenessConfig.model_fields}
    return RunMonitor(
        env.instance, RunMonitoringConfig(**config), revokes, LivenessConfig(**liveness)
    )


def test_stuck_starting_run_is_failed_and_its_worker_terminated(env: DaemonEnv) -> None:
    run = launched(env)
    now = time.time()
    monitor(env, start_timeout_seconds=60).tick(now + 30)
    assert env.instance.get_run(run.run_id).status is S.STARTING
    report = monitor(env, start_timeout_seconds=60).tick(now + 61)
    assert report.info == {"start_timeouts": 1}
    assert env.instance.get_run(run.run_id).status is S.FAILURE
    assert env.launcher.terminated == [run.run_id]
    [message] = messages(env, run.run_id, "RUN_FAILURE")
    assert message.startswith("Run timed out: still STARTING after 6")
    assert "start_timeout_seconds: 60" in message


def test_a_run_never_submitted_is_failed_with_the_reason(env: DaemonEnv) -> None:
    orphan = env.instance.create_run("etl")  # its creator died before submitting it
    now = time.time()
    monitor(env, start_timeout_seconds=60).tick(now + 30)
    assert env.instance.get_run(orphan.run_id).status is S.NOT_STARTED
    report = monitor(env, start_timeout_seconds=60).tick(now + 61)
    assert report.info == {"never_submitted": 1}
    assert env.instance.get_run(orphan.run_id).status is S.FAILURE
    [message] = messages(env, orphan.run_id, "RUN_FAILURE")
    assert message.startswith("Run was never submitted: still NOT_STARTED after 6")
    assert env.launcher.terminated == []  # there was no worker to stop


def test_dead_run_worker_fails_the_run_and_stops_its_celery_steps(env: DaemonEnv) -> None:
    run = started(env)
    storage = env.instance.storage
    storage.add_step_attempts(
        [StepAttempt("att-run", run.run_id, "a", 1), StepAttempt("att-queued", run.run_id, "b", 1)]
    )
    storage.claim_step_attempt("att-run", "celery@w1", 42, time.time())
    revokes = Revokes()
    monitor(env, revokes).tick(time.time())
    assert env.instance.get_run(run.run_id).status is S.STARTED  # alive: nothing to do
    env.launcher.terminate(run.run_id)  # the in-memory worker "dies"
    report = monitor(env, revokes).tick(time.time())
    assert report.info == {"worker_failures": 1}
    assert env.instance.get_run(run.run_id).status is S.FAILURE
    assert "is no longer running" in messages(env, run.run_id, "RUN_FAILURE")[0]
    assert sorted(revokes.calls) == [("att-queued", False), ("att-run", True)]
    attempts = storage.get_step_attempts(run_id=run.run_id)
    assert {a.status for a in attempts} == {A.LOST}
    swept = messages(env, run.run_id, "ENGINE_EVENT")
    assert len(swept) == 2 and all("marked LOST by the daemon: run worker" in m for m in swept)


def test_silent_run_worker_counts_as_dead(env: DaemonEnv) -> None:
    run = started(env)
    env.instance.storage.record_run_worker_heartbeat(run.run_id, time.time())
    config = {"heartbeat_interval_seconds": 5, "missed_heartbeats": 4}  # grace: 20 s
    monitor(env, **config).tick(time.time() + 10)
    assert env.instance.get_run(run.run_id).status is S.STARTED
    monitor(env, **config).tick(time.time() + 25)
    assert env.instance.get_run(run.run_id).status is S.FAILURE
    assert "has not heartbeated for 2" in messages(env, run.run_id, "RUN_FAILURE")[0]


def test_dead_run_worker_is_resumed_up_to_the_limit(env: DaemonEnv) -> None:
    run = started(env)
    config = {"max_resume_run_attempts": 1}
    env.launcher.terminate(run.run_id)
    report = monitor(env, **config).tick(time.time())
    assert report.info == {"resumed": 1}
    assert env.launcher.resumed == [run.run_id]
    current = env.instance.get_run(run.run_id)
    assert current.status is S.STARTED and current.tags[RESUME_ATTEMPTS_TAG] == "1"
    assert "resuming the run in a new worker" in messages(env, run.run_id, "ENGINE_EVENT")[0]
    monitor(env, **config).tick(time.time())  # the new worker is alive
    assert env.instance.get_run(run.run_id).status is S.STARTED
    env.launcher.terminate(run.run_id)
    monitor(env, **config).tick(time.time())
    assert env.instance.get_run(run.run_id).status is S.FAILURE
    assert "no resume attempts left (1 of 1)" in messages(env, run.run_id, "RUN_FAILURE")[0]


def test_a_resume_stops_only_the_steps_whose_worker_is_gone(env: DaemonEnv) -> None:
    run = started(env)
    storage = env.instance.storage
    now = time.time()
    storage.add_step_attempts(
        [
            StepAttempt("healthy", run.run_id, "a", 1, queued_at=now - 100),
            StepAttempt("silent", run.run_id, "b", 1, queued_at=now - 100),
            StepAttempt("queued", run.run_id, "c", 1, queued_at=now - 100),
        ]
    )
    storage.claim_step_attempt("healthy", "celery@w1", 41, now - 1)  # beat a second ago
    storage.claim_step_attempt("silent", "celery@w2", 42, now - 90)  # its worker died
    env.launcher.terminate(run.run_id)
    revokes = Revokes()
    config = {"max_resume_run_attempts": 1, "heartbeat_interval_seconds": 5}  # grace 60 s
    report = monitor(env, revokes, **config).tick(now)
    assert report.info == {"resumed": 1}
    statuses = {a.attempt_id: a.status for a in storage.get_step_attempts(run_id=run.run_id)}
    # The resumed worker adopts the healthy and the queued attempt: they run once.
    assert statuses == {"healthy": A.RUNNING, "silent": A.LOST, "queued": A.QUEUED}
    assert revokes.calls == [("silent", True)]
    [lost] = storage.get_step_attempts(attempt_ids=["silent"])
    assert "celery@w2 (pid 42) has not heartbeated for 90s" in (lost.reason or "")


def test_max_runtime_and_cancel_timeout(env: DaemonEnv) -> None:
    slow = started(env, **{MAX_RUNTIME_TAG: "100"})
    bad = started(env, **{MAX_RUNTIME_TAG: "soon"})
    canceling = started(env)
    env.instance.cancel_run(canceling.run_id)
    now = time.time()
    report = monitor(env, cancel_timeout_seconds=50, missed_heartbeats=200).tick(now + 101)
    assert env.instance.get_run(slow.run_id).status is S.FAILURE
    assert "maximum runtime of 100s" in messages(env, slow.run_id, "RUN_FAILURE")[0]
    assert env.instance.get_run(canceling.run_id).status is S.CANCELED
    assert "did not stop within 50s" in messages(env, canceling.run_id, "RUN_CANCELED")[0]
    assert sorted(env.launcher.terminated) == sorted([slow.run_id, canceling.run_id])
    assert env.instance.get_run(bad.run_id).status is S.STARTED
    assert report.errors == [
        f"run {bad.run_id}: tag {MAX_RUNTIME_TAG}='soon' is not a positive number of seconds "
        "(e.g. 3600); the run has no maximum runtime"
    ]


def test_disabled_monitoring_does_nothing(env: DaemonEnv) -> None:
    run = launched(env)
    monitor(env, enabled=False, start_timeout_seconds=1).tick(time.time() + 100)
    assert env.instance.get_run(run.run_id).status is S.STARTING


# -- the step sweeper ---------------------------------------------------------------------------
def test_sweeper_leaves_watched_runs_and_sweeps_orphaned_attempts(env: DaemonEnv) -> None:
    storage = env.instance.storage
    now = time.time()
    watched, orphan, done = started(env), started(env), started(env)
    storage.record_run_worker_heartbeat(watched.run_id, now + 50)
    append_lifecycle_event(storage, done.run_id, EventType.RUN_FAILURE, timestamp=now)
    storage.add_step_attempts(
        [
            StepAttempt("w-run", watched.run_id, "a", 1, queued_at=now - 1000),
            StepAttempt("o-stale", orphan.run_id, "a", 1, queued_at=now - 1000),
            StepAttempt("o-fresh", orphan.run_id, "b", 1, queued_at=now - 1000),
            StepAttempt("o-queued", orphan.run_id, "c", 1, queued_at=now - 1000),
            StepAttempt("o-new", orphan.run_id, "d", 1, queued_at=now - 10),
            StepAttempt("d-run", done.run_id, "a", 1, queued_at=now - 10),
        ]
    )
    for attempt_id, beat in [("w-run", now - 500), ("o-stale", now - 500), ("o-fresh", now + 50)]:
        storage.claim_step_attempt(attempt_id, "celery@w1", 7, beat)
    storage.claim_step_attempt("d-run", "celery@w1", 7, now)
    revokes = Revokes()
    sweeper = StepSweeper(
        env.instance,
        revokes,
        worker_timeout_seconds=60,
        heartbeat_timeout_seconds=60,
        queued_timeout_seconds=300,
    )
    # The orphan's worker last showed life at its start (just now): wait past the timeout.
    report = sweeper.tick(now + 61)
    statuses = {a.attempt_id: a.status for a in storage.get_step_attempts()}
    assert statuses == {
        "w-run": A.RUNNING,  # its run worker is alive and watches it
        "o-stale": A.LOST,
        "o-fresh": A.RUNNING,  # still heartbeating: the run's resume or failure decides
        "o-queued": A.LOST,
        "o-new": A.QUEUED,
        "d-run": A.CANCELED,  # its run already failed
    }
    assert report.info == {"lost": 2, "canceled": 1}
    assert sorted(revokes.calls) == [("d-run", True), ("o-queued", False), ("o-stale", True)]
    [stale] = storage.get_step_attempts(attempt_ids=["o-stale"])
    assert "stopped heartbeating" in (stale.reason or "")
    events = messages(env, orphan.run_id, "ENGINE_EVENT")
    assert any("sat QUEUED on None for" in m for m in events)


# -- run retries --------------------------------------------------------------------------------
def failed_run(env: DaemonEnv, run: RunRecord) -> None:
    append_lifecycle_event(
        env.instance.storage, run.run_id, EventType.RUN_FAILURE, timestamp=time.time()
    )


def test_failed_runs_are_retried_up_to_their_limit(make_env: MakeEnv) -> None:
    env = make_env(run_retries={"enabled": True, "max_retries": 1})
    retries = RunRetries(env.instance, env.instance.config.run_retries)
    retries.tick(time.time())  # sets the watermark: older failures are left alone
    tagged = started(env, **{"opgraph/max_retries": "2"})
    plain = started(env)
    failed_run(env, tagged)
    failed_run(env, plain)
    report = retries.tick(time.time())
    assert report.info == {"retried": 2}
    assert retries.tick(time.time()).info == {}  # read again (overlap): no second retry
    storage = env.instance.storage
    [child] = storage.get_runs(RunsFilter(tags={"opgraph/parent_run_id": tagged.run_id}))
    assert child.parent_run_id == tagged.run_id and child.root_run_id == tagged.run_id
    assert child.tags[RETRY_NUMBER_TAG] == "1" and child.status is S.QUEUED
    assert child.tags["opgraph/reexecution_strategy"] == "FROM_FAILURE"
    env.launcher.launch_run(child)
    append_lifecycle_event(storage, child.run_id, EventType.RUN_START, timestamp=time.time())
    failed_run(env, child)
    retries.tick(time.time())
    [grandchild] = storage.get_runs(RunsFilter(tags={"opgraph/parent_run_id": child.run_id}))
    assert grandchild.tags[RETRY_NUMBER_TAG] == "2" and grandchild.root_run_id == tagged.run_id
    [plain_child] = storage.get_runs(RunsFilter(tags={"opgraph/parent_run_id": plain.run_id}))
    env.launcher.launch_run(plain_child)
    append_lifecycle_event(storage, plain_child.run_id, EventType.RUN_START, timestamp=time.time())
    failed_run(env, plain_child)
    retries.tick(time.time())  # instance default: 1 retry, used up
    assert storage.get_runs(RunsFilter(tags={"opgraph/parent_run_id": plain_child.run_id})) == []


def test_retries_disabled(env: DaemonEnv) -> None:
    retries = RunRetries(env.instance, RunRetriesConfig())
    retries.tick(time.time())
    run = started(env, **{"opgraph/max_retries": "3"})
    failed_run(env, run)
    assert retries.tick(time.time()).info == {"enabled": False}


# -- retention ----------------------------------------------------------------------------------
def test_retention_purges_old_ticks_and_runs(env: DaemonEnv) -> None:
    storage = env.instance.storage
    day = 86400.0
    now = time.time()
    storage.create_tick(TickRecord("loc:s", "s@old", TickStatus.SUCCESS, now - 40 * day))
    storage.create_tick(TickRecord("loc:s", "s@new", TickStatus.SUCCESS, now - day))
    old = started(env)
    append_lifecycle_event(storage, old.run_id, EventType.RUN_SUCCESS, timestamp=now - 10 * day)
    recent = started(env)
    # A worker killed two days ago left its row; one that beat a minute ago is kept.
    storage.add_daemon_heartbeat(DaemonHeartbeat("celery_worker:gone@h", "gone@h", now - 2 * day))
    storage.add_daemon_heartbeat(DaemonHeartbeat("celery_worker:live@h", "live@h", now - 60))
    config = RetentionConfig.model_validate({"runs": {"purge_after_days": 7}})
    report = Retention(env.instance, config).tick(now)
    assert report.info == {"ticks_purged": 1, "heartbeats_purged": 1, "runs_purged": 1}
    beats = storage.get_daemon_heartbeats()
    assert "celery_worker:live@h" in beats and "celery_worker:gone@h" not in beats
    assert [t.tick_key for t in storage.get_ticks("loc:s")] == ["s@new"]
    assert storage.get_run(old.run_id) is None and storage.get_events(old.run_id) == []
    assert storage.get_run(recent.run_id) is not None

"""The run queue: limits, tag limits, priority, launch failures (pure selection + tick)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from daemon_env import DaemonEnv, MakeEnv

from opgraph.daemon.run_queue import PRIORITY_TAG, QueueLimits, RunQueue, select_runs
from opgraph.events import EventType
from opgraph.instance_config import TagConcurrencyLimit
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage.records import RunRecord, RunStatus

S = RunStatus


def run(run_id: str, **tags: str) -> RunRecord:
    return RunRecord(run_id=run_id, job_name="etl", status=S.QUEUED, tags=dict(tags))


def limits(max_runs: int, *tag_limits: dict[str, Any]) -> QueueLimits:
    return QueueLimits(max_runs, tuple(TagConcurrencyLimit.model_validate(t) for t in tag_limits))


def test_priority_then_age_and_the_overall_limit() -> None:
    queued = [
        run("a"),
        run("b", **{PRIORITY_TAG: "5"}),
        run("c", **{PRIORITY_TAG: "-1"}),
        run("d"),
        run("e", **{PRIORITY_TAG: "5"}),
    ]
    assert select_runs(queued, [], limits(-1)) == ["b", "e", "a", "d", "c"]
    assert select_runs(queued, [run("x")], limits(3)) == ["b", "e"]
    assert select_runs(queued, [], limits(0)) == []  # paused


def test_tag_limits_by_key_and_by_value_do_not_block_other_runs() -> None:
    queued = [
        run("db1", database="pg"),
        run("db2", database="pg"),
        run("db3", database="mysql"),
        run("free"),
        run("gpu1", resource="gpu"),
        run("gpu2", resource="gpu"),
    ]
    busy = [run("running", database="mysql")]
    chosen = select_runs(
        queued,
        busy,
        limits(
            10, {"key": "database", "limit": 2}, {"key": "resource", "value": "gpu", "limit": 1}
        ),
    )
    # database (any value): 1 busy + 1 more; gpu: 1; the rest are not held back.
    assert chosen == ["db1", "free", "gpu1"]


def test_per_value_tag_limit_counts_each_value() -> None:
    queued = [run(f"{customer}{i}", customer=customer) for customer in "abc" for i in range(3)]
    busy = [run("running", customer="a")]
    chosen = select_runs(
        queued, busy, limits(-1, {"key": "customer", "limit": 2, "per_value": True})
    )
    assert chosen == ["a0", "b0", "b1", "c0", "c1"]


def test_value_and_per_value_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"give value \(one value\) or per_value: true"):
        TagConcurrencyLimit.model_validate(
            {"key": "k", "value": "v", "limit": 1, "per_value": True}
        )


def test_tick_launches_within_the_limit_and_again_when_runs_finish(env: DaemonEnv) -> None:
    storage = env.instance.storage
    for index in range(6):
        created = env.instance.create_run("etl", tags={PRIORITY_TAG: str(index % 3)})
        env.instance.submit_run(created.run_id)
    queue = RunQueue(env.instance, "d1")  # max_concurrent_runs: 3 (conftest)
    report = queue.tick(time.time())
    assert report.info == {"queued": 6, "in_progress": 0, "launched": 3}
    launched = list(env.launcher.launched)
    assert [storage.get_run(r).tags[PRIORITY_TAG] for r in launched] == ["2", "2", "1"]
    assert queue.tick(time.time()).info.get("launched") is None  # full
    assert append_lifecycle_event(storage, launched[0], EventType.RUN_FAILURE, "done")
    assert queue.tick(time.time()).info["launched"] == 1
    assert len(env.launcher.launched) == 4
    assert all(storage.get_run(r).status is S.STARTING for r in env.launcher.launched[1:])


def test_a_launch_failure_fails_that_run_and_the_queue_goes_on(
    env: DaemonEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = env.instance.create_run("etl")
    second = env.instance.create_run("etl")
    for created in (first, second):
        env.instance.submit_run(created.run_id)
    real_launch = env.launcher.launch_run

    def launch(record: RunRecord) -> RunRecord:
        if record.run_id == first.run_id:
            raise ConnectionError("the Celery broker at redis://nowhere does not answer")
        return real_launch(record)

    monkeypatch.setattr(env.launcher, "launch_run", launch)
    report = RunQueue(env.instance, "d1").tick(time.time())
    assert report.info["launch_failures"] == 1 and report.info["launched"] == 1
    failed = env.instance.get_run(first.run_id)
    assert failed.status is S.FAILURE
    [event] = env.instance.storage.get_events(first.run_id, event_types=["RUN_FAILURE"])
    assert "could not launch the run: ConnectionError: the Celery broker" in event.message
    assert env.instance.get_run(second.run_id).status is S.STARTING


def test_bad_priority_is_reported(env: DaemonEnv) -> None:
    created = env.instance.create_run("etl", tags={PRIORITY_TAG: "high"})
    env.instance.submit_run(created.run_id)
    report = RunQueue(env.instance, "d1").tick(time.time())
    assert report.info["launched"] == 1
    assert report.errors == [
        f"run {created.run_id}: tag opgraph/priority='high' is not an integer (e.g. 10 or -5); "
        "it is queued with priority 0"
    ]


def test_immediate_coordinator_has_no_queue(make_env: MakeEnv) -> None:
    env = make_env(run_coordinator="immediate")
    report = RunQueue(env.instance, "d1").tick(time.time())
    assert "not queued" in report.info["coordinator"]

"""The core's run lifecycle on real storage (SQLite and PostgreSQL): the table, the run
worker's start and finish when another process moved the run first, and the moves the
core owns (submit-or-fail, cancel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from opgraph import job, op
from opgraph.events import EventType
from opgraph.execution import EventSink, execute_run
from opgraph.executors.in_process import InProcessExecutor
from opgraph.instance import OpgraphInstance
from opgraph.plan import ExecutionPlan
from opgraph.ports import RunStatusError
from opgraph.run_config import validate_run_config
from opgraph.run_lifecycle import (
    TRANSITIONS,
    append_lifecycle_event,
    cancel_run,
    fold_status,
    submit_or_fail,
)
from opgraph_storage import FINISHED_STATUSES, LIVE_STATUSES, RunStatus

S = RunStatus
IN_MEMORY_LAUNCHER = {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"}
ran: list[str] = []
current: dict[str, OpgraphInstance] = {}


@op
def record(context) -> int:
    ran.append(context.run_id)
    return 1


@op
def force_cancel_own_run(context) -> int:
    """As `opgraph runs cancel --force` would, while this op runs."""
    assert append_lifecycle_event(
        current["instance"], context.run_id, EventType.RUN_CANCELED, "forced"
    )
    return 1


@job
def recording():
    record()


@job
def canceled_while_running():
    force_cancel_own_run()


@pytest.fixture
def instance(tmp_path: Path, storage_url: str) -> Iterator[OpgraphInstance]:
    home = tmp_path / "home"
    home.mkdir()
    config = {"storage": {"url": storage_url}, "run_launcher": IN_MEMORY_LAUNCHER}
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    made = OpgraphInstance.get(home)
    current["instance"] = made
    ran.clear()
    yield made
    made.dispose()
    made.storage.dispose()


def run_in_process(instance: OpgraphInstance, run_id: str, job_def) -> RunStatus | None:
    plan = ExecutionPlan.build(job_def, validate_run_config(job_def, {}, in_process=True))
    ctx = execute_run(
        instance, instance.get_run(run_id), job_def, plan, InProcessExecutor(), in_process=True
    )
    return ctx.status


def types_of(instance: OpgraphInstance, run_id: str) -> list[str]:
    return [event.event_type for event in instance.storage.get_events(run_id)]


def test_no_move_leaves_a_finished_status_and_every_live_one_can_fail_or_cancel() -> None:
    for transition in TRANSITIONS.values():
        assert not transition.from_statuses & FINISHED_STATUSES
    assert TRANSITIONS[EventType.RUN_FAILURE].from_statuses == LIVE_STATUSES
    assert TRANSITIONS[EventType.RUN_CANCELED].from_statuses == LIVE_STATUSES
    assert fold_status(["RUN_STARTING", "LOG", "RUN_START", "RUN_SUCCESS"]) is S.SUCCESS
    with pytest.raises(ValueError, match="RUN_SUCCESS is not allowed from CANCELED"):
        fold_status(["RUN_CANCELED", "RUN_SUCCESS"])


def test_a_worker_whose_run_was_canceled_before_it_started_runs_nothing(
    instance: OpgraphInstance,
) -> None:
    run = instance.create_run("recording")
    assert cancel_run(instance, run.run_id)  # NOT_STARTED: canceled outright
    assert run_in_process(instance, run.run_id, recording) is S.CANCELED
    assert ran == []
    assert types_of(instance, run.run_id) == ["RUN_CANCELED", "ENGINE_EVENT"]
    [refusal] = instance.storage.get_events(run.run_id, event_types=["ENGINE_EVENT"])
    assert refusal.message.startswith("RUN_START refused: run is CANCELED")
    assert refusal.data["refused_event"] == "RUN_START"


def test_a_worker_that_finds_its_run_canceling_at_start_cancels_it(
    instance: OpgraphInstance,
) -> None:
    run = instance.submit_run(instance.create_run("recording").run_id)  # STARTING
    assert cancel_run(instance, run.run_id)  # a launched run is asked to stop
    assert instance.get_run(run.run_id).status is S.CANCELING
    assert run_in_process(instance, run.run_id, recording) is S.CANCELED
    assert ran == []
    assert types_of(instance, run.run_id) == [
        "RUN_STARTING",
        "RUN_CANCELING",
        "ENGINE_EVENT",
        "RUN_CANCELED",
    ]


def test_a_worker_whose_run_was_canceled_by_force_ends_it_canceled_once(
    instance: OpgraphInstance,
) -> None:
    run = instance.create_run("canceled_while_running")
    assert run_in_process(instance, run.run_id, canceled_while_running) is S.CANCELED
    assert instance.get_run(run.run_id).status is S.CANCELED
    types = types_of(instance, run.run_id)
    # The worker's own RUN_CANCELED would repeat what holds: refused without a record.
    assert types.count("RUN_CANCELED") == 1 and "RUN_SUCCESS" not in types
    assert types[-1] == "STEP_SUCCESS"
    assert fold_status(types) is S.CANCELED


def test_a_finish_refused_after_a_cancel_is_recorded_and_changes_nothing(
    instance: OpgraphInstance,
) -> None:
    run = instance.create_run("recording")
    assert append_lifecycle_event(instance, run.run_id, EventType.RUN_START, "started")
    assert append_lifecycle_event(instance, run.run_id, EventType.RUN_CANCELED, "forced")
    ended = instance.get_run(run.run_id)
    sink = EventSink(instance, run.run_id)
    assert sink.append_lifecycle(EventType.RUN_SUCCESS, "Finished execution") is S.CANCELED
    assert instance.get_run(run.run_id) == ended  # status, ended_at, updated_at untouched
    [refusal] = instance.storage.get_events(run.run_id, event_types=["ENGINE_EVENT"])
    assert refusal.message == "RUN_SUCCESS refused: run is CANCELED (Finished execution)"
    assert refusal.level == "WARNING"
    assert refusal.data == {"refused_event": "RUN_SUCCESS", "run_status": "CANCELED"}
    assert types_of(instance, run.run_id) == ["RUN_START", "RUN_CANCELED", "ENGINE_EVENT"]


def test_submit_or_fail_fails_a_run_the_coordinator_could_not_take(
    instance: OpgraphInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = instance.create_run("recording")

    def broken(_run):
        raise RuntimeError("launcher is down")

    monkeypatch.setattr(instance.run_launcher, "launch_run", broken)
    with pytest.raises(RuntimeError, match="launcher is down"):
        submit_or_fail(instance, run)
    failed = instance.get_run(run.run_id)
    assert failed.status is S.FAILURE and failed.ended_at is not None
    [event] = instance.storage.get_events(run.run_id)
    assert event.event_type == "RUN_FAILURE" and event.level == "ERROR"
    assert event.message == "Could not submit the run: RuntimeError: launcher is down"


def test_a_second_launch_is_refused(instance: OpgraphInstance) -> None:
    run = instance.submit_run(instance.create_run("recording").run_id)
    # Racing the first launcher: it holds what this launch asked for, nothing to record.
    with pytest.raises(RunStatusError, match="is STARTING; only NOT_STARTED or QUEUED"):
        instance.launch_run(run.run_id)
    assert types_of(instance, run.run_id) == ["RUN_STARTING"]
    # Once the run has started, a late launch is a refusal the log keeps.
    assert append_lifecycle_event(instance, run.run_id, EventType.RUN_START, "started")
    with pytest.raises(RunStatusError, match="is STARTED"):
        instance.launch_run(run.run_id)
    assert types_of(instance, run.run_id) == ["RUN_STARTING", "RUN_START", "ENGINE_EVENT"]
    assert instance.storage.get_events(run.run_id)[2].message.startswith(
        "RUN_STARTING refused: run is STARTED"
    )

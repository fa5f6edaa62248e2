import pytest

from opgraph.errors import RunNotFound
from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from opgraph.ports import RunStatusError
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_launchers.coordinators import ImmediateRunCoordinator, QueuedRunCoordinator
from opgraph_launchers.testing import InMemoryRunLauncher
from opgraph_storage.records import RunStatus


def event_types(instance: OpgraphInstance, run_id: str) -> list[str]:
    return [event.event_type for event in instance.storage.get_events(run_id)]


def test_immediate_coordinator_launches_at_once(make_instance):
    instance = make_instance()
    assert isinstance(instance.run_coordinator, ImmediateRunCoordinator)
    run = instance.create_run("my_job")

    submitted = instance.submit_run(run.run_id)

    assert submitted.status is RunStatus.STARTING
    assert instance.run_launcher.launched == [run.run_id]
    assert event_types(instance, run.run_id) == ["RUN_STARTING"]


def test_a_run_is_launched_only_once(make_instance):
    instance = make_instance()
    run = instance.create_run("my_job")
    instance.submit_run(run.run_id)

    with pytest.raises(RunStatusError, match="is STARTING; only NOT_STARTED or QUEUED runs can be"):
        instance.submit_run(run.run_id)
    assert instance.run_launcher.launched == [run.run_id]


def test_queued_coordinator_queues_without_launching(make_instance):
    instance = make_instance(
        coordinator={
            "queued": {
                "max_concurrent_runs": 2,
                "tag_concurrency_limits": [{"key": "team", "value": "data", "limit": 1}],
            }
        }
    )
    coordinator = instance.run_coordinator
    assert isinstance(coordinator, QueuedRunCoordinator)
    assert coordinator.max_concurrent_runs == 2
    assert coordinator.tag_concurrency_limits[0].key == "team"
    assert coordinator.tag_concurrency_limits[0].limit == 1
    run = instance.create_run("my_job")

    queued = instance.submit_run(run.run_id)

    assert queued.status is RunStatus.QUEUED
    assert event_types(instance, run.run_id) == ["RUN_ENQUEUED"]
    assert instance.run_launcher.launched == []
    # The daemon dequeues by launching the run directly.
    assert instance.launch_run(run.run_id).status is RunStatus.STARTING


def test_queued_coordinator_refuses_a_run_already_submitted(make_instance):
    instance = make_instance(coordinator="queued")
    run = instance.create_run("my_job")
    instance.submit_run(run.run_id)

    with pytest.raises(RunStatusError, match="is QUEUED; only NOT_STARTED runs"):
        instance.submit_run(run.run_id)


@pytest.mark.parametrize("coordinator", ["immediate", "queued"])
def test_cancel_before_start_cancels_outright(make_instance, coordinator):
    instance = make_instance(coordinator=coordinator)
    run = instance.create_run("my_job")
    if coordinator == "queued":
        instance.submit_run(run.run_id)

    assert instance.cancel_run(run.run_id) is True

    assert instance.get_run(run.run_id).status is RunStatus.CANCELED
    assert event_types(instance, run.run_id)[-1] == "RUN_CANCELED"
    assert instance.cancel_run(run.run_id) is False  # nothing left to cancel


def test_cancel_running_run_asks_worker_to_stop(make_instance):
    instance = make_instance()
    run = instance.create_run("my_job")
    instance.submit_run(run.run_id)  # STARTING
    append_lifecycle_event(instance, run.run_id, EventType.RUN_START)
    assert instance.get_run(run.run_id).status is RunStatus.STARTED

    assert instance.cancel_run(run.run_id) is True

    assert instance.get_run(run.run_id).status is RunStatus.CANCELING
    assert event_types(instance, run.run_id)[-1] == "RUN_CANCELING"
    assert instance.cancel_run(run.run_id) is False  # already canceling


def test_cancel_finished_run_does_nothing(make_instance):
    instance = make_instance()
    run = instance.create_run("my_job")
    instance.submit_run(run.run_id)
    append_lifecycle_event(instance, run.run_id, EventType.RUN_START)
    append_lifecycle_event(instance, run.run_id, EventType.RUN_SUCCESS)

    assert instance.cancel_run(run.run_id) is False
    assert instance.get_run(run.run_id).status is RunStatus.SUCCESS


def test_cancel_unknown_run(make_instance):
    instance = make_instance()
    with pytest.raises(RunNotFound, match="nope"):
        instance.cancel_run("nope")


def test_in_memory_launcher_double(make_instance):
    instance = make_instance()
    launcher = instance.run_launcher
    assert isinstance(launcher, InMemoryRunLauncher)
    run = instance.submit_run(instance.create_run("my_job").run_id)

    assert launcher.check_run_worker_health(run) == "RUNNING"
    assert launcher.terminate(run.run_id) is True
    assert launcher.terminate(run.run_id) is False
    assert launcher.check_run_worker_health(run) == "DEAD"

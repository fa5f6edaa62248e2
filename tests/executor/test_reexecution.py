"""Re-execution: only failed and downstream steps run again; earlier outputs are reused."""

import pytest

from opgraph import OpgraphError, OpgraphInstance, reconstructable
from opgraph.reexecution import create_reexecution_run
from opgraph.run_worker import run_worker
from opgraph_storage.records import RunStatus
from tests.executor import jobs

EXECUTORS = {
    "in_process": {"execution": {"config": {"in_process": {}}}},
    "multiprocess": {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
}


@pytest.fixture
def instance(tmp_path, sqlite_url):
    (tmp_path / "instance.yaml").write_text(f"storage:\n  url: {sqlite_url}\n")
    instance = OpgraphInstance.get(tmp_path)
    yield instance
    instance.dispose()


def started_steps(instance, run_id):
    return sorted(
        e.step_key
        for e in instance.storage.get_events(run_id)
        if e.event_type in ("STEP_START", "STEP_RESTARTED")
    )


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_from_failure_reruns_only_failed_and_downstream(instance, tmp_path, executor):
    pointer = reconstructable(jobs.reexecutable).pointer
    parent = instance.create_run(
        "reexecutable",
        code_pointer=pointer,
        run_config=EXECUTORS[executor],
        tags={"test/marker_dir": str(tmp_path)},
    )
    assert run_worker(parent.run_id, instance) is RunStatus.FAILURE
    failed = [
        e.step_key for e in instance.storage.get_events(parent.run_id, event_types=["STEP_FAILURE"])
    ]
    assert failed == ["fragile[k1]"]

    (tmp_path / "fixed").write_text("yes")
    child = create_reexecution_run(instance, parent.run_id, "FROM_FAILURE")
    assert child.parent_run_id == parent.run_id and child.root_run_id == parent.run_id
    status = run_worker(child.run_id, instance)
    errors = [e.message for e in instance.storage.get_events(child.run_id) if e.level == "ERROR"]
    assert status is RunStatus.SUCCESS, errors
    assert started_steps(instance, child.run_id) == ["fragile[k1]", "total"]
    assert (tmp_path / "counted_source").read_text() == "1"

    from opgraph.execute import ExecuteJobResult

    result = ExecuteJobResult(instance, jobs.reexecutable, child.run_id)
    assert result.output_for_node("total") == (5 + 6 + 7) * 10

    # A re-execution of the re-execution still finds outputs two runs up.
    grandchild = create_reexecution_run(instance, child.run_id, "SELECTED", ["total"])
    assert run_worker(grandchild.run_id, instance) is RunStatus.SUCCESS
    assert started_steps(instance, grandchild.run_id) == ["total"]
    assert grandchild.root_run_id == parent.run_id


def test_all_steps_runs_everything(instance):
    pointer = reconstructable(jobs.linear).pointer
    parent = instance.create_run("linear", code_pointer=pointer, run_config=EXECUTORS["in_process"])
    run_worker(parent.run_id, instance)
    child = create_reexecution_run(instance, parent.run_id, "ALL_STEPS")
    status = run_worker(child.run_id, instance)
    errors = [e.message for e in instance.storage.get_events(child.run_id) if e.level == "ERROR"]
    assert status is RunStatus.SUCCESS, errors
    assert len(started_steps(instance, child.run_id)) == 4


def test_reexecution_is_refused_with_a_reason(instance):
    pointer = reconstructable(jobs.linear).pointer
    run = instance.create_run("linear", code_pointer=pointer, run_config=EXECUTORS["in_process"])
    with pytest.raises(OpgraphError, match="only finished runs"):
        create_reexecution_run(instance, run.run_id, "FROM_FAILURE")
    run_worker(run.run_id, instance)
    with pytest.raises(OpgraphError, match="no failure"):
        create_reexecution_run(instance, run.run_id, "FROM_FAILURE")
    with pytest.raises(OpgraphError, match="not one of"):
        create_reexecution_run(instance, run.run_id, "SOME")

"""One executor suite, run in-process and on the multiprocess executor's worker pool."""

import json
import threading
import time
from pathlib import Path

import pytest

from opgraph import OpgraphInstance, RunConfigError, execute_job, reconstructable
from opgraph.events import EventType
from opgraph.instance_config import InstanceConfig
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage.records import RunStatus
from tests.executor import jobs

EXECUTORS = {
    "in_process": {"execution": {"config": {"in_process": {}}}},
    "multiprocess": {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
    "celery": {"execution": {"config": {"celery": {}}}},
}


@pytest.fixture(params=list(EXECUTORS))
def executor_config(request):
    return EXECUTORS[request.param]


@pytest.fixture
def local_instance(tmp_path, sqlite_url):
    instance = OpgraphInstance(
        tmp_path, InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    yield instance
    instance.dispose()


@pytest.fixture
def instance(request, executor_config):
    if executor_config is EXECUTORS["celery"]:  # real workers, PostgreSQL, Redis
        return request.getfixturevalue("celery_fleet").instance
    return request.getfixturevalue("local_instance")


def run(job, instance, executor_config, run_config=None):
    merged = {**(run_config or {}), **executor_config}
    return execute_job(reconstructable(job), instance, run_config=merged)


def event_types(result, step_key=None):
    return [e.event_type_value for e in result.all_events if step_key in (None, e.step_key)]


def test_linear(instance, executor_config):
    result = run(jobs.linear, instance, executor_config)
    assert result.success
    assert result.output_for_node("times_ten") == 30
    assert event_types(result)[0] == "RUN_START"
    assert event_types(result)[-1] == "RUN_SUCCESS"
    assert event_types(result).count("STEP_SUCCESS") == 4


def test_fan_out_fan_in(instance, executor_config):
    result = run(jobs.fan_out_in, instance, executor_config)
    assert result.success
    assert result.output_for_node("total") == 10


def test_dynamic_map_collect(instance, executor_config):
    result = run(
        jobs.dynamic, instance, executor_config, {"ops": {"emit": {"inputs": {"count": 5}}}}
    )
    assert result.success
    assert result.output_for_node("total") == sum(i * 2 + 1 for i in range(5))
    keys = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert {"double[item_0]", "add_one[item_4]", "total"} <= keys
    assert result.output_for_node("double") == {f"item_{i}": i * 2 for i in range(5)}


@pytest.mark.parametrize("job_name", ["dynamic_failing", "dynamic_failing_at_once"])
def test_a_dynamic_step_that_fails_maps_nothing_and_its_collect_does_not_run(
    instance, executor_config, job_name
):
    """As in Dagster: outputs yielded before the failure map no steps, and the collect is
    not run; one that failed before any output once ran it on an empty list, and reported
    a sum of nothing as a success."""
    result = run(getattr(jobs, job_name), instance, executor_config)
    assert not result.success
    assert event_types(result).count("STEP_FAILURE") == 1
    assert event_types(result, "total") == ["STEP_SKIPPED"]
    assert not any(e.step_key and e.step_key.startswith("double") for e in result.all_events)


def test_a_dynamic_step_with_no_outputs_collects_an_empty_list(instance, executor_config):
    result = run(
        jobs.dynamic, instance, executor_config, {"ops": {"emit": {"inputs": {"count": 0}}}}
    )
    assert result.success
    assert result.output_for_node("total") == 0


def test_nested_graphs(instance, executor_config):
    result = run(jobs.nested, instance, executor_config)
    assert result.success
    assert result.output_for_node("outer.plus_two.second") == 3
    assert result.output_for_node("add_one") == 31


def test_optional_output_skips_downstream(instance, executor_config):
    result = run(jobs.optional_outputs, instance, executor_config)
    assert result.success
    assert event_types(result, "count_evens") == ["STEP_SKIPPED"]
    assert result.output_for_node("count_odds") == 3
    assert result.output_for_node("marker") == "ran"

    with_evens = run(
        jobs.optional_outputs,
        instance,
        executor_config,
        {"ops": {"split": {"inputs": {"numbers": [1, 2, 4]}}}},
    )
    assert with_evens.output_for_node("count_evens") == 2


def test_retries_with_backoff(instance, executor_config):
    result = run(jobs.retries, instance, executor_config)
    assert result.success
    flaky = event_types(result, "flaky")
    assert flaky.count("STEP_UP_FOR_RETRY") == 2
    assert flaky.count("STEP_RESTARTED") == 2
    assert result.output_for_node("flaky") == 2
    retry_events = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    # exponential backoff: 0.05 * (2^1 - 1), then 0.05 * (2^2 - 1)
    assert [e.record.data["delay"] for e in retry_events] == pytest.approx([0.05, 0.15])
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert restarts[0].record.timestamp - retry_events[0].record.timestamp >= 0.05


def test_failure_skips_downstream_and_fails_run(instance, executor_config):
    result = run(jobs.failing, instance, executor_config)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "broken"
    error = failure.record.data["error"]
    assert error["class"] == "ValueError" and error["user_code"] is True
    assert "boom" in error["message"] and "raise ValueError" in error["traceback"]
    assert event_types(result, "add_one") == ["STEP_SKIPPED"]
    assert "STEP_SUCCESS" in event_types(result, "one")
    assert instance.get_run(result.run_id).status is RunStatus.FAILURE


def test_config(instance, executor_config):
    config = {"ops": {"limited": {"config": {"limit": 7}}, "scaled": {"config": {"factor": 3}}}}
    result = run(jobs.configured, instance, executor_config, config)
    assert result.output_for_node("scaled") == "7 rows x3"


def test_config_errors_are_listed_by_path_before_any_run(instance, executor_config):
    bad = {"ops": {"limited": {"config": {"limit": "ten"}}, "nope": {}}}
    runs_before = instance.storage.get_runs_count()
    with pytest.raises(RunConfigError) as info:
        run(jobs.configured, instance, executor_config, bad)
    errors = info.value.errors
    assert "ops.limited.config.limit: expected int, got 'ten'" in errors
    assert any(e.startswith("ops.nope:") for e in errors)
    assert any(e.startswith("ops.scaled.config:") for e in errors)
    assert instance.storage.get_runs_count() == runs_before


def test_resources(instance, executor_config):
    config = {"resources": {"punctuation": {"config": {"suffix": "!"}}}}
    result = run(jobs.with_resources, instance, executor_config, config)
    assert result.output_for_node("greet") == "hi world!"


def test_custom_io_manager(instance, executor_config, tmp_path):
    base = tmp_path / "json"
    config = {"resources": {"io_manager": {"config": {"base_dir": str(base)}}}}
    result = run(jobs.json_io, instance, executor_config, config)
    assert result.success
    stored = base / result.run_id / "add_one_2" / "result.json"
    assert json.loads(stored.read_text()) == 3


def test_compute_logs_captured(instance, executor_config):
    result = run(jobs.printing, instance, executor_config)
    captured = next(e for e in result.all_events if e.event_type_value == "LOGS_CAPTURED")
    paths = captured.record.data["paths"]
    out = next(p for p in paths if p.endswith(".out"))
    assert "hello from stdout" in Path(out).read_text()
    if executor_config is EXECUTORS["multiprocess"]:  # fd-level capture sees raw writes too
        err = next(p for p in paths if p.endswith(".err"))
        assert "raw stderr bytes" in Path(err).read_text()


def test_hard_crash_is_a_step_failure(local_instance):
    instance = local_instance
    result = run(jobs.crashing, instance, EXECUTORS["multiprocess"])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "crash"
    assert "exited with code 3" in failure.message


def test_cancel_kills_the_step_and_cancels_the_run(local_instance):
    instance = local_instance
    holder = {}

    def cancel_when_started():
        deadline = time.time() + 20
        while time.time() < deadline:
            runs = instance.storage.get_runs()
            if runs and any(
                e.event_type == "STEP_START" for e in instance.storage.get_events(runs[0].run_id)
            ):
                holder["moved"] = append_lifecycle_event(
                    instance, runs[0].run_id, EventType.RUN_CANCELING, "test cancels"
                )
                return
            time.sleep(0.05)

    # The storage is made here, not by both threads at once (SQLite: "database is locked").
    assert instance.storage.get_runs() == []
    canceller = threading.Thread(target=cancel_when_started)
    canceller.start()
    result = run(jobs.sleepy, instance, EXECUTORS["multiprocess"])
    canceller.join()
    assert holder.get("moved") is True
    assert instance.get_run(result.run_id).status is RunStatus.CANCELED
    # The op sleeps 30 s: its worker was killed, so it never finished.
    assert not [e for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "the run was canceled" in failure.message


def test_segfault_is_a_step_failure(local_instance):
    instance = local_instance
    result = run(jobs.segfaulting, instance, EXECUTORS["multiprocess"])
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "killed by signal SIGSEGV" in failure.message
    assert instance.get_run(result.run_id).status is RunStatus.FAILURE

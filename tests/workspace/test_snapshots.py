"""Snapshots of jobs, schedules and sensors: what the webserver knows about the code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml
from workspace_code import JOBS

from opgraph.errors import RunConfigError
from opgraph.run_config import validate_run_config
from opgraph.workspace.base import JobSnapshot, LocationState, ScheduleSnapshot, TickEvaluation
from opgraph.workspace.in_process import InProcessCodeLocation

VALID = {"ops": {"limit": {"config": 2}, "greet": {"config": {"times": 1}}}}


@pytest.fixture
def location(jobs_file: Path) -> InProcessCodeLocation:
    loc = InProcessCodeLocation("jobs", {"python_file": str(jobs_file)})
    assert loc.status().state is LocationState.LOADED, loc.status().error
    return loc


@pytest.fixture
def job(location: InProcessCodeLocation) -> JobSnapshot:
    return location.job("hello_job")


def test_op_graph_with_ins_outs_tags_and_descriptions(job: JobSnapshot) -> None:
    assert job.description == "Greets, then fans out."
    assert job.tags == {"owner": "data"}
    assert {op.handle for op in job.ops} == {
        "limit",
        "inner.plus_one",
        "gather",
        "fan",
        "double",
        "greet",
        "total",
    }
    greet = job.op("greet")
    assert greet.description == "Say hello."
    assert greet.tags == {"team": "a"}
    assert greet.retry_policy == {"max_retries": 2, "delay": 0.5, "backoff": None, "jitter": None}
    assert greet.config_schema["required"] == ["times"]
    assert greet.config_schema["properties"]["name"]["default"] == "world"

    plus_one = job.op("inner.plus_one")
    assert plus_one.inputs["n"].kind == "output"
    assert [(u.handle, u.output) for u in plus_one.inputs["n"].upstream] == [("limit", "result")]
    assert plus_one.inputs["n"].dagster_type == "int"

    fan = job.op("fan")
    assert fan.outputs[0].is_dynamic and fan.outputs[0].io_manager_key == "io_manager"
    double = job.op("double")
    assert double.inputs["x"].kind == "mapped"
    assert double.mapped_over is not None and double.mapped_over.handle == "fan"
    assert double.required_resource_keys == ("db",)

    total = job.op("total")
    assert total.inputs["xs"].kind == "collected"
    assert total.inputs["after"].is_nothing and total.inputs["after"].kind == "output"
    gather = job.op("gather")
    assert gather.inputs["values"].kind == "fan_in"
    assert [u.handle for u in gather.inputs["values"].upstream] == ["limit", "inner.plus_one"]
    assert job.op("limit").config_schema == {"title": "Value", "type": "integer"}


def test_unconnected_input_is_described_as_coming_from_run_config(
    location: InProcessCodeLocation,
) -> None:
    job = location.job("input_job")
    assert job.op("lonely").inputs["x"].kind == "none"
    schema = job.run_config_schema["properties"]["ops"]["properties"]["lonely"]
    assert "x" in schema["properties"]["inputs"]["properties"]


def test_snapshots_travel_as_json_unchanged(location: InProcessCodeLocation) -> None:
    for job in location.jobs():
        assert JobSnapshot.from_json(json.loads(json.dumps(job.to_json()))) == job
    for schedule in location.schedules():
        assert ScheduleSnapshot.from_json(json.loads(json.dumps(schedule.to_json()))) == schedule
    tick = location.evaluate_sensor("watcher")
    assert TickEvaluation.from_json(json.loads(json.dumps(tick.to_json()))) == tick


def test_run_config_schema_is_json_schema_that_agrees_with_validation(job: JobSnapshot) -> None:
    schema = job.run_config_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(VALID)) == []
    bad = [
        {"ops": {"greet": {"config": {"times": "x"}}, "limit": {"config": 1}}},
        {"ops": {"nope": {}}},
        {"ops": {"limit": {"config": 1}}},  # greet.config.times is required
        {"resources": {"db": {"config": {"pool": "many"}}}, **VALID},
        {"execution": {"config": {"multiprocess": {"max_concurrent": -1}}}, **VALID},
        {"unknown_section": {}},
    ]
    for config in bad:
        assert list(validator.iter_errors(config)), config
    # both ways of giving a bare-type op config are accepted, as validation accepts them
    assert validator.is_valid({"ops": {**VALID["ops"], "limit": {"config": {"value": 3}}}})


def test_required_parts_of_the_schema(job: JobSnapshot) -> None:
    ops = job.run_config_schema["properties"]["ops"]
    assert sorted(ops["required"]) == ["greet", "limit"]
    # db's url is set on the resource object, so its config is optional
    resources = job.run_config_schema["properties"]["resources"]
    assert "required" not in resources
    assert "url" not in resources["properties"]["db"]["properties"]["config"].get("required", [])


def test_scaffold_marks_required_fields_and_never_validates_until_filled(
    jobs_file: Path, job: JobSnapshot
) -> None:
    text = job.run_config_scaffold
    scaffold = yaml.safe_load(text)
    assert text.startswith("# Run config for job hello_job")
    assert scaffold["ops"]["greet"]["config"] == {"name": "world", "times": None}
    assert scaffold["ops"]["limit"]["config"] is None
    assert "times:  # required: integer" in text
    assert "resources" not in scaffold  # nothing there must be filled in
    from opgraph.code_pointer import load_job

    hello = load_job({"python_file": str(jobs_file)}, "hello_job")
    with pytest.raises(RunConfigError):  # a placeholder is never a valid value
        validate_run_config(hello, scaffold)
    scaffold["ops"]["greet"]["config"]["times"] = 1
    scaffold["ops"]["limit"]["config"] = 2
    validate_run_config(hello, scaffold)


def test_snapshot_id_is_stable_and_follows_changes(
    write: Callable[[str, str], Path], job: JobSnapshot
) -> None:
    again = InProcessCodeLocation("copy", {"python_file": str(write("copy.py", JOBS))})
    assert again.job("hello_job").snapshot_id == job.snapshot_id
    changed = write("changed.py", JOBS.replace('"team": "a"', '"team": "b"'))
    other = InProcessCodeLocation("changed", {"python_file": str(changed)})
    assert other.job("hello_job").snapshot_id != job.snapshot_id


def test_schedules_and_sensors(location: InProcessCodeLocation) -> None:
    [hourly, failing] = location.schedules()
    assert (hourly.name, hourly.job_name, hourly.cron_schedule) == (
        "hourly",
        "hello_job",
        "0 * * * *",
    )
    assert hourly.execution_timezone == "Europe/Paris"
    assert hourly.description == "Every hour."
    assert hourly.default_status == "STOPPED"
    assert hourly.tags == {"kind": "hourly"}
    assert failing.name == "failing"
    [watcher] = location.sensors()
    assert (watcher.name, watcher.job_name, watcher.minimum_interval_seconds) == (
        "watcher",
        "hello_job",
        10,
    )


def test_execution_plan_and_its_errors(location: InProcessCodeLocation) -> None:
    plan = location.execution_plan("hello_job", VALID)
    assert plan["job_name"] == "hello_job"
    assert plan["ops"][0]["handle"] == "limit"
    assert len(plan["ops"]) == 7
    with pytest.raises(RunConfigError) as caught:
        location.execution_plan("hello_job", {})
    assert caught.value.errors == [
        "ops.limit.config: required config missing (fields ['value'])",
        "ops.greet.config: required config missing (fields ['times'])",
    ]

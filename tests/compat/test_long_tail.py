"""The long tail of Dagster names (issue #17): config types, EnvVar, IO managers, hooks,
Dagster types, helpers and error names. Jobs live in jobs/long_tail.py, written as a Dagster
user writes them; hooks and type checks run on every executor, Celery on real workers."""

from __future__ import annotations

import importlib.util
import sys

import jsonschema
import pytest
import yaml

import opgraph
from opgraph import (
    DagsterInvalidConfigError,
    DagsterRunStatus,
    DagsterTypeCheckDidNotPass,
    OpgraphInstance,
    SensorResult,
    build_resources,
    build_sensor_context,
    execute_job,
    file_relative_path,
    instance_for_test,
    job,
    make_values_resource,
    op,
    reconstructable,
    resource,
    sensor,
    validate_run_config,
)
from opgraph.errors import DefinitionError, RunConfigError
from opgraph.instance_config import InstanceConfig
from opgraph.schedules import RunRequest
from opgraph.snapshots import run_config_scaffold, run_config_schema
from tests.compat.test_dagster_compat import JOBS_DIR


def _load():
    spec = importlib.util.spec_from_file_location(
        "tests.compat.jobs.long_tail", JOBS_DIR / "long_tail.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


jobs = _load()

ISSUE_NAMES = [
    "FilesystemIOManager",
    "InMemoryIOManager",
    "EnvVar",
    "Permissive",
    "Shape",
    "Selector",
    "Array",
    "Noneable",
    "Enum",
    "EnumValue",
    "Int",
    "String",
    "Bool",
    "Float",
    "Any",
    "List",
    "Dict",
    "Optional",
    "SensorResult",
    "DagsterRunStatus",
    "success_hook",
    "failure_hook",
    "HookContext",
    "get_dagster_logger",
    "ExpectationResult",
    "MetadataValue",
    "TableSchema",
    "DagsterType",
    "TypeCheck",
    "PythonObjectDagsterType",
    "usable_as_dagster_type",
    "make_values_resource",
    "ResourceParam",
    "build_resources",
    "with_resources",
    "validate_run_config",
    "instance_for_test",
    "file_relative_path",
    "DagsterInvariantViolationError",
    "DagsterInvalidConfigError",
    "DagsterExecutionStepExecutionError",
    "DagsterInvalidDefinitionError",
    "DagsterTypeCheckDidNotPass",
]

GOOD_CONFIG = {
    "shape": {"a": 1},
    "perm": {"k": 2, "extra": "kept"},
    "source": {"table": {"name": "t"}},
    "color": "BLUE",
    "speed": "slow",
    "sizes": [1, 2],
}


def test_every_name_of_the_issue_imports_from_opgraph():
    missing = [name for name in ISSUE_NAMES if not hasattr(opgraph, name)]
    assert missing == []


# -- config types ------------------------------------------------------------------------------
def test_config_types_give_ops_dagsters_values():
    run_config = {"ops": {"configured": {"config": GOOD_CONFIG}}}
    result = jobs.config_types_job.execute_in_process(run_config=run_config)
    assert result.output_for_node("configured") == {
        "shape": {"a": 1, "b": "x"},
        "perm": {"k": 2, "extra": "kept"},
        "source": {"table": {"name": "t"}},
        "maybe": None,
        "color": jobs.Color.BLUE,
        "speed": 2,
        "sizes": [1, 2],
    }


def test_config_type_errors_are_listed_by_path():
    bad = {
        **GOOD_CONFIG,
        "shape": {"a": "one"},
        "source": {"csv": {"path": "p"}, "table": {"name": "t"}},
        "color": "GREEN",
        "sizes": ["x"],
    }
    with pytest.raises(DagsterInvalidConfigError) as caught:
        validate_run_config(jobs.config_types_job, {"ops": {"configured": {"config": bad}}})
    text = "\n".join(caught.value.errors)
    assert "ops.configured.config.shape.a: expected int, got 'one'" in text
    assert "ops.configured.config.source: expected exactly one of ['csv', 'table']" in text
    assert "ops.configured.config.color" in text and "'GREEN'" in text
    assert "ops.configured.config.sizes.0: expected int, got 'x'" in text


def test_config_types_scaffold_leaves_required_fields_to_fill_in():
    text = run_config_scaffold(jobs.config_types_job)
    assert "source:  # required: exactly one of: csv, table" in text
    assert "color:  # required: one of RED | BLUE" in text
    scaffold = yaml.safe_load(text)
    config = scaffold["ops"]["configured"]["config"]
    assert config["shape"] == {"a": None, "b": "x"}  # the default filled in
    schema = run_config_schema(jobs.config_types_job)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaffold, schema)
    with pytest.raises(RunConfigError):  # a placeholder is never taken as a value
        validate_run_config(jobs.config_types_job, scaffold)
    config.update(shape={"a": 1, "b": "x"}, perm={"k": 2}, source={"csv": {"path": "p"}})
    config.update(color="RED", speed="fast", sizes=[1])
    jsonschema.validate(scaffold, schema)
    validate_run_config(jobs.config_types_job, scaffold)


# -- EnvVar ------------------------------------------------------------------------------------
def test_env_var_is_read_when_the_run_starts(monkeypatch):
    monkeypatch.setenv("OPGRAPH_COMPAT_TOKEN", "first")
    assert jobs.env_var_job.execute_in_process().output_for_node("read_token") == "first"
    monkeypatch.setenv("OPGRAPH_COMPAT_TOKEN", "second")
    assert jobs.env_var_job.execute_in_process().output_for_node("read_token") == "second"


def test_env_var_shows_its_name_never_its_value(monkeypatch):
    monkeypatch.setenv("OPGRAPH_COMPAT_TOKEN", "s3cret-value")
    schema = run_config_schema(jobs.env_var_job)
    text = repr(schema) + run_config_scaffold(jobs.env_var_job)
    assert "s3cret-value" not in text
    token = schema["properties"]["resources"]["properties"]["secrets"]["properties"]["config"]
    assert 'EnvVar("OPGRAPH_COMPAT_TOKEN")' in repr(token)
    assert repr(opgraph.EnvVar("X")) == 'EnvVar("X")'


def test_a_missing_env_var_names_the_field(monkeypatch):
    monkeypatch.delenv("OPGRAPH_COMPAT_TOKEN", raising=False)
    result = jobs.env_var_job.execute_in_process(raise_on_error=False)
    assert not result.success
    messages = " ".join(e.message for e in result.all_events)
    assert "resources.secrets.token" in messages and "OPGRAPH_COMPAT_TOKEN" in messages


TYPED_ENV = {
    "OPGRAPH_COMPAT_HOST": "db.internal",
    "OPGRAPH_COMPAT_PORT": "5433",
    "OPGRAPH_COMPAT_DEBUG": "true",
    "OPGRAPH_COMPAT_RETRIES": "4",
}


def test_env_var_fills_int_and_bool_fields_at_run_time(monkeypatch):
    for name, value in TYPED_ENV.items():
        monkeypatch.setenv(name, value)
    result = jobs.typed_env_var_job.execute_in_process()
    assert result.output_for_node("describe_server") == ["db.internal", 5433, True, 4]
    monkeypatch.setenv("OPGRAPH_COMPAT_PORT", "6000")
    monkeypatch.setenv("OPGRAPH_COMPAT_DEBUG", "False")  # Dagster: false, none, 0, "" are false
    result = jobs.typed_env_var_job.execute_in_process()
    assert result.output_for_node("describe_server") == ["db.internal", 6000, False, 4]


def test_typed_env_vars_show_their_names_never_their_values(monkeypatch):
    for name, value in TYPED_ENV.items():
        monkeypatch.setenv(name, value)
    schema = run_config_schema(jobs.typed_env_var_job)
    text = repr(schema) + run_config_scaffold(jobs.typed_env_var_job)
    assert "5433" not in text and "db.internal" not in text
    server = schema["properties"]["resources"]["properties"]["server"]["properties"]["config"]
    for name in TYPED_ENV:
        assert f'EnvVar("{name}")' in repr(server)
    assert repr(opgraph.EnvVar.int("PORT")) == 'EnvVar("PORT")'
    assert opgraph.EnvVar.int("PORT").env_var_name == "PORT"


def test_an_env_var_of_the_wrong_type_names_the_field_and_the_value(monkeypatch):
    for name, value in TYPED_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPGRAPH_COMPAT_PORT", "eighty")
    result = jobs.typed_env_var_job.execute_in_process(raise_on_error=False)
    assert not result.success
    messages = " ".join(e.message for e in result.all_events)
    assert "resources.server.port" in messages and "'eighty'" in messages
    assert "expected an integer" in messages


def test_env_var_on_a_field_it_cannot_fill_is_refused():
    """As in Dagster: EnvVar fills str fields, EnvVar.int int and bool fields, nothing else."""

    class Tuning(opgraph.ConfigurableResource):
        rate: float = 1.0
        port: int = 0
        name: str = ""

    with pytest.raises(DefinitionError) as caught:
        Tuning(port=opgraph.EnvVar("PORT"))
    assert "Tuning.port" in str(caught.value) and "use EnvVar.int('PORT')" in str(caught.value)
    with pytest.raises(DefinitionError, match=r"Tuning\.name: EnvVar\.int\('NAME'\)"):
        Tuning(name=opgraph.EnvVar.int("NAME"))
    with pytest.raises(DefinitionError, match=r"Tuning\.rate: .*give the value itself"):
        Tuning(rate=opgraph.EnvVar.int("RATE"))


# -- hooks and type checks on every executor ---------------------------------------------------
EXECUTORS = {
    "in_process": {"in_process": {}},
    "multiprocess": {"multiprocess": {"max_concurrent": 2}},
    "celery": {"celery": {}},
}


@pytest.fixture(params=list(EXECUTORS))
def executor(request, tmp_path, sqlite_url):
    if request.param == "celery":  # real workers, PostgreSQL, Redis
        yield request.param, request.getfixturevalue("celery_fleet").instance
        return
    instance = OpgraphInstance(
        tmp_path / "home", InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    yield request.param, instance
    instance.dispose()


def test_hooks_and_type_checks_on_every_executor(executor, tmp_path):
    name, instance = executor
    markers = tmp_path / "markers"
    markers.mkdir()
    marker = {"config": {"marker_dir": str(markers)}}
    run_config = {
        "ops": {op: marker for op in ("two", "plus_one", "report", "good_report")},
        "execution": {"config": EXECUTORS[name]},
    }
    result = execute_job(reconstructable(jobs.hooks_and_types_job), instance, run_config)
    assert not result.success
    assert sorted(p.name for p in markers.iterdir()) == [
        "failure.plus_one",
        "failure.report",
        "success.good_report",
        "success.two",
    ]
    assert (markers / "failure.plus_one").read_text() == "DagsterTypeCheckDidNotPass"
    failures = {e.step_key: e for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert failures["plus_one"].message == "3 is not an even int"
    assert failures["plus_one"].record.data["metadata"] == {
        "value": {"type": "text", "value": "3"},
        "rule": "even",
    }
    assert "failed type check for Dagster type Report" in failures["report"].message
    hook_events = [
        (e.step_key, e.message) for e in result.all_events if e.record.data.get("hook") is not None
    ]
    assert sorted(hook_events) == [
        ("good_report", 'Hook "on_success" completed'),
        ("plus_one", 'Hook "on_failure" completed'),
        ("report", 'Hook "on_failure" completed'),
        ("two", 'Hook "on_success" completed'),
    ]


def test_op_selection_on_every_executor(executor):
    """The selection travels in the run's code pointer: every process that loads the job
    (multiprocess children, Celery workers) runs the same subset."""
    name, instance = executor
    # doubled's input comes from run config: a process that loaded the whole job would
    # look for first's output instead, which no step of this run makes.
    run_config = {
        "ops": {"doubled": {"inputs": {"n": 5}}},
        "execution": {"config": EXECUTORS[name]},
    }
    result = execute_job(
        reconstructable(jobs.selection_job), instance, run_config, op_selection=["doubled+"]
    )
    assert result.success
    succeeded = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert succeeded == {"doubled", "last"}
    assert result.output_for_node("last") == 11
    assert result.dagster_run.code_pointer["op_selection"] == ["doubled+"]


def test_a_reexecution_keeps_the_op_selection(tmp_path, sqlite_url):
    from opgraph.reexecution import create_reexecution_run
    from opgraph.run_worker import run_worker

    instance = OpgraphInstance(
        tmp_path / "home", InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    try:
        run_config = {
            "ops": {"doubled": {"inputs": {"n": 5}}},
            "execution": {"config": {"in_process": {}}},
        }
        parent = execute_job(
            reconstructable(jobs.selection_job), instance, run_config, op_selection=["doubled+"]
        )
        child = create_reexecution_run(instance, parent.run_id, "ALL_STEPS")
        assert run_worker(child.run_id, instance).value == "SUCCESS"
        steps = {
            e.step_key
            for e in instance.storage.get_events(child.run_id, event_types=["STEP_SUCCESS"])
        }
        assert steps == {"doubled", "last"}
    finally:
        instance.dispose()


def test_type_check_failure_is_raised_in_process(tmp_path):
    marker = {"config": {"marker_dir": str(tmp_path)}}
    run_config = {"ops": {op: marker for op in ("two", "plus_one", "report", "good_report")}}
    with pytest.raises(DagsterTypeCheckDidNotPass) as caught:
        jobs.hooks_and_types_job.execute_in_process(run_config=run_config)
    assert caught.value.description in ("3 is not an even int",) or "Report" in str(caught.value)


# -- helpers -----------------------------------------------------------------------------------
def test_build_resources_and_values_resource():
    @resource(config_schema={"n": int})
    def counter(context):
        return context.resource_config["n"] * 10

    values = make_values_resource(bucket=str)
    with build_resources(
        {"counter": counter, "values": values},
        resource_config={"counter": {"n": 4}, "values": {"bucket": "b"}},
    ) as built:
        assert built.counter == 40
        assert built.values == {"bucket": "b"}
    bad = {"counter": {"n": "x"}}
    with (
        pytest.raises(DagsterInvalidConfigError, match=r"resources.counter.config.n"),
        build_resources({"counter": counter}, resource_config=bad),
    ):
        pass


def test_instance_for_test_and_file_relative_path():
    with instance_for_test() as instance:
        home = instance.home
        assert home.exists()
    assert not home.exists()
    assert file_relative_path(__file__, "jobs/long_tail.py") == str(JOBS_DIR / "long_tail.py")
    assert DagsterRunStatus.SUCCESS.value == "SUCCESS"


def test_sensor_result_sets_requests_and_cursor():
    @sensor(job=jobs.env_var_job)
    def watcher(context):
        return SensorResult(run_requests=[RunRequest(run_key="a")], cursor="after-a")

    tick = watcher.evaluate_tick(build_sensor_context(cursor="before"))
    assert [r.run_key for r in tick.run_requests] == ["a"]
    assert tick.cursor == "after-a"


def test_with_resources_resource_param_values_resource_and_logger(caplog):
    with caplog.at_level("INFO", logger="opgraph.user.compat"):
        result = jobs.greeting_job.execute_in_process()
    assert result.output_for_node("greet") == "hello, ada"
    assert "greeting with hello" in caplog.text
    with pytest.raises(opgraph.DagsterInvalidDefinitionError):
        opgraph.Definitions(jobs=[jobs.greeting_job], sensors=[_sensor_for("nope")])


def _sensor_for(job_name):
    @sensor(job_name=job_name)
    def watcher(_context):
        return None

    return watcher


def test_metadata_values_are_stored_typed():
    result = jobs.greeting_job.execute_in_process()
    [output] = [
        e
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT" and e.step_key == "described"
    ]
    metadata = output.record.data["metadata"]
    assert metadata["rows"] == {"type": "int", "value": 2}
    assert metadata["link"] == {"type": "url", "value": "https://example.invalid/x"}
    assert metadata["preview"]["type"] == "md"
    columns = metadata["columns"]["value"]["columns"]
    assert columns[0]["name"] == "id" and columns[0]["description"] == "key"


def test_with_resources_binds_what_a_job_lacks():
    @op(required_resource_keys={"settings"})
    def name(context):
        return context.resources.settings["name"]

    @job
    def needs_settings():
        name()

    [bound] = opgraph.with_resources(
        [needs_settings],
        {"settings": make_values_resource(name=str)},
        resource_config_by_key={"settings": {"config": {"name": "grace"}}},
    )
    assert bound.execute_in_process().output_for_node("name") == "grace"


def test_in_memory_io_manager_and_validate_run_config_defaults():
    manager = opgraph.InMemoryIOManager()
    result = jobs.config_types_job.execute_in_process(
        run_config={"ops": {"configured": {"config": GOOD_CONFIG}}},
        resources={"io_manager": manager},
    )
    assert result.success and len(manager.values) == 1
    merged = validate_run_config(
        jobs.config_types_job, {"ops": {"configured": {"config": GOOD_CONFIG}}}
    )
    assert merged["ops"]["configured"]["config"]["shape"] == {"a": 1}


def test_an_op_yields_expectation_results():
    @op
    def checked():
        yield opgraph.ExpectationResult(True, label="rows", metadata={"count": 3})
        yield opgraph.ExpectationResult(False, label="nulls", description="2 nulls in id")
        yield opgraph.Output(3)

    @job
    def quality():
        checked()

    result = quality.execute_in_process()
    assert result.success and result.output_for_node("checked") == 3
    found = [
        (e.message, e.record.data["expectation"]["success"])
        for e in result.all_events
        if "expectation" in e.record.data
    ]
    assert found == [
        ('Expectation "rows" passed', True),
        ('Expectation "nulls" failed: 2 nulls in id', False),
    ]


def test_a_job_file_with_future_annotations_keeps_config_and_resources():
    spec = importlib.util.spec_from_file_location(
        "tests.compat.jobs.future_annotations", JOBS_DIR / "future_annotations.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        config = {"ops": {"scale": {"config": {"factor": 5}}}}
        result = module.future_job.execute_in_process(run_config=config)
        assert result.output_for_node("greet") == "hi 15!"
        with pytest.raises(opgraph.DagsterInvalidConfigError, match=r"ops\.scale\.config"):
            module.future_job.execute_in_process()
    finally:
        sys.modules.pop(spec.name, None)

"""Dagster-compatibility acceptance tests.

Every file in tests/compat/jobs/ is written exactly as a Dagster user writes a job file, with
`from dagster import ...` replaced by `from opgraph import ...`. These tests load the files by
path and check that they behave as they do on Dagster: outputs, step keys, the events of
`result.all_events`, retries, skips, run config validation, schedules, sensors and Definitions.

Expected values are computed here independently of the job code (mostly as literals).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

COMPAT_DIR = Path(__file__).resolve().parent
JOBS_DIR = COMPAT_DIR / "jobs"
REPO_ROOT = COMPAT_DIR.parent.parent
EXAMPLE_JOBS = REPO_ROOT / "examples" / "jobs.py"

JOB_FILES = [
    "etl_config",
    "resources_io",
    "retries",
    "dynamic",
    "multi_outputs",
    "schedules_sensors",
]

# The Dagster names opgraph supports (the job files may import these and nothing else).
SUPPORTED_NAMES = {
    "op",
    "job",
    "graph",
    "In",
    "Out",
    "Output",
    "Nothing",
    "DynamicOut",
    "DynamicOutput",
    "Config",
    "OpExecutionContext",
    "ConfigurableResource",
    "resource",
    "IOManager",
    "io_manager",
    "ConfigurableIOManager",
    "InputContext",
    "OutputContext",
    "RetryPolicy",
    "Backoff",
    "Jitter",
    "Failure",
    "RetryRequested",
    "Definitions",
    "ScheduleDefinition",
    "schedule",
    "sensor",
    "RunRequest",
    "SkipReason",
    "DefaultScheduleStatus",
    "DefaultSensorStatus",
    "ScheduleEvaluationContext",
    "SensorEvaluationContext",
    "build_schedule_context",
    "build_sensor_context",
    "in_process_executor",
    "multiprocess_executor",
    "Field",
}

ORIGINAL_IMPORT_PREFIX = "# dagster original: from dagster import "
CONTINUATION_PREFIX = "#     "


def original_import_names(text: str) -> list[str] | None:
    """Names listed by the header comment: its first line, plus `#     ...` continuation lines."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith(ORIGINAL_IMPORT_PREFIX):
        return None
    parts = [lines[0][len(ORIGINAL_IMPORT_PREFIX) :]]
    for line in lines[1:]:
        if not line.startswith(CONTINUATION_PREFIX):
            break
        parts.append(line[len(CONTINUATION_PREFIX) :])
    names = [n.strip() for n in " ".join(parts).split(",")]
    assert all(re.fullmatch(r"[A-Za-z_]\w*", n) for n in names), names
    return names


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def load_path(path: Path):
    """Import a Python file by path, as a fresh module (module-level state starts anew)."""
    module_name = f"compat_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


@pytest.fixture
def load_job_file():
    loaded: list[str] = []

    def _load(stem: str):
        module = load_path(JOBS_DIR / f"{stem}.py")
        loaded.append(module.__name__)
        return module

    yield _load
    for name in loaded:
        sys.modules.pop(name, None)


def events(result, event_type: str | None = None, step_key: str | None = None) -> list:
    return [
        e
        for e in result.all_events
        if (event_type is None or e.event_type_value == event_type)
        and (step_key is None or e.step_key == step_key)
    ]


def count(result, event_type: str, step_key: str | None = None) -> int:
    return len(events(result, event_type, step_key))


def step_keys(result, event_type: str) -> list[str]:
    return [e.step_key for e in events(result, event_type)]


def first_index(result, event_type: str, step_key: str) -> int:
    for index, event in enumerate(result.all_events):
        if event.event_type_value == event_type and event.step_key == step_key:
            return index
    raise AssertionError(f"no {event_type} event for step {step_key!r}")


def step_event_sequence(result, step_key: str, types: set[str]) -> list[str]:
    return [
        e.event_type_value
        for e in result.all_events
        if e.step_key == step_key and e.event_type_value in types
    ]


def config_error_text(exc) -> str:
    errors = exc.errors
    assert isinstance(errors, (list, tuple)) and errors, "RunConfigError.errors must list problems"
    return "\n".join(str(e) for e in errors)


def run_config_error():
    from opgraph.errors import RunConfigError

    return RunConfigError


# --------------------------------------------------------------------------------------------
# the job files are plain Dagster files with the import renamed
# --------------------------------------------------------------------------------------------


def test_all_job_files_are_present():
    present = sorted(p.stem for p in JOBS_DIR.glob("*.py"))
    assert set(JOB_FILES) <= set(present), present


def _opgraph_import_names(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "opgraph" and node.level == 0:
            names.extend(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(
    "path",
    [JOBS_DIR / f"{stem}.py" for stem in JOB_FILES] + [EXAMPLE_JOBS],
    ids=[*JOB_FILES, "examples/jobs"],
)
def test_file_is_dagster_source_with_renamed_import(path: Path):
    text = path.read_text()
    tree = ast.parse(text)

    # 1. no dagster import of any kind, and opgraph only as a top-level `from opgraph import`.
    top_level_imports = {id(node) for node in tree.body}
    opgraph_import_statements = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                assert root != "dagster", f"{path.name}: imports dagster"
                assert root != "opgraph", f"{path.name}: use `from opgraph import ...`"
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            assert root != "dagster", f"{path.name}: imports from dagster"
            if root == "opgraph":
                assert node.module == "opgraph", f"{path.name}: imports from {node.module}"
                assert id(node) in top_level_imports, f"{path.name}: nested opgraph import"
                opgraph_import_statements += 1
    assert opgraph_import_statements == 1, f"{path.name}: expected one `from opgraph import`"

    # 2. only supported names, no star import, no aliases.
    names = _opgraph_import_names(tree)
    assert "*" not in names
    assert set(names) <= SUPPORTED_NAMES, set(names) - SUPPORTED_NAMES
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "opgraph":
            assert all(alias.asname is None for alias in node.names)

    # 3. the first line records the original Dagster import, with the same names.
    original = original_import_names(text)
    assert original is not None, (
        f"{path.name}: first line must be `# dagster original: from dagster import ...`"
    )
    assert sorted(original) == sorted(names)

    # 4. renaming the import is the only change needed: nothing else mentions opgraph.
    as_dagster = text.replace("from opgraph import", "from dagster import")
    assert "opgraph" not in as_dagster, f"{path.name}: mentions opgraph beyond the import"
    ast.parse(as_dagster)


# --------------------------------------------------------------------------------------------
# etl_config.py: Config classes, config_schema, context.op_config, run config validation
# --------------------------------------------------------------------------------------------

LOAD_LIMIT_3 = {"ops": {"load": {"config": {"limit": 3}}}}


def test_etl_with_config_defaults(load_job_file):
    mod = load_job_file("etl_config")
    result = mod.etl_job.execute_in_process(run_config=LOAD_LIMIT_3)

    assert result.success
    # extract: ids 1..5, amount = (id * 37) % 100 -> 37, 74, 11, 48, 85; default source.
    assert result.output_for_node("extract") == [
        {"id": 1, "amount": 37, "source": "orders_db"},
        {"id": 2, "amount": 74, "source": "orders_db"},
        {"id": 3, "amount": 11, "source": "orders_db"},
        {"id": 4, "amount": 48, "source": "orders_db"},
        {"id": 5, "amount": 85, "source": "orders_db"},
    ]
    # transform: min_amount 20 drops id 3; tax 10%.
    transformed = result.output_for_node("transform")
    assert [row["id"] for row in transformed] == [1, 2, 4, 5]
    assert [row["amount_with_tax"] for row in transformed] == pytest.approx(
        [40.7, 81.4, 52.8, 93.5]
    )
    # load: limit 3 (run config), batch_size 2 (Field default) -> ids 1, 2, 4 in 2 batches.
    loaded = result.output_for_node("load")
    assert loaded["loaded_ids"] == [1, 2, 4]
    assert loaded["total_with_tax"] == pytest.approx(40.7 + 81.4 + 52.8)
    assert loaded["batches"] == 2
    # the op saw the same run id as the result reports.
    assert isinstance(result.run_id, str) and result.run_id
    assert loaded["run_id"] == result.run_id

    assert step_keys(result, "STEP_SUCCESS") == ["extract", "transform", "load"]
    assert step_keys(result, "STEP_START") == ["extract", "transform", "load"]
    assert count(result, "STEP_FAILURE") == 0
    assert count(result, "STEP_SKIPPED") == 0
    assert first_index(result, "STEP_SUCCESS", "extract") < first_index(
        result, "STEP_START", "transform"
    )
    assert first_index(result, "STEP_SUCCESS", "transform") < first_index(
        result, "STEP_START", "load"
    )
    # one output per op
    assert sorted(step_keys(result, "STEP_OUTPUT")) == ["extract", "load", "transform"]


def test_etl_with_every_config_overridden(load_job_file):
    mod = load_job_file("etl_config")
    run_config = {
        "ops": {
            "extract": {"config": {"source": "crm", "num_rows": 8}},
            "transform": {"config": {"min_amount": 50, "tax_rate": 0.0}},
            "load": {"config": {"limit": 10, "batch_size": 4}},
        }
    }
    result = mod.etl_job.execute_in_process(run_config=run_config)

    assert result.success
    extracted = result.output_for_node("extract")
    # amounts for ids 1..8: 37, 74, 11, 48, 85, 22, 59, 96
    assert [row["amount"] for row in extracted] == [37, 74, 11, 48, 85, 22, 59, 96]
    assert {row["source"] for row in extracted} == {"crm"}
    loaded = result.output_for_node("load")
    assert loaded["loaded_ids"] == [2, 5, 7, 8]
    assert loaded["total_with_tax"] == pytest.approx(74 + 85 + 59 + 96)
    assert loaded["batches"] == 1


def test_each_run_gets_its_own_run_id(load_job_file):
    mod = load_job_file("etl_config")
    first = mod.etl_job.execute_in_process(run_config=LOAD_LIMIT_3)
    second = mod.etl_job.execute_in_process(run_config=LOAD_LIMIT_3)
    assert first.success and second.success
    assert first.run_id != second.run_id
    assert second.output_for_node("load")["run_id"] == second.run_id


@pytest.mark.parametrize("raise_on_error", [True, False])
def test_wrong_config_type_is_rejected_before_running(load_job_file, raise_on_error):
    mod = load_job_file("etl_config")
    with pytest.raises(run_config_error()) as info:
        mod.etl_job.execute_in_process(
            run_config={"ops": {"load": {"config": {"limit": "ten"}}}},
            raise_on_error=raise_on_error,
        )
    assert "ops.load.config.limit" in config_error_text(info.value)


def test_missing_required_config_is_rejected(load_job_file):
    mod = load_job_file("etl_config")
    with pytest.raises(run_config_error()) as info:
        mod.etl_job.execute_in_process()
    # Like Dagster ('Missing required config entry "limit" ...'), the error names where the
    # config is missing and which field is required.
    text = config_error_text(info.value)
    assert "ops.load.config" in text
    assert "limit" in text


def test_wrong_type_in_config_class_is_rejected(load_job_file):
    mod = load_job_file("etl_config")
    run_config = {
        "ops": {
            "extract": {"config": {"num_rows": "many"}},
            "load": {"config": {"limit": 3}},
        }
    }
    with pytest.raises(run_config_error()) as info:
        mod.etl_job.execute_in_process(run_config=run_config)
    assert "ops.extract.config.num_rows" in config_error_text(info.value)


def test_unknown_config_field_is_rejected(load_job_file):
    mod = load_job_file("etl_config")
    run_config = {
        "ops": {
            "extract": {"config": {"bogus_field": 1}},
            "load": {"config": {"limit": 3}},
        }
    }
    with pytest.raises(run_config_error()) as info:
        mod.etl_job.execute_in_process(run_config=run_config)
    assert "bogus_field" in config_error_text(info.value)


def test_config_for_unknown_op_is_rejected(load_job_file):
    mod = load_job_file("etl_config")
    run_config = {"ops": {"load": {"config": {"limit": 3}}, "not_an_op": {"config": {}}}}
    with pytest.raises(run_config_error()) as info:
        mod.etl_job.execute_in_process(run_config=run_config)
    assert "not_an_op" in config_error_text(info.value)


# --------------------------------------------------------------------------------------------
# resources_io.py: ConfigurableResource, @resource, ConfigurableIOManager, @io_manager
# --------------------------------------------------------------------------------------------

# what fetch_customers returns (segments are tuples) ...
CUSTOMERS = [
    {"email": "ada@example.com", "country": "UK", "segments": ("newsletter", "beta")},
    {"email": "grace@example.com", "country": "US", "segments": ("newsletter",)},
    {"email": "linus@example.com", "country": "FI", "segments": ()},
]
# ... and what a downstream op gets back from the JSON IO manager (tuples became lists)
CUSTOMERS_FROM_JSON = [
    {"email": "ada@example.com", "country": "UK", "segments": ["newsletter", "beta"]},
    {"email": "grace@example.com", "country": "US", "segments": ["newsletter"]},
    {"email": "linus@example.com", "country": "FI", "segments": []},
]


@pytest.fixture
def resources_io(load_job_file, tmp_path, monkeypatch):
    io_dir = tmp_path / "json_io"
    monkeypatch.setenv("CUSTOMER_SYNC_IO_DIR", str(io_dir))
    mod = load_job_file("resources_io")
    assert str(io_dir) == mod.IO_BASE_DIR
    return mod, io_dir


def test_resources_and_json_io_manager(resources_io):
    mod, io_dir = resources_io
    result = mod.customer_sync_job.execute_in_process()

    assert result.success
    assert result.output_for_node("fetch_customers") == CUSTOMERS
    # @resource with a Field default: ids start at 1000. assign_ids read its input back
    # through JsonFileIOManager.load_input, so the tuples arrived as lists.
    assert result.output_for_node("assign_ids") == [
        {**customer, "id": 1000 + i} for i, customer in enumerate(CUSTOMERS_FROM_JSON)
    ]
    # ConfigurableResource bound in resource_defs with prefix="analytics".
    assert result.output_for_node("publish_customers") == {
        "table": "analytics_customers",
        "ids": [1000, 1001, 1002],
        "rows": 3,
    }

    # The IO manager wrote <base_dir>/<step_key>/<output name>.json for every output ...
    stored = {
        path.relative_to(io_dir).as_posix(): json.loads(path.read_text())
        for path in io_dir.rglob("*.json")
    }
    assert stored == {
        "fetch_customers/result.json": CUSTOMERS_FROM_JSON,
        "assign_ids/result.json": result.output_for_node("assign_ids"),
        "publish_customers/result.json": result.output_for_node("publish_customers"),
    }
    # ... and the events say so (one HANDLED_OUTPUT per output, one LOADED_INPUT per input).
    assert sorted(step_keys(result, "HANDLED_OUTPUT")) == [
        "assign_ids",
        "fetch_customers",
        "publish_customers",
    ]
    assert sorted(step_keys(result, "LOADED_INPUT")) == ["assign_ids", "publish_customers"]


def test_io_manager_output_context_and_input_context(resources_io):
    """handle_output sees step_key/name; load_input finds the file via upstream_output."""
    mod, io_dir = resources_io
    result = mod.customer_sync_job.execute_in_process()
    assert result.success
    # output_for_node is the value the op returned (tuples intact) ...
    assert result.output_for_node("fetch_customers")[0]["segments"] == ("newsletter", "beta")
    # ... while the downstream op saw what load_input read from the upstream's file
    assert result.output_for_node("assign_ids")[0]["segments"] == ["newsletter", "beta"]
    on_disk = json.loads((io_dir / "assign_ids" / "result.json").read_text())
    assert [c["id"] for c in on_disk] == result.output_for_node("publish_customers")["ids"]


def test_resource_config_from_run_config(resources_io):
    mod, _ = resources_io
    result = mod.customer_sync_job.execute_in_process(
        run_config={"resources": {"ids": {"config": {"start": 5000}}}}
    )
    assert result.success
    assert result.output_for_node("publish_customers")["ids"] == [5000, 5001, 5002]


def test_resources_are_built_anew_for_every_run(resources_io):
    mod, _ = resources_io
    first = mod.customer_sync_job.execute_in_process()
    second = mod.customer_sync_job.execute_in_process()
    assert first.output_for_node("publish_customers")["ids"] == [1000, 1001, 1002]
    assert second.output_for_node("publish_customers")["ids"] == [1000, 1001, 1002]


def test_invalid_resource_config_is_rejected(resources_io):
    mod, _ = resources_io
    with pytest.raises(run_config_error()) as info:
        mod.customer_sync_job.execute_in_process(
            run_config={"resources": {"ids": {"config": {"start": "one thousand"}}}}
        )
    assert "resources.ids.config.start" in config_error_text(info.value)


def test_function_style_io_manager_configured_by_run_config(load_job_file, tmp_path):
    mod = load_job_file("resources_io")
    base_dir = tmp_path / "lines"
    result = mod.log_audit_job.execute_in_process(
        run_config={"resources": {"io_manager": {"config": {"base_dir": str(base_dir)}}}}
    )
    assert result.success
    assert result.output_for_node("count_errors") == 2
    assert (base_dir / "emit_log_lines.result.txt").read_text().split("\n") == [
        "GET /index.html 200",
        "GET /missing 404",
        "POST /login 200",
        "GET /admin 403",
    ]
    assert (base_dir / "count_errors.result.txt").read_text() == "2"
    assert sorted(step_keys(result, "HANDLED_OUTPUT")) == ["count_errors", "emit_log_lines"]
    assert step_keys(result, "LOADED_INPUT") == ["count_errors"]


def test_function_style_io_manager_requires_its_config(load_job_file):
    mod = load_job_file("resources_io")
    with pytest.raises(run_config_error()) as info:
        mod.log_audit_job.execute_in_process()
    text = config_error_text(info.value)
    assert "resources.io_manager.config" in text
    assert "base_dir" in text  # which field is missing


# --------------------------------------------------------------------------------------------
# retries.py: RetryPolicy, RetryRequested, Failure
# --------------------------------------------------------------------------------------------

RETRY_TYPES = {"STEP_START", "STEP_RESTARTED", "STEP_UP_FOR_RETRY", "STEP_SUCCESS", "STEP_FAILURE"}


def test_retry_policy_and_retry_requested_recover(load_job_file):
    mod = load_job_file("retries")
    result = mod.flaky_ingest_job.execute_in_process()

    assert result.success
    # third attempt (retry_number 2) succeeded for both ops
    assert result.output_for_node("fetch_exchange_rates") == {
        "attempts": 3,
        "rates": {"GBP": 0.86, "USD": 1.08},
    }
    assert result.output_for_node("wait_for_partner_file") == "partner_orders.csv@attempt3"
    assert result.output_for_node("reconcile") == {
        "rate_attempts": 3,
        "partner_file": "partner_orders.csv@attempt3",
        "currencies": ["GBP", "USD"],
    }

    for step in ("fetch_exchange_rates", "wait_for_partner_file"):
        assert count(result, "STEP_UP_FOR_RETRY", step) == 2, step
        assert count(result, "STEP_RESTARTED", step) == 2, step
        assert count(result, "STEP_START", step) == 1, step
        assert count(result, "STEP_SUCCESS", step) == 1, step
        assert step_event_sequence(result, step, RETRY_TYPES) == [
            "STEP_START",
            "STEP_UP_FOR_RETRY",
            "STEP_RESTARTED",
            "STEP_UP_FOR_RETRY",
            "STEP_RESTARTED",
            "STEP_SUCCESS",
        ]
    assert count(result, "STEP_UP_FOR_RETRY") == 4
    assert count(result, "STEP_UP_FOR_RETRY", "reconcile") == 0
    assert count(result, "STEP_FAILURE") == 0
    assert sorted(step_keys(result, "STEP_SUCCESS")) == [
        "fetch_exchange_rates",
        "reconcile",
        "wait_for_partner_file",
    ]
    assert first_index(result, "STEP_SUCCESS", "fetch_exchange_rates") < first_index(
        result, "STEP_START", "reconcile"
    )


def test_exhausted_retries_fail_the_step(load_job_file):
    mod = load_job_file("retries")
    result = mod.exhausted_retries_job.execute_in_process(raise_on_error=False)

    assert not result.success
    step = "call_decommissioned_api"
    assert step_event_sequence(result, step, RETRY_TYPES) == [
        "STEP_START",
        "STEP_UP_FOR_RETRY",
        "STEP_RESTARTED",
        "STEP_UP_FOR_RETRY",
        "STEP_RESTARTED",
        "STEP_FAILURE",
    ]
    assert step_keys(result, "STEP_FAILURE") == [step]
    # the downstream op never ran
    assert count(result, "STEP_START", "store_response") == 0
    assert count(result, "STEP_SUCCESS", "store_response") == 0


def test_failure_fails_the_run_without_retry(load_job_file):
    mod = load_job_file("retries")
    result = mod.validation_job.execute_in_process(raise_on_error=False)

    assert not result.success
    assert step_keys(result, "STEP_FAILURE") == ["validate_batch"]
    assert count(result, "STEP_UP_FOR_RETRY") == 0
    assert step_keys(result, "STEP_SUCCESS") == ["load_batch"]
    assert count(result, "STEP_START", "publish_batch") == 0
    assert [row["id"] for row in result.output_for_node("load_batch")] == [1, 2, 3, 4]
    assert isinstance(result.run_id, str) and result.run_id


def test_failure_is_raised_by_default(load_job_file):
    """raise_on_error defaults to True, and Dagster re-raises a user's Failure as-is."""
    from opgraph import Failure

    mod = load_job_file("retries")
    with pytest.raises(Failure) as info:
        mod.validation_job.execute_in_process()
    assert info.value.description == "2 rows have negative amounts"
    assert set(info.value.metadata) == {"checked_rows", "first_bad_id"}


# --------------------------------------------------------------------------------------------
# dynamic.py: DynamicOut fan-out, map, chained map, collect
# --------------------------------------------------------------------------------------------


def test_dynamic_fan_out_map_and_collect(load_job_file):
    mod = load_job_file("dynamic")
    result = mod.fan_out_job.execute_in_process()

    assert result.success
    keys = [f"chunk_{i}" for i in range(5)]
    # dynamic and mapped outputs come back as {mapping_key: value}
    assert result.output_for_node("split_into_chunks") == {f"chunk_{i}": i + 1 for i in range(5)}
    assert result.output_for_node("double") == {f"chunk_{i}": 2 * (i + 1) for i in range(5)}
    assert result.output_for_node("sum_all") == 2 + 4 + 6 + 8 + 10
    assert result.output_for_node("add_ten") == {f"chunk_{i}": i + 11 for i in range(5)}
    assert result.output_for_node("to_label") == {f"chunk_{i}": f"value-{i + 11}" for i in range(5)}
    assert result.output_for_node("sorted_labels") == [
        "value-11",
        "value-12",
        "value-13",
        "value-14",
        "value-15",
    ]

    expected_steps = (
        ["split_into_chunks", "sum_all", "sorted_labels"]
        + [f"double[{k}]" for k in keys]
        + [f"add_ten[{k}]" for k in keys]
        + [f"to_label[{k}]" for k in keys]
    )
    successes = step_keys(result, "STEP_SUCCESS")
    assert len(successes) == 18
    assert sorted(successes) == sorted(expected_steps)
    assert sorted(step_keys(result, "STEP_START")) == sorted(expected_steps)

    # ordering: the fan-out first, each chain link after its upstream, the collects last
    fan_out_done = first_index(result, "STEP_SUCCESS", "split_into_chunks")
    for k in keys:
        assert fan_out_done < first_index(result, "STEP_START", f"double[{k}]")
        assert first_index(result, "STEP_SUCCESS", f"add_ten[{k}]") < first_index(
            result, "STEP_START", f"to_label[{k}]"
        )
        assert first_index(result, "STEP_SUCCESS", f"double[{k}]") < first_index(
            result, "STEP_START", "sum_all"
        )
        assert first_index(result, "STEP_SUCCESS", f"to_label[{k}]") < first_index(
            result, "STEP_START", "sorted_labels"
        )
    # one STEP_OUTPUT per dynamic output
    assert count(result, "STEP_OUTPUT", "split_into_chunks") == 5


def test_dynamic_fan_out_width_from_config(load_job_file):
    mod = load_job_file("dynamic")
    result = mod.fan_out_job.execute_in_process(
        run_config={"ops": {"split_into_chunks": {"config": {"num_chunks": 3}}}}
    )
    assert result.success
    assert result.output_for_node("sum_all") == 2 + 4 + 6
    assert sorted(result.output_for_node("double")) == ["chunk_0", "chunk_1", "chunk_2"]
    assert sorted(k for k in step_keys(result, "STEP_SUCCESS") if k.startswith("double[")) == [
        "double[chunk_0]",
        "double[chunk_1]",
        "double[chunk_2]",
    ]


def test_execute_in_process_ignores_the_multiprocess_executor(load_job_file):
    mod = load_job_file("dynamic")
    result = mod.parallel_fan_out_job.execute_in_process()
    assert result.success
    assert result.output_for_node("sum_all") == 30
    assert result.output_for_node("double") == {f"chunk_{i}": 2 * (i + 1) for i in range(5)}


# --------------------------------------------------------------------------------------------
# multi_outputs.py: multiple / optional outputs, skips, Nothing, nested graphs
# --------------------------------------------------------------------------------------------


def test_multiple_outputs_all_yielded(load_job_file):
    mod = load_job_file("multi_outputs")
    result = mod.parity_job.execute_in_process()

    assert result.success
    assert result.output_for_node("split_by_parity", "evens") == [2, 4, 6]
    assert result.output_for_node("split_by_parity", "odds") == [1, 3, 5, 7]
    assert result.output_for_node("sum_evens") == 12
    assert result.output_for_node("report_evens") == "sum of evens: 12"
    assert result.output_for_node("sum_odds") == 16
    assert count(result, "STEP_OUTPUT", "split_by_parity") == 2
    assert count(result, "STEP_SKIPPED") == 0
    assert sorted(step_keys(result, "STEP_SUCCESS")) == [
        "read_numbers",
        "report_evens",
        "split_by_parity",
        "sum_evens",
        "sum_odds",
    ]


def test_optional_output_not_yielded_skips_downstream(load_job_file):
    mod = load_job_file("multi_outputs")
    result = mod.parity_job.execute_in_process(
        run_config={"ops": {"read_numbers": {"config": {"values": [1, 3, 5]}}}}
    )

    assert result.success  # skipped steps do not fail a run
    assert result.output_for_node("split_by_parity", "odds") == [1, 3, 5]
    assert result.output_for_node("sum_odds") == 9
    assert count(result, "STEP_OUTPUT", "split_by_parity") == 1
    # the op reading the missing output is skipped, and so is the op downstream of it
    assert sorted(step_keys(result, "STEP_SKIPPED")) == ["report_evens", "sum_evens"]
    for skipped in ("sum_evens", "report_evens"):
        assert count(result, "STEP_START", skipped) == 0
        assert count(result, "STEP_SUCCESS", skipped) == 0
    assert count(result, "STEP_FAILURE") == 0
    assert sorted(step_keys(result, "STEP_SUCCESS")) == [
        "read_numbers",
        "split_by_parity",
        "sum_odds",
    ]


def test_nothing_input_orders_steps(load_job_file):
    mod = load_job_file("multi_outputs")
    for _ in range(2):  # the table is recreated by every run
        result = mod.staging_job.execute_in_process()
        assert result.success
        assert result.output_for_node("load_staging_rows") == 3
        assert first_index(result, "STEP_SUCCESS", "create_staging_table") < first_index(
            result, "STEP_START", "load_staging_rows"
        )
    assert mod.FAKE_WAREHOUSE == {"staging": [10, 20, 30]}


def test_nested_graphs(load_job_file):
    mod = load_job_file("multi_outputs")
    result = mod.nested_graph_job.execute_in_process()

    assert result.success
    # seed 2 -> (2+1)^2 = 9 -> (9+1)^2 = 100
    assert result.output_for_node("seed") == 2
    assert result.output_for_node("apply_twice") == 100
    assert result.output_for_node("apply_twice.increment_and_square") == 9
    assert result.output_for_node("apply_twice.increment_and_square_2") == 100
    assert result.output_for_node("apply_twice.increment_and_square.add_one") == 3
    assert result.output_for_node("apply_twice.increment_and_square.square") == 9
    assert result.output_for_node("apply_twice.increment_and_square_2.add_one") == 10
    assert result.output_for_node("apply_twice.increment_and_square_2.square") == 100
    assert result.output_for_node("describe") == "result=100"
    assert step_keys(result, "STEP_SUCCESS") == [
        "seed",
        "apply_twice.increment_and_square.add_one",
        "apply_twice.increment_and_square.square",
        "apply_twice.increment_and_square_2.add_one",
        "apply_twice.increment_and_square_2.square",
        "describe",
    ]


# --------------------------------------------------------------------------------------------
# schedules_sensors.py: ScheduleDefinition, @schedule, @sensor, Definitions
# --------------------------------------------------------------------------------------------


def test_unnamed_schedule_definition_is_named_after_its_job(load_job_file):
    from opgraph import DefaultScheduleStatus

    mod = load_job_file("schedules_sensors")
    assert mod.hourly_metrics.name == "refresh_metrics_job_schedule"
    assert mod.hourly_metrics.cron_schedule == "0 * * * *"
    assert mod.hourly_metrics.job_name == "refresh_metrics_job"
    assert mod.hourly_metrics.default_status == DefaultScheduleStatus.STOPPED


def test_decorated_schedule_attributes(load_job_file):
    from opgraph import DefaultScheduleStatus

    mod = load_job_file("schedules_sensors")
    sched = mod.daily_report_schedule
    assert sched.name == "daily_report_schedule"
    assert sched.cron_schedule == "0 6 * * *"
    assert sched.execution_timezone == "UTC"
    assert sched.default_status == DefaultScheduleStatus.RUNNING
    assert sched.job_name == "daily_report_job"


def test_schedule_evaluation_builds_a_runnable_request(load_job_file):
    from opgraph import RunRequest, build_schedule_context

    mod = load_job_file("schedules_sensors")
    context = build_schedule_context(
        scheduled_execution_time=datetime(2024, 3, 9, 6, 0, tzinfo=UTC)
    )
    request = mod.daily_report_schedule(context)

    assert isinstance(request, RunRequest)
    assert request.run_key is None
    assert request.run_config == {
        "ops": {"build_report": {"config": {"report_date": "2024-03-09", "region": "apac"}}}
    }
    assert request.tags == {"report_date": "2024-03-09", "team": "sales"}

    result = mod.defs.get_job_def("daily_report_job").execute_in_process(
        run_config=request.run_config
    )
    assert result.success
    assert result.output_for_node("build_report") == {
        "title": "Sales apac 2024-03-09",
        "region": "apac",
    }


def test_sensor_attributes(load_job_file):
    from opgraph import DefaultSensorStatus

    mod = load_job_file("schedules_sensors")
    sens = mod.new_order_file_sensor
    assert sens.name == "new_order_file_sensor"
    assert sens.minimum_interval_seconds == 30
    assert sens.default_status == DefaultSensorStatus.STOPPED
    assert sens.job_name == "process_order_job"


def _write_order(inbox: Path, name: str, order_id: str, lines: list[tuple[int, float]]) -> None:
    payload = {"order_id": order_id, "lines": [{"qty": q, "price": p} for q, p in lines]}
    (inbox / name).write_text(json.dumps(payload))


def test_sensor_requests_runs_and_moves_its_cursor(load_job_file, tmp_path, monkeypatch):
    from opgraph import RunRequest, SkipReason, build_sensor_context

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("ORDERS_INBOX_DIR", str(inbox))
    _write_order(inbox, "order_001.json", "A-1", [(2, 5.0), (1, 3.5)])
    _write_order(inbox, "order_002.json", "A-2", [(10, 1.25)])
    _write_order(inbox, "order_003.json", "A-3", [(1, 99.0), (3, 0.5)])
    (inbox / "README.txt").write_text("not an order")

    mod = load_job_file("schedules_sensors")

    # first tick: no cursor -> one run per order file, keyed by file name, in order
    context = build_sensor_context()
    requests = list(mod.new_order_file_sensor(context))
    assert all(isinstance(r, RunRequest) for r in requests)
    assert [r.run_key for r in requests] == ["order_001.json", "order_002.json", "order_003.json"]
    assert [r.tags for r in requests] == [
        {"order_file": "order_001.json"},
        {"order_file": "order_002.json"},
        {"order_file": "order_003.json"},
    ]
    assert context.cursor == "order_003.json"

    order_job = mod.defs.get_job_def("process_order_job")
    totals = []
    for request in requests:
        result = order_job.execute_in_process(run_config=request.run_config)
        assert result.success
        totals.append(result.output_for_node("process_order_file"))
    assert totals == [
        {"order_id": "A-1", "total": 2 * 5.0 + 1 * 3.5},
        {"order_id": "A-2", "total": 10 * 1.25},
        {"order_id": "A-3", "total": 1 * 99.0 + 3 * 0.5},
    ]

    # next tick from that cursor: nothing new -> a SkipReason, cursor unchanged
    context = build_sensor_context(cursor="order_003.json")
    results = list(mod.new_order_file_sensor(context))
    assert len(results) == 1
    assert isinstance(results[0], SkipReason)
    assert "order_003.json" in results[0].skip_message
    assert context.cursor == "order_003.json"

    # a new file lands -> exactly one run for it
    _write_order(inbox, "order_004.json", "A-4", [(4, 2.5)])
    context = build_sensor_context(cursor="order_003.json")
    requests = list(mod.new_order_file_sensor(context))
    assert [r.run_key for r in requests] == ["order_004.json"]
    assert requests[0].run_config == {
        "ops": {"process_order_file": {"config": {"path": str(inbox / "order_004.json")}}}
    }
    assert context.cursor == "order_004.json"


def test_definitions_jobs_and_bound_resources(load_job_file):
    mod = load_job_file("schedules_sensors")
    for name in ("refresh_metrics_job", "daily_report_job", "process_order_job"):
        assert mod.defs.get_job_def(name).name == name

    # the job's MetricsStore resource is supplied by Definitions(resources=...)
    result = mod.defs.get_job_def("refresh_metrics_job").execute_in_process()
    assert result.success
    assert result.output_for_node("collect_metrics") == {
        "prod:queue_depth": 7,
        "prod:error_rate": 0.02,
    }


def test_definitions_schedule_and_sensor_lookup(load_job_file):
    mod = load_job_file("schedules_sensors")
    assert mod.defs.get_schedule_def("refresh_metrics_job_schedule").cron_schedule == "0 * * * *"
    assert mod.defs.get_schedule_def("daily_report_schedule").execution_timezone == "UTC"
    assert mod.defs.get_sensor_def("new_order_file_sensor").minimum_interval_seconds == 30


# --------------------------------------------------------------------------------------------
# examples/jobs.py: the demo job
# --------------------------------------------------------------------------------------------


def test_example_demo_job():
    module = load_path(EXAMPLE_JOBS)
    try:
        job_def = module.defs.get_job_def("daily_sales_job")
        result = job_def.execute_in_process()
    finally:
        sys.modules.pop(module.__name__, None)

    assert result.success
    partition_steps = [f"process_partition[partition_{i}]" for i in range(8)]
    assert sorted(k for k in step_keys(result, "STEP_SUCCESS") if k.startswith("process_")) == (
        sorted(partition_steps)
    )
    # the flaky op fails exactly once, deterministically, then succeeds
    assert step_event_sequence(result, "fetch_exchange_rates", RETRY_TYPES) == [
        "STEP_START",
        "STEP_UP_FOR_RETRY",
        "STEP_RESTARTED",
        "STEP_SUCCESS",
    ]
    assert Counter(step_keys(result, "STEP_UP_FOR_RETRY")) == {"fetch_exchange_rates": 1}
    # 8 partitions x 25 orders; order n of partition p is worth 100*(p+1)+n cents:
    # sum over p of (2500*(p+1) + 300) = 2500*36 + 8*300 = 92_400 cents = 924.00 EUR
    assert result.output_for_node("summarize_sales") == {
        "partitions": 8,
        "orders": 200,
        "revenue": {"EUR": 924.0, "USD": 997.92, "GBP": 794.64},
    }

"""Asset jobs on every executor: in-process, multiprocess and real Celery workers
(PostgreSQL, Redis), with the catalog rows each run leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from opgraph import OpgraphInstance, execute_job
from opgraph.code_pointer import ReconstructableJob
from opgraph.instance_config import InstanceConfig

PROJECT = str(Path(__file__).with_name("asset_project.py"))
EXECUTORS = {
    "in_process": {"execution": {"config": {"in_process": {}}}},
    "multiprocess": {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
    "celery": {"execution": {"config": {"celery": {}}}},
}


@pytest.fixture(params=list(EXECUTORS))
def executor_config(request):
    return EXECUTORS[request.param]


@pytest.fixture
def instance(request, executor_config, tmp_path, sqlite_url):
    if executor_config is EXECUTORS["celery"]:  # real workers, PostgreSQL, Redis
        yield request.getfixturevalue("celery_fleet").instance
        return
    local = OpgraphInstance(
        tmp_path, InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    yield local
    local.dispose()


def run(instance, executor_config, job_name="__ASSET_JOB", run_config=None, tags=None):
    job = ReconstructableJob({"python_file": PROJECT, "attribute": "defs"}, job_name)
    config = {**(run_config or {}), **executor_config}
    return execute_job(job, instance, run_config=config, tags=tags)


def materialized(result) -> list[str]:
    return sorted(
        "/".join(e.record.data["asset_key"])
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    )


def test_all_assets_then_a_subset_in_a_later_run(instance, executor_config, tmp_path):
    before = instance.storage.get_asset_records(["revenue"])  # the Celery fleet is shared
    count_before = before[0].materialization_count if before else 0
    result = run(instance, executor_config, tags={"test/report": str(tmp_path / "report.json")})
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert materialized(result) == [
        "customers",
        "doubled_revenue",
        "raw/orders",
        "regions",
        "report",
        "revenue",
    ]
    assert (tmp_path / "report.json").exists()
    storage = instance.storage
    [orders] = storage.get_asset_records(["raw/orders"])
    assert orders.last_materialization_run_id == result.run_id
    assert orders.last_materialization_data["metadata"]["row_count"] == {"type": "int", "value": 4}
    assert orders.last_materialization_data["code_version"] == "1"
    # Each step, in whichever process, recorded the data version its upstream had.
    [revenue_first] = storage.get_asset_records(["revenue"])
    read = revenue_first.last_materialization_data["tags"]
    orders_version = orders.last_materialization_data["tags"]["dagster/data_version"]
    assert read["dagster/input_data_version/raw/orders"] == orders_version
    checks = storage.get_asset_check_executions("raw/orders", latest_only=True)
    assert [(c.check_name, c.passed, c.run_id) for c in checks] == [
        ("orders_not_empty", True, result.run_id)
    ]

    # A later run of only `revenue` (and a subset of the multi-asset) loads raw/orders
    # from the IO manager by key: the first run's value.
    later = run(instance, executor_config, "__ASSET_JOB[customers,revenue]")
    assert later.success, [e.message for e in later.all_events if e.is_failure]
    assert materialized(later) == ["customers", "revenue"]
    [revenue] = storage.get_asset_records(["revenue"])
    assert revenue.last_materialization_run_id == later.run_id
    assert revenue.materialization_count == count_before + 2
    assert revenue.last_materialization_data["metadata"]["total"] == 100
    history = storage.get_asset_events("revenue")
    assert [e.run_id for e in history][:2] == [later.run_id, result.run_id]


def test_per_asset_retry_and_config(instance, executor_config, tmp_path):
    config = {"ops": {"raw__orders": {"config": {"multiplier": 2}}}}
    tags = {"test/flaky_marker": str(tmp_path / "flaky")}
    before = instance.storage.get_asset_records(["revenue"])  # the Celery fleet is shared
    count_before = before[0].materialization_count if before else 0
    result = run(instance, executor_config, "__ASSET_JOB[raw~orders,revenue]", config, tags)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    kinds = [e.event_type_value for e in result.all_events if e.step_key == "revenue"]
    assert "STEP_UP_FOR_RETRY" in kinds
    [revenue] = instance.storage.get_asset_records(["revenue"])
    assert revenue.last_materialization_data["metadata"]["total"] == 200
    # The failed attempt materialized nothing: one more materialization, not two.
    assert revenue.materialization_count == count_before + 1


def test_reexecution_from_failure(tmp_path, sqlite_url):
    from opgraph.reexecution import create_reexecution_run
    from opgraph.run_worker import run_worker
    from opgraph_storage.records import RunStatus

    (tmp_path / "instance.yaml").write_text(f"storage:\n  url: {sqlite_url}\n")
    instance = OpgraphInstance.get(tmp_path)
    try:
        broken = tmp_path / "broken"
        broken.write_text("yes")
        parent = instance.create_run(
            "__ASSET_JOB[raw~orders,report,revenue]",
            code_pointer={"python_file": PROJECT, "attribute": "defs"},
            run_config=EXECUTORS["multiprocess"],
            tags={"test/report_broken": str(broken)},
        )
        assert run_worker(parent.run_id, instance) is RunStatus.FAILURE
        assert instance.storage.get_asset_records(["report"]) == []
        broken.unlink()
        child = create_reexecution_run(instance, parent.run_id, "FROM_FAILURE")
        assert run_worker(child.run_id, instance) is RunStatus.SUCCESS
        started = {
            e.step_key
            for e in instance.storage.get_events(child.run_id)
            if e.event_type == "STEP_START"
        }
        assert started == {"report"}  # orders, its check and revenue are reused
        [report] = instance.storage.get_asset_records(["report"])
        assert report.last_materialization_run_id == child.run_id
        [revenue] = instance.storage.get_asset_records(["revenue"])
        assert revenue.last_materialization_run_id == parent.run_id
    finally:
        instance.dispose()

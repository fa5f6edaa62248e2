"""Partitioned asset runs on every executor: in-process, multiprocess and real Celery
workers (PostgreSQL, Redis): each step sees the run's partition, IO managers store and read
per partition, and the catalog records each partition materialized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opgraph import OpgraphInstance, execute_job
from opgraph.code_pointer import ReconstructableJob
from opgraph.instance_config import InstanceConfig
from opgraph.partitions.tags import partition_tags

PROJECT = str(Path(__file__).with_name("partition_project.py"))
EXECUTORS = {
    "in_process": {"execution": {"config": {"in_process": {}}}},
    "multiprocess": {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
    "celery": {"execution": {"config": {"celery": {}}}},
}


@pytest.fixture(params=list(EXECUTORS))
def executor_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return EXECUTORS[request.param]


@pytest.fixture
def instance(
    request: pytest.FixtureRequest, executor_config: dict, tmp_path: Path, sqlite_url: str
) -> Any:
    if executor_config is EXECUTORS["celery"]:
        yield request.getfixturevalue("celery_fleet").instance
        return
    local = OpgraphInstance(
        tmp_path, InstanceConfig.model_validate({"storage": {"url": sqlite_url}})
    )
    yield local
    local.dispose()


def _run(instance: Any, executor_config: dict, day: str) -> Any:
    job = ReconstructableJob({"python_file": PROJECT, "attribute": "defs"}, "daily_chain")
    return execute_job(job, instance, run_config=executor_config, tags=partition_tags(day))


def test_a_partition_chain_on_each_executor(instance: Any, executor_config: dict) -> None:
    first = _run(instance, executor_config, "2024-01-01")
    # The first day's two_days reads a day before the start: refused, naming it.
    assert not first.success
    second = _run(instance, executor_config, "2024-01-02")
    assert second.success, [
        e.message for e in second.all_events if e.event_type_value.endswith("FAILURE")
    ]
    assert second.output_for_node("two_days") == [("2024-01-01", 10), ("2024-01-02", 20)]
    events = [
        e.record.data for e in second.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert sorted((d["asset_key"][0], d["partition"]) for d in events) == [
        ("orders", "2024-01-02"),
        ("totals", "2024-01-02"),
        ("two_days", "2024-01-02"),
    ]
    statuses = instance.storage.get_asset_partition_statuses("totals")
    assert {k: s.value for k, s in statuses.items() if k in ("2024-01-01", "2024-01-02")} == {
        "2024-01-01": "MATERIALIZED",
        "2024-01-02": "MATERIALIZED",
    }

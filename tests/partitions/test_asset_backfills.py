"""Backfills of a selection of assets, tick by tick, on SQLite and PostgreSQL: submitted in
dependency order across partition mappings (a downstream partition only once the upstream
partitions it reads materialized in this backfill), one run per asset partition, an
upstream failure failing what reads it; missing and failed selections. Runs are launched
by the in-memory launcher and finished by the test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opgraph.errors import OpgraphError
from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from opgraph.partitions.asset_backfill import launch_asset_backfill
from opgraph.partitions.backfill import BackfillDaemon, PartitionSelection, launch_backfill
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage import EventRecord
from opgraph_storage.partitions_base import BackfillPartitionStatus, BackfillStatus
from opgraph_storage.records import RunsFilter, RunStatus
from tests.partitions.test_backfills import in_memory_env

P = BackfillPartitionStatus
T0 = 1_800_000_000.0

ASSETS = """
from opgraph import (
    AssetIn, DailyPartitionsDefinition, Definitions, HourlyPartitionsDefinition,
    TimeWindowPartitionMapping, asset, define_asset_job,
)

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


@asset(partitions_def=HourlyPartitionsDefinition(start_date="2024-01-01-00:00"))
def hits(context):
    return 1


@asset(partitions_def=DAILY)
def daily_hits(context, hits):
    return sum(hits.values())


@asset(
    partitions_def=DAILY,
    ins={"daily_hits": AssetIn(partition_mapping=TimeWindowPartitionMapping(-1, 0))},
)
def two_days(context, daily_hits):
    return daily_hits


@asset(partitions_def=DAILY)
def orders(context):
    return 1


defs = Definitions(
    assets=[hits, daily_hits, two_days, orders],
    jobs=[define_asset_job("orders_job", selection=["orders"])],
)
"""


@pytest.fixture
def env(tmp_path: Path, storage_url: str) -> Iterator[tuple[OpgraphInstance, Any]]:
    yield from in_memory_env(tmp_path, storage_url, ASSETS)


def _live(instance: OpgraphInstance, backfill_id: str) -> list[Any]:
    runs = instance.storage.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
    return [r for r in runs if r.status is RunStatus.STARTING]


def _finish(instance: OpgraphInstance, run: Any, ok: bool = True) -> None:
    append_lifecycle_event(instance, run.run_id, EventType.RUN_START)
    event = EventType.RUN_SUCCESS if ok else EventType.RUN_FAILURE
    assert append_lifecycle_event(instance, run.run_id, event)


def _target(run: Any) -> tuple[str, str]:
    return run.tags["opgraph/asset_selection"], run.tags["dagster/partition"]


def test_downstream_partitions_wait_for_the_upstream_ones_they_read(env: Any) -> None:
    instance, workspace = env
    backfill = launch_asset_backfill(
        instance,
        workspace,
        ["two_days", "daily_hits", "hits"],
        PartitionSelection(range=("2024-01-01-00:00", "2024-01-02-23:00")),
    )
    # The roots' 48 hours, the 2 days that read them, and the 3 two_days partitions that
    # read those days (2024-01-03 reads 01-02 and 01-03).
    assert backfill.num_partitions == 53
    assert backfill.data["order"] == ["hits", "daily_hits", "two_days"]
    daemon = BackfillDaemon(instance, workspace)
    assert daemon.tick(T0).errors == []
    first = _live(instance, backfill.backfill_id)
    assert len(first) == 48 and {_target(r)[0] for r in first} == {"hits"}
    # Day 1's hours succeed, one hour of day 2 fails.
    seen: list[tuple[str, str]] = []
    for run in first:
        seen.append(_target(run))
        _finish(instance, run, ok=_target(run)[1] != "2024-01-02-05:00")
    daemon.tick(T0 + 1)
    second = _live(instance, backfill.backfill_id)
    assert [_target(r) for r in second] == [("daily_hits", "2024-01-01")]
    for run in second:
        seen.append(_target(run))
        _finish(instance, run)
    for tick in range(2, 10):
        daemon.tick(T0 + tick)
        for run in _live(instance, backfill.backfill_id):
            seen.append(_target(run))
            _finish(instance, run)
    done = instance.storage.get_backfill(backfill.backfill_id)
    assert done is not None and done.status is BackfillStatus.COMPLETED
    # two_days 2024-01-01 reads only daily_hits 2024-01-01 (the day before is not in the
    # backfill); 01-02 and 01-03 read day 2, which its failed hour blocked: they FAIL too.
    assert ("two_days", "2024-01-01") in seen and ("two_days", "2024-01-02") not in seen
    assert len(seen) == len(set(seen)) == 50
    assert instance.storage.count_backfill_partitions(backfill.backfill_id) == {
        P.MATERIALIZED: 49,
        P.FAILED: 4,
    }


def _materialize(instance: OpgraphInstance, asset: str, keys: list[str]) -> None:
    instance.storage.store_events(
        [
            EventRecord(
                "r",
                "ASSET_MATERIALIZATION",
                time.time(),
                data={"asset_key": [asset], "partition": k, "metadata": {}},
            )
            for k in keys
        ]
    )


def test_missing_and_failed_selections(env: Any) -> None:
    instance, workspace = env
    every = [f"2024-01-{d:02d}" for d in range(1, 32)] + ["2024-02-01"]
    _materialize(instance, "orders", every[:-3])
    pairs = [{"asset_key": ["orders"], "partition": every[1]}]
    instance.storage.store_events(
        [EventRecord("r2", "STEP_FAILURE", time.time(), data={"asset_partitions": pairs})]
    )
    now_keys = [str(k) for k in _keys(instance, workspace)]
    missing = launch_asset_backfill(
        instance, workspace, ["orders"], PartitionSelection(missing=True)
    )
    rows = instance.storage.get_backfill_partitions(missing.backfill_id)
    assert [r.partition_key for r in rows] == now_keys[len(every) - 3 :]
    failed = launch_backfill(instance, workspace, "orders_job", PartitionSelection(failed=True))
    rows = instance.storage.get_backfill_partitions(failed.backfill_id)
    assert [(r.target, r.partition_key) for r in rows] == [("orders_job", every[1])]
    assert failed.data["partitions"] == {"failed": True}
    with pytest.raises(OpgraphError, match="no code location"):
        launch_asset_backfill(instance, workspace, ["nothing"], PartitionSelection(all=True))


def _keys(instance: OpgraphInstance, workspace: Any) -> list[str]:
    from opgraph.partitions.snapshot import partitions_from_snapshot

    location = workspace.get("loc")
    node = next(n for n in location.asset_nodes() if n["key"] == ["orders"])
    pdef = partitions_from_snapshot(node["partitions"])
    assert pdef is not None
    return list(pdef.get_partition_keys(dynamic_partitions_store=instance))

"""BackfillPolicy (Dagster's): an asset backfill groups the partitions of an asset with a
policy into runs of a partition range (single_run: one; multi_run(n): n partitions each),
tagged with the range; an asset without one keeps one run per partition. On SQLite and
PostgreSQL, through the BACKFILL daemon part; runs are launched by the in-memory launcher
and finished by the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opgraph import BackfillPolicy, asset
from opgraph.errors import DefinitionError
from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from opgraph.partitions.asset_backfill import launch_asset_backfill
from opgraph.partitions.backfill import BackfillDaemon, PartitionSelection
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage.partitions_base import BackfillPartitionStatus, BackfillStatus
from opgraph_storage.records import RunsFilter, RunStatus
from tests.partitions.test_backfills import in_memory_env

P = BackfillPartitionStatus
T0 = 1_800_000_000.0
START = "dagster/asset_partition_range_start"
END = "dagster/asset_partition_range_end"

ASSETS = """
from opgraph import BackfillPolicy, DailyPartitionsDefinition, Definitions, asset

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


@asset(partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run())
def single(context):
    return 1


@asset(partitions_def=DAILY, backfill_policy=BackfillPolicy.multi_run(3))
def multi(context):
    return 1


@asset(partitions_def=DAILY)
def plain(context):
    return 1


defs = Definitions(assets=[single, multi, plain])
"""


@pytest.fixture
def env(tmp_path: Path, storage_url: str) -> Iterator[tuple[OpgraphInstance, Any]]:
    yield from in_memory_env(tmp_path, storage_url, ASSETS)


def _runs(instance: OpgraphInstance, backfill_id: str) -> list[Any]:
    return instance.storage.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))


def _backfill(env: Any, asset_key: str) -> tuple[list[Any], Any]:
    instance, workspace = env
    backfill = launch_asset_backfill(
        instance, workspace, [asset_key], PartitionSelection(range=("2024-01-01", "2024-01-07"))
    )
    daemon = BackfillDaemon(instance, workspace)
    assert daemon.tick(T0).errors == []
    runs = _runs(instance, backfill.backfill_id)
    assert {r.status for r in runs} == {RunStatus.STARTING}
    for run in runs:
        append_lifecycle_event(instance, run.run_id, EventType.RUN_START)
        assert append_lifecycle_event(instance, run.run_id, EventType.RUN_SUCCESS)
    assert daemon.tick(T0 + 1).errors == []
    done = instance.storage.get_backfill(backfill.backfill_id)
    assert done is not None and done.status is BackfillStatus.COMPLETED
    assert instance.storage.count_backfill_partitions(backfill.backfill_id) == {P.MATERIALIZED: 7}
    return runs, backfill


def _ranges(runs: list[Any]) -> list[tuple[str, str]]:
    return sorted((r.tags[START], r.tags[END]) for r in runs)


def test_single_run_backfills_the_range_in_one_run(env: Any) -> None:
    runs, _ = _backfill(env, "single")
    assert _ranges(runs) == [("2024-01-01", "2024-01-07")]
    assert "dagster/partition" not in runs[0].tags


def test_multi_run_backfills_chunks_of_n_partitions(env: Any) -> None:
    runs, _ = _backfill(env, "multi")
    assert _ranges(runs) == [
        ("2024-01-01", "2024-01-03"),
        ("2024-01-04", "2024-01-06"),
        ("2024-01-07", "2024-01-07"),
    ]


def test_an_asset_without_a_policy_gets_one_run_per_partition(env: Any) -> None:
    runs, _ = _backfill(env, "plain")
    assert sorted(r.tags["dagster/partition"] for r in runs) == [
        f"2024-01-0{d}" for d in range(1, 8)
    ]
    assert all(START not in r.tags for r in runs)


def test_the_policy_is_in_the_asset_node_snapshot(env: Any) -> None:
    _, workspace = env
    from opgraph.assets.keys import AssetKey
    from opgraph.assets.launch import asset_location

    location = asset_location(workspace, [AssetKey(["multi"])])
    nodes = {"/".join(n["key"]): n for n in location.asset_nodes()}
    assert nodes["multi"]["backfill_policy"] == {
        "policy_type": "MULTI_RUN",
        "max_partitions_per_run": 3,
        "description": "Backfills in multiple runs, with a maximum of 3 partitions per run",
    }
    assert nodes["single"]["backfill_policy"]["policy_type"] == "SINGLE_RUN"
    assert nodes["plain"]["backfill_policy"] is None


def test_policy_validation() -> None:
    with pytest.raises(DefinitionError, match="max_partitions_per_run"):
        BackfillPolicy.multi_run(0)
    with pytest.raises(DefinitionError, match="backfill_policy must be a BackfillPolicy"):

        @asset(backfill_policy="single")  # type: ignore[arg-type]
        def bad() -> int:
            return 1


def test_a_range_run_sees_the_range_and_materializes_each_partition(env: Any) -> None:
    instance, _ = env
    from opgraph import DailyPartitionsDefinition, Definitions, IOManager, materialize

    seen: dict[str, Any] = {}

    class Recording(IOManager):
        def handle_output(self, context: Any, obj: Any) -> None:
            seen["out"] = (
                context.has_asset_partitions,
                list(context.asset_partition_keys),
                tuple(context.asset_partition_key_range),
                context.asset_partitions_time_window,
            )

        def load_input(self, context: Any) -> Any:
            return None

    daily = DailyPartitionsDefinition(start_date="2024-01-01")

    @asset(partitions_def=daily, backfill_policy=BackfillPolicy.single_run(), io_manager_key="rec")
    def ranged(context: Any) -> dict[str, int]:
        seen["keys"] = list(context.partition_keys)
        seen["range"] = tuple(context.partition_key_range)
        seen["window"] = context.partition_time_window
        with pytest.raises(Exception, match="partition range"):
            _ = context.partition_key
        return {k: 1 for k in context.partition_keys}

    @asset(partitions_def=daily, backfill_policy=BackfillPolicy.single_run())
    def stored(context: Any) -> dict[str, str]:
        return {k: f"v{k}" for k in context.partition_keys}

    @asset(partitions_def=daily)
    def reader(context: Any, stored: str) -> str:
        return stored

    tags = {START: "2024-01-01", END: "2024-01-03"}
    keys = ["2024-01-01", "2024-01-02", "2024-01-03"]
    result = materialize([ranged], resources={"rec": Recording()}, tags=tags, instance=instance)
    assert result.success
    assert seen["keys"] == keys and seen["range"] == ("2024-01-01", "2024-01-03")
    assert (seen["window"].start.day, seen["window"].end.day) == (1, 4)
    assert seen["out"][:3] == (True, keys, ("2024-01-01", "2024-01-03"))
    assert seen["out"][3] == seen["window"]
    statuses = instance.storage.get_asset_partition_statuses("ranged")
    assert {k: s.value for k, s in statuses.items()} == {k: "MATERIALIZED" for k in keys}
    # The filesystem IO manager stores the {partition: value} dict per partition: a run
    # of one partition reads its own value.
    assert materialize([stored], tags=tags, instance=instance).success
    one = materialize(
        [stored, reader], selection=["reader"], partition_key="2024-01-02", instance=instance
    )
    assert one.success and one.output_for_node("reader") == "v2024-01-02"
    del Definitions


def test_the_filesystem_io_manager_names_the_asset_and_range_it_cannot_store(env: Any) -> None:
    from opgraph import DailyPartitionsDefinition, materialize

    @asset(
        partitions_def=DailyPartitionsDefinition(start_date="2024-01-01"),
        backfill_policy=BackfillPolicy.single_run(),
    )
    def not_a_dict(context: Any) -> int:
        return 1

    instance, _ = env
    result = materialize(
        [not_a_dict],
        tags={START: "2024-01-01", END: "2024-01-02"},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failures = [
        e for e in instance.storage.get_events(result.run_id) if e.event_type == "STEP_FAILURE"
    ]
    assert "'not_a_dict'" in str(failures[0].data) and "2024-01-01...2024-01-02" in str(
        failures[0].data
    )


def test_max_runs_in_flight_counts_range_runs(env: Any) -> None:
    instance, workspace = env
    backfill = launch_asset_backfill(
        instance,
        workspace,
        ["multi"],
        PartitionSelection(range=("2024-01-01", "2024-01-07")),
        max_runs_in_flight=1,
    )
    daemon = BackfillDaemon(instance, workspace)
    seen: list[tuple[str, str]] = []
    for tick in range(6):
        assert daemon.tick(T0 + tick).errors == []
        live = [r for r in _runs(instance, backfill.backfill_id) if r.status is RunStatus.STARTING]
        assert len(live) <= 1
        for run in live:
            seen.append((run.tags[START], run.tags[END]))
            append_lifecycle_event(instance, run.run_id, EventType.RUN_START)
            assert append_lifecycle_event(instance, run.run_id, EventType.RUN_FAILURE)
    assert seen == [
        ("2024-01-01", "2024-01-03"),
        ("2024-01-04", "2024-01-06"),
        ("2024-01-07", "2024-01-07"),
    ]
    # A failed range run fails every partition of its range.
    assert instance.storage.count_backfill_partitions(backfill.backfill_id) == {P.FAILED: 7}

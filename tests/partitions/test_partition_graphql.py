"""Partitions over GraphQL on a real webserver (gunicorn) and PostgreSQL: a job's partition
set, a backfill launched by `launchPartitionBackfill` and run by the daemon's backfill part
in real run workers, its per-partition status, the asset's status bar, dynamic partitions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.instance import OpgraphInstance
from opgraph.partitions.backfill import BackfillDaemon
from tests.web_server import Webserver, make_home

JOBS = """
from opgraph import (
    DailyPartitionsDefinition, Definitions, DynamicPartitionsDefinition, asset, define_asset_job,
)

DAILY = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11")


@asset(partitions_def=DAILY)
def daily_sales(context):
    return context.partition_key


files = DynamicPartitionsDefinition(name="files")


@asset(partitions_def=files)
def file_rows(context):
    return context.partition_key


defs = Definitions(
    assets=[daily_sales, file_rows],
    jobs=[define_asset_job("sales_job", selection=["daily_sales"])],
)
"""

SETS = """{ partitionSetsOrError { __typename ... on PartitionSets { results {
  name pipelineName locationName numPartitions partitionNames(limit: 3) } } } }"""
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { id status jobName numPartitions maxRunsInFlight
    partitionStatusCounts { status count } partitionStatuses { partitionKey status runId } }
  ... on Error { message } } }"""
ASSET_BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status jobName assetSelection { path } numPartitions
    partitionStatusCounts { status count } } } }"""
STATUS = """query($key: AssetKeyInput!) { assetPartitionStatusesOrError(assetKey: $key) { __typename
  ... on AssetPartitionStatuses { numPartitions numMaterialized numMissing statusString }
  ... on Error { message } } }"""


@pytest.fixture
def env(tmp_path: Path, pg_storage_url: str) -> Iterator[tuple[Webserver, OpgraphInstance, Any]]:
    from opgraph.workspace import load_workspace

    home = make_home(tmp_path, pg_storage_url)
    jobs = tmp_path / "code" / "partition_assets.py"
    jobs.write_text(JOBS)
    location = {"python_file": {"relative_path": str(jobs), "location_name": "parts"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    server = Webserver(home)
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    yield server, instance, workspace
    workspace.close()
    instance.dispose()
    server.stop()


def test_launch_a_backfill_and_watch_it_finish(env: Any) -> None:
    server, instance, workspace = env
    sets = server.gql(SETS)["partitionSetsOrError"]["results"]
    by_name = {s["name"]: s for s in sets}
    sales = by_name["sales_job_partition_set"]
    assert sales["numPartitions"] == 10 and sales["partitionNames"] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]

    params = {
        "selector": {"partitionSetName": "sales_job_partition_set"},
        "partitionRange": {"start": "2024-01-02", "end": "2024-01-04"},
        "maxRunsInFlight": 2,
        "tags": [{"key": "team", "value": "data"}],
    }
    launched = server.gql(LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    shown = server.gql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
    assert shown["status"] == "REQUESTED" and shown["numPartitions"] == 3
    assert shown["partitionStatusCounts"] == [{"status": "PENDING", "count": 3}]

    daemon = BackfillDaemon(instance, workspace)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert daemon.tick(time.time()).errors == []
        shown = server.gql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        if shown["status"] == "COMPLETED":
            break
        time.sleep(0.2)  # polling the backfill's status, not waiting for time to pass
    assert shown["status"] == "COMPLETED", shown
    assert shown["partitionStatusCounts"] == [{"status": "MATERIALIZED", "count": 3}]
    assert all(p["runId"] for p in shown["partitionStatuses"])

    bar = server.gql(STATUS, {"key": {"path": ["daily_sales"]}})["assetPartitionStatusesOrError"]
    assert bar == {
        "__typename": "AssetPartitionStatuses",
        "numPartitions": 10,
        "numMaterialized": 3,
        "numMissing": 7,
        "statusString": ".MMM......",
    }

    # The missing partitions of the asset itself, by asset selection: the other 7 days.
    params = {"assetSelection": [{"path": ["daily_sales"]}], "missingPartitions": True}
    launched = server.gql(LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    asset_backfill = launched["backfillId"]
    shown = server.gql(ASSET_BACKFILL, {"id": asset_backfill})["partitionBackfillOrError"]
    assert shown["numPartitions"] == 7 and shown["jobName"] is None
    assert shown["assetSelection"] == [{"path": ["daily_sales"]}]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and shown["status"] != "COMPLETED":
        assert daemon.tick(time.time()).errors == []
        shown = server.gql(ASSET_BACKFILL, {"id": asset_backfill})["partitionBackfillOrError"]
        time.sleep(0.2)  # polling the backfill's status, not waiting for time to pass
    assert shown["partitionStatusCounts"] == [{"status": "MATERIALIZED", "count": 7}]
    bar = server.gql(STATUS, {"key": {"path": ["daily_sales"]}})["assetPartitionStatusesOrError"]
    assert bar["statusString"] == "M" * 10


def test_refusals_and_dynamic_partitions(env: Any) -> None:
    server, instance, _ = env
    both = {"jobName": "sales_job", "allPartitions": True, "partitionNames": ["2024-01-01"]}
    refused = server.gql(LAUNCH, {"params": both})["launchPartitionBackfill"]
    assert (
        refused["__typename"] == "InvalidArgumentError" and "exactly one of" in refused["message"]
    )
    unknown = {"jobName": "sales_job", "partitionNames": ["1999-01-01"]}
    refused = server.gql(LAUNCH, {"params": unknown})["launchPartitionBackfill"]
    assert refused["__typename"] == "InvalidArgumentError" and "'1999-01-01'" in refused["message"]
    missing = server.gql(BACKFILL, {"id": "nope"})["partitionBackfillOrError"]
    assert missing["__typename"] == "BackfillNotFoundError"

    add = """mutation { addDynamicPartition(partitionsDefName: "files", partitionKey: "a.csv") {
      __typename ... on AddDynamicPartitionSuccess { partitionKey } } }"""
    assert server.gql(add)["addDynamicPartition"]["partitionKey"] == "a.csv"
    assert instance.get_dynamic_partitions("files") == ["a.csv"]
    bar = server.gql(STATUS, {"key": {"path": ["file_rows"]}})["assetPartitionStatusesOrError"]
    assert bar["statusString"] == "."
    delete = """mutation { deleteDynamicPartitions(partitionsDefName: "files", partitionKeys: ["a.csv"]) {
      __typename } }"""
    assert (
        server.gql(delete)["deleteDynamicPartitions"]["__typename"]
        == "DeleteDynamicPartitionsSuccess"
    )
    assert instance.get_dynamic_partitions("files") == []
    bad = """mutation { addDynamicPartition(partitionsDefName: "files", partitionKey: "a...b") {
      __typename ... on Error { message } } }"""
    assert server.gql(bad)["addDynamicPartition"]["__typename"] == "InvalidArgumentError"

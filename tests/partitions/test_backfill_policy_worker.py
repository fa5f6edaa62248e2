"""A BackfillPolicy asset backfill end to end on PostgreSQL: launched over GraphQL on a
real webserver, run by the daemon's backfill part in real run workers as runs of a
partition range; each partition shows MATERIALIZED; the policy over GraphQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.instance import OpgraphInstance
from opgraph.partitions.backfill import BackfillDaemon
from opgraph_storage.records import RunsFilter
from tests.partitions.test_partition_graphql import ASSET_BACKFILL, LAUNCH, STATUS
from tests.web_server import Webserver, make_home

CODE = """
from opgraph import BackfillPolicy, DailyPartitionsDefinition, Definitions, asset

DAILY = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-08")


@asset(partitions_def=DAILY, backfill_policy=BackfillPolicy.multi_run(4))
def weekly_load(context):
    return {key: len(context.partition_keys) for key in context.partition_keys}


defs = Definitions(assets=[weekly_load])
"""

POLICY = """{ assetNodes { assetKey { path } backfillPolicy {
  maxPartitionsPerRun policyType description } } }"""


@pytest.fixture
def env(tmp_path: Path, pg_storage_url: str) -> Iterator[tuple[Webserver, OpgraphInstance, Any]]:
    from opgraph.workspace import load_workspace

    home = make_home(tmp_path, pg_storage_url)
    code = tmp_path / "code" / "policy_assets.py"
    code.parent.mkdir(parents=True, exist_ok=True)
    code.write_text(CODE)
    location = {"python_file": {"relative_path": str(code), "location_name": "policy"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    server = Webserver(home)
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    yield server, instance, workspace
    workspace.close()
    instance.dispose()
    server.stop()


def test_a_multi_run_backfill_in_real_run_workers(env: Any) -> None:
    server, instance, workspace = env
    nodes = server.gql(POLICY)["assetNodes"]
    assert nodes[0]["backfillPolicy"] == {
        "maxPartitionsPerRun": 4,
        "policyType": "MULTI_RUN",
        "description": "Backfills in multiple runs, with a maximum of 4 partitions per run",
    }
    params = {"assetSelection": [{"path": ["weekly_load"]}], "allPartitions": True}
    launched = server.gql(LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    daemon = BackfillDaemon(instance, workspace)
    shown: dict[str, Any] = {"status": None}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and shown["status"] != "COMPLETED":
        assert daemon.tick(time.time()).errors == []
        shown = server.gql(ASSET_BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        time.sleep(0.2)  # polling the backfill's status, not waiting for time to pass
    assert shown["partitionStatusCounts"] == [{"status": "MATERIALIZED", "count": 7}]
    runs = instance.storage.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in runs
    ) == [("2024-01-01", "2024-01-04"), ("2024-01-05", "2024-01-07")]
    bar = server.gql(STATUS, {"key": {"path": ["weekly_load"]}})["assetPartitionStatusesOrError"]
    assert bar["statusString"] == "M" * 7

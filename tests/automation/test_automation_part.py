"""The AUTOMATION part's tick on SQLite and PostgreSQL, with a real code location and the
in-memory launcher: partitioned requests (one run per partition), and a crash between the
commit and the runs (two daemons committing one evaluation: test_automation_storage.py)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opgraph.automation.daemon import AUTOMATION_TAG, AutomationDaemon
from opgraph.instance import OpgraphInstance
from opgraph_storage import EventRecord
from opgraph_storage.records import RunsFilter
from tests.automation.fake_data import write_home
from tests.conftest import IN_MEMORY_LAUNCHER

ASSETS = """
from opgraph import (
    AssetIn, AutomationCondition, DailyPartitionsDefinition, Definitions, LastPartitionMapping,
    asset,
)

daily = DailyPartitionsDefinition(start_date="2026-11-01")


@asset(partitions_def=daily, automation_condition=AutomationCondition.on_missing())
def events():
    return 1


@asset(partitions_def=daily, automation_condition=AutomationCondition.eager())
def summary(events):
    return 2


@asset(
    ins={"events": AssetIn(partition_mapping=LastPartitionMapping())},
    automation_condition=AutomationCondition.eager(),
)
def latest(events):
    return 3


defs = Definitions(assets=[events, summary, latest])
"""
DAY = 86400.0
NOV_10 = dt.datetime(2026, 11, 10, 6, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def env(tmp_path: Path, storage_url: str) -> Iterator[tuple[OpgraphInstance, Any]]:
    from opgraph.workspace import load_workspace

    config = {"storage": {"url": storage_url}, "run_launcher": IN_MEMORY_LAUNCHER}
    home = write_home(tmp_path / "home", ASSETS, config)
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    yield instance, workspace
    workspace.close()
    instance.dispose()


def _materialize(instance: OpgraphInstance, key: str, partition: str) -> None:
    event = EventRecord(
        run_id="elsewhere",
        event_type="ASSET_MATERIALIZATION",
        timestamp=NOV_10,
        data={"asset_key": [key], "partition": partition, "metadata": {}},
    )
    instance.storage.store_events([event])


def _automation_runs(instance: OpgraphInstance) -> list[Any]:
    return instance.storage.get_runs(RunsFilter(tags={AUTOMATION_TAG: "true"}))


def test_a_new_partition_is_requested_once_with_its_eager_downstream(env: Any) -> None:
    instance, workspace = env
    part = AutomationDaemon(instance, workspace)
    assert part.tick(NOV_10).errors == []
    assert part.tick(NOV_10 + 60).info["asset_partitions_requested"] == 0
    # A new day: its partition is newly missing; events is requested, and summary with it.
    report = part.tick(NOV_10 + DAY)
    assert report.errors == []
    [run] = _automation_runs(instance)
    assert run.tags["dagster/partition"] == "2026-11-10"
    assert run.tags["opgraph/asset_selection"] == "events,summary"
    # `latest` reads only the last partition of events (LastPartitionMapping): it waits
    # while that partition is missing and requested in another run.
    [latest] = instance.storage.get_automation_evaluations("latest", limit=1)
    assert latest.num_requested == 0
    # Nothing is requested twice for one condition becoming true.
    part.tick(NOV_10 + DAY + 60)
    part.tick(NOV_10 + DAY + 120)
    assert len(_automation_runs(instance)) == 1
    [latest] = instance.storage.get_automation_evaluations("summary", limit=1)
    assert latest.data["reason"].startswith("not requested")
    requested = [
        e for e in instance.storage.get_automation_evaluations("summary") if e.num_requested
    ]
    assert [e.data["requested_partitions"] for e in requested] == [["2026-11-10"]]


def test_runs_of_a_tick_cut_short_are_made_once_by_the_next(env: Any, monkeypatch: Any) -> None:
    instance, workspace = env
    part = AutomationDaemon(instance, workspace)
    part.tick(NOV_10)

    def crash(*args: Any) -> None:
        raise SystemExit("killed after the commit")

    monkeypatch.setattr(part, "_make_runs", crash)
    with pytest.raises(SystemExit):
        part.tick(NOV_10 + DAY)
    [tick] = instance.storage.get_automation_ticks(limit=1)
    assert tick.status == "STARTED" and _automation_runs(instance) == []
    monkeypatch.undo()
    # A standby's fresh part finishes it, then evaluates on.
    standby = AutomationDaemon(instance, workspace)
    standby.tick(NOV_10 + DAY + 60)
    standby.tick(NOV_10 + DAY + 120)
    runs = _automation_runs(instance)
    assert [r.tags["dagster/partition"] for r in runs] == ["2026-11-10"]
    finished = instance.storage.get_automation_ticks(before_id=tick.evaluation_id + 1, limit=1)
    assert finished[0].status == "SUCCESS" and finished[0].data["run_ids"] == [runs[0].run_id]


def test_a_declared_partition_mapping_decides_which_updates_count(env: Any) -> None:
    instance, workspace = env
    for day in range(1, 10):
        _materialize(instance, "events", f"2026-11-{day:02d}")
    part = AutomationDaemon(instance, workspace)
    part.tick(NOV_10)
    part.tick(NOV_10 + 60)
    # An older day of events updated: `latest` reads only the last one, and summary's eager
    # considers only its latest day: nothing.
    _materialize(instance, "events", "2026-11-03")
    part.tick(NOV_10 + 120)
    assert [r.tags["opgraph/asset_selection"] for r in _automation_runs(instance)] == []
    _materialize(instance, "events", "2026-11-09")
    part.tick(NOV_10 + 180)
    # The last day: `latest`, and summary's 2026-11-09 (separate runs: not partitioned alike).
    runs = _automation_runs(instance)
    assert sorted(r.tags["opgraph/asset_selection"] for r in runs) == ["latest", "summary"]


def test_auto_materialize_is_on_by_default_and_can_be_switched_off(tmp_path: Path) -> None:
    from opgraph.daemon.controller import build_parts
    from opgraph.errors import InstanceConfigError
    from opgraph.workspace import load_workspace

    def parts(section: dict[str, Any] | None) -> list[str]:
        config: dict[str, Any] = {"run_launcher": IN_MEMORY_LAUNCHER}
        if section is not None:
            config["auto_materialize"] = section
        home = write_home(tmp_path / f"home{len(list(tmp_path.iterdir()))}", ASSETS, config)
        instance = OpgraphInstance.get(home)
        workspace = load_workspace(None, home, in_process=True)
        try:
            return [p.name for p in build_parts(instance, workspace, "test")]
        finally:
            workspace.close()
            instance.dispose()

    assert "AUTOMATION" in parts(None)
    assert "AUTOMATION" not in parts({"enabled": False})
    with pytest.raises(InstanceConfigError) as raised:
        parts({"minimum_interval_seconds": 0})
    assert "auto_materialize.minimum_interval_seconds" in str(raised.value)
    with pytest.raises(InstanceConfigError, match="enable"):
        parts({"enable": True})


def test_run_and_backfill_operands_read_storage(env: Any) -> None:
    from opgraph.assets.keys import AssetKey
    from opgraph.assets.launch import create_asset_run
    from opgraph.automation.data import StorageData
    from opgraph.events import EventType
    from opgraph.partitions.asset_backfill import launch_asset_backfill
    from opgraph.partitions.backfill import PartitionSelection
    from opgraph.partitions.tags import partition_tags
    from opgraph.run_lifecycle import append_lifecycle_event

    instance, workspace = env
    location = workspace.get("auto")
    graph = AutomationDaemon(instance, workspace).graph()

    def data() -> StorageData:
        return StorageData(instance, graph, NOV_10)

    live = create_asset_run(
        instance, location, [AssetKey(["events"])], tags=partition_tags("2026-11-05")
    )
    assert data().run_in_progress("events") == {"2026-11-05"}
    append_lifecycle_event(instance, live.run_id, EventType.RUN_START)
    append_lifecycle_event(instance, live.run_id, EventType.RUN_FAILURE)
    now = data()
    assert now.run_in_progress("events") == frozenset()
    assert now.execution_failed("events") == {"2026-11-05"}
    # Materialized after the failed run ended: no longer failed.
    event = EventRecord(
        run_id="later",
        event_type="ASSET_MATERIALIZATION",
        timestamp=time.time() + 1,
        data={"asset_key": ["events"], "partition": "2026-11-05", "metadata": {}},
    )
    instance.storage.store_events([event])
    assert data().execution_failed("events") == frozenset()
    assert data().backfill_in_progress("events") == frozenset()
    launch_asset_backfill(
        instance, workspace, ["events"], PartitionSelection(keys=("2026-11-02", "2026-11-03"))
    )
    assert data().backfill_in_progress("events") == {"2026-11-02", "2026-11-03"}
    assert data().latest_time_window("events", None) == {"2026-11-09"}
    assert data().latest_time_window("events", 2 * DAY) == {"2026-11-08", "2026-11-09"}


def test_two_daemons_evaluating_at_once_make_one_set_of_runs(env: Any, monkeypatch: Any) -> None:
    instance, workspace = env
    first, second = AutomationDaemon(instance, workspace), AutomationDaemon(instance, workspace)
    first.tick(NOV_10)
    stale = instance.storage.get_automation_ticks(limit=1)
    # The second read the newest tick before the first committed the next evaluation.
    first.tick(NOV_10 + DAY)
    storage = instance.storage
    monkeypatch.setattr(type(storage), "get_automation_ticks", lambda self, **kw: stale)
    report = second.tick(NOV_10 + DAY + 1)
    monkeypatch.undo()
    assert report.errors == ["automation evaluation 2 was committed by another daemon"]
    assert [r.tags["dagster/partition"] for r in _automation_runs(instance)] == ["2026-11-10"]

"""@asset_sensor and @multi_asset_sensor on the catalog; sensors and schedules that target
asset jobs."""

from __future__ import annotations

import json

from opgraph import (
    AssetKey,
    AssetSelection,
    Definitions,
    OpgraphInstance,
    RunRequest,
    ScheduleDefinition,
    asset,
    asset_sensor,
    build_sensor_context,
    define_asset_job,
    materialize,
    multi_asset_sensor,
)
from opgraph.assets import sensors as asset_sensors
from opgraph.workspace.in_process import InProcessCodeLocation


@asset
def upstream() -> int:
    return 1


@asset
def other() -> int:
    return 2


@asset
def downstream(upstream: int) -> int:
    return upstream + 1


downstream_job = define_asset_job("downstream_job", AssetSelection.assets(downstream))


@asset_sensor(asset_key=AssetKey("upstream"), job=downstream_job)
def on_upstream(context, asset_event):
    return RunRequest(run_key=str(asset_event.storage_id), tags={"from": asset_event.run_id})


@multi_asset_sensor(monitored_assets=[upstream, other], job=downstream_job)
def on_both(context):
    records = context.latest_materialization_records_by_key()
    if all(records.values()):
        context.advance_all_cursors()
        return RunRequest()
    return None


nightly = ScheduleDefinition(job=downstream_job, cron_schedule="0 3 * * *")
defs = Definitions(
    assets=[upstream, other, downstream], sensors=[on_upstream, on_both], schedules=[nightly]
)


def test_asset_sensor_fires_once_per_materialization(tmp_path) -> None:
    instance = OpgraphInstance.ephemeral(tmp_path)
    context = build_sensor_context(instance=instance)
    assert on_upstream.evaluate_tick(context).run_requests == []
    first = materialize([upstream], instance=instance)
    tick = on_upstream.evaluate_tick(build_sensor_context(instance=instance))
    [request] = tick.run_requests
    assert request.tags == {"from": first.run_id}
    again = on_upstream.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor))
    assert again.run_requests == [] and again.cursor == tick.cursor  # nothing new
    materialize([upstream], instance=instance)
    newer = on_upstream.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor))
    assert len(newer.run_requests) == 1 and int(newer.cursor) > int(tick.cursor)


def test_multi_asset_sensor_waits_for_all(tmp_path) -> None:
    instance = OpgraphInstance.ephemeral(tmp_path)
    materialize([upstream], instance=instance)
    tick = on_both.evaluate_tick(build_sensor_context(instance=instance))
    assert tick.run_requests == []
    materialize([other], instance=instance)
    tick = on_both.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor))
    assert len(tick.run_requests) == 1
    assert set(json.loads(tick.cursor)) == {"upstream", "other"}
    tick = on_both.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor))
    assert tick.run_requests == []


def test_code_location_evaluates_asset_sensors_with_its_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPGRAPH_HOME", str(tmp_path))
    asset_sensors._home_instance.cache_clear()
    try:
        instance = asset_sensors._home_instance()
        materialize([upstream], instance=instance)
        location = InProcessCodeLocation("sensors", {"python_file": __file__})
        evaluation = location.evaluate_sensor("on_upstream")
        assert evaluation.error is None, evaluation.error
        assert [r.job_name or "downstream_job" for r in evaluation.run_requests] == [
            "downstream_job"
        ]
        assert {s.name for s in location.sensors()} == {"on_upstream", "on_both"}
        assert [s.job_name for s in location.schedules()] == ["downstream_job"]
    finally:
        asset_sensors._home_instance.cache_clear()

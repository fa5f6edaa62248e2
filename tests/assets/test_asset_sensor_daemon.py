"""An @asset_sensor run by a real `daemon run` process on PostgreSQL: a materialization
written by another process is seen on a tick, and the run it requests (subprocess
launcher) materializes the downstream asset; a later tick requests nothing more."""

from __future__ import annotations

from pathlib import Path

import yaml

from opgraph import OpgraphInstance, materialize
from opgraph.daemon.instigators import SENSOR_NAME_TAG
from opgraph_storage import RunsFilter
from tests.daemon.daemon_procs import DaemonProcess, wait_for

PROJECT = """
from opgraph import (
    AssetKey, AssetSelection, DefaultSensorStatus, Definitions, RunRequest, asset,
    asset_sensor, define_asset_job,
)


@asset
def upstream() -> int:
    return 1


@asset
def downstream(upstream: int) -> int:
    return upstream + 1


downstream_job = define_asset_job("downstream_job", AssetSelection.assets(downstream))


@asset_sensor(
    asset_key=AssetKey("upstream"),
    job=downstream_job,
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
)
def on_upstream(context, asset_event):
    return RunRequest(run_key=str(asset_event.storage_id), tags={"upstream_run": asset_event.run_id})


defs = Definitions(assets=[upstream, downstream], sensors=[on_upstream])
"""


def _home(path: Path, storage_url: str) -> Path:
    path.mkdir()
    (path / "assets.py").write_text(PROJECT)
    config = {
        "storage": {"url": storage_url},
        "run_launcher": "subprocess",
        "daemon": {"sensor_interval_seconds": 0.1},
    }
    (path / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": "assets.py", "location_name": "assets"}}
    (path / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    return path


def test_the_daemon_runs_an_asset_sensor(tmp_path: Path, pg_storage_url: str) -> None:
    home = _home(tmp_path / "home", pg_storage_url)
    instance = OpgraphInstance.get(home)
    daemon = DaemonProcess(home, "asset-sensor")
    sensor_runs = RunsFilter(tags={SENSOR_NAME_TAG: "on_upstream"})
    try:
        wait_for(
            lambda: instance.storage.get_ticks("assets:on_upstream"),
            120,
            "the daemon's first tick of the asset sensor\n" + daemon.output(),
        )
        assert instance.storage.get_runs(sensor_runs) == []  # nothing materialized yet

        # Materialized by this process, as any run or client would: the daemon sees it.
        import importlib.util

        spec = importlib.util.spec_from_file_location("asset_sensor_project", home / "assets.py")
        assert spec is not None and spec.loader is not None
        project = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(project)
        source = materialize([project.upstream], instance=instance)
        assert source.success

        [requested] = wait_for(
            lambda: instance.storage.get_runs(sensor_runs), 120, "the run the sensor requests"
        )
        assert requested.job_name == "downstream_job"
        assert requested.tags["upstream_run"] == source.run_id
        done = wait_for(
            lambda: (
                (run := instance.storage.get_run(requested.run_id)).status.value
                in ("SUCCESS", "FAILURE", "CANCELED")
                and run
            ),
            180,
            "the requested run to finish\n" + daemon.output(),
        )
        assert done.status.value == "SUCCESS"
        [record] = instance.storage.get_asset_records(asset_keys=["downstream"])
        assert record.last_materialization_run_id == requested.run_id

        # Later ticks see no new materialization of upstream: no second run.
        ticks_now = len(instance.storage.get_ticks("assets:on_upstream"))
        wait_for(
            lambda: len(instance.storage.get_ticks("assets:on_upstream")) >= ticks_now + 2,
            120,
            "two more ticks",
        )
        assert len(instance.storage.get_runs(sensor_runs)) == 1
    finally:
        daemon.stop()
        instance.dispose()

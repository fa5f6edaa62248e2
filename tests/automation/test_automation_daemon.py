"""The AUTOMATION part in a real daemon over PostgreSQL, with runs launched by the subprocess
launcher: an eager downstream asset is materialized after its upstream is (an `opgraph
daemon run` process, and the controller in this process), and an on_cron asset fires after
a cron tick (the controller in this process, whose automation part's clock the test shifts:
no waiting for a real cron time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opgraph.assets.keys import AssetKey
from opgraph.assets.launch import create_asset_run
from opgraph.automation.daemon import AUTOMATION_TAG, AutomationDaemon
from opgraph.daemon.controller import Daemon, build_parts
from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.instance import OpgraphInstance
from opgraph_storage.records import RunsFilter, RunStatus
from tests.automation.fake_data import write_home
from tests.daemon.daemon_procs import DaemonProcess

ASSETS = """
from opgraph import AutomationCondition, Definitions, asset


@asset
def up():
    return 1


@asset(automation_condition=AutomationCondition.eager())
def down(up):
    return up + 1


@asset(automation_condition=AutomationCondition.on_cron("0 * * * *"))
def hourly():
    return 3


defs = Definitions(assets=[up, down, hourly])
"""


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)  # polling storage, not waiting for time to pass
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Shifted(DaemonPart):
    """The automation part seeing `now` moved by `offset` seconds (the test's clock)."""

    def __init__(self, part: AutomationDaemon):
        self.part = part
        self.name = part.name
        self.interval_seconds = part.interval_seconds
        self.offset = 0.0

    def tick(self, now: float) -> TickReport:
        return self.part.tick(now + self.offset)


def _home(tmp_path: Path, storage_url: str) -> Path:
    config = {
        "storage": {"url": storage_url},
        "run_launcher": "subprocess",
        "auto_materialize": {"minimum_interval_seconds": 0.2},
    }
    return write_home(tmp_path / "home", ASSETS, config)


def _materialized(storage: Any, key: str) -> Any:
    found = storage.get_asset_records(asset_keys=[key])
    return found[0] if found and found[0].last_materialization_id else None


@pytest.mark.postgres
def test_an_eager_asset_follows_its_upstream_in_a_daemon_process(
    tmp_path: Path, pg_storage_url: str
) -> None:
    from opgraph.workspace import load_workspace

    home = _home(tmp_path, pg_storage_url)
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    daemon = DaemonProcess(home, "automation")
    try:
        storage = instance.storage
        _wait(lambda: len(storage.get_automation_ticks(limit=2)) == 2, 120, "two evaluations")
        run = create_asset_run(instance, workspace.get("auto"), [AssetKey(["up"])])
        instance.submit_run(run.run_id)
        down = _wait(lambda: _materialized(storage, "down"), 120, "down to be materialized")
        assert down.last_materialization_id > _materialized(storage, "up").last_materialization_id
        [auto_run] = storage.get_runs(RunsFilter(tags={AUTOMATION_TAG: "true"}))
        assert auto_run.tags["opgraph/asset_selection"] == "down"
    finally:
        daemon.stop()
        workspace.close()
        instance.dispose()


@pytest.mark.postgres
def test_eager_and_on_cron_through_a_real_daemon(tmp_path: Path, pg_storage_url: str) -> None:
    from opgraph.workspace import load_workspace

    home = _home(tmp_path, pg_storage_url)
    instance = OpgraphInstance.get(home)
    workspace = load_workspace(None, home, in_process=True)
    storage = instance.storage
    stop = threading.Event()
    thread = None
    try:
        parts = build_parts(instance, workspace, "automation-test")
        [automation] = [p for p in parts if isinstance(p, AutomationDaemon)]
        # Start just after an hour began, so no real hour passes during the test.
        shifted = Shifted(automation)
        shifted.offset = (time.time() // 3600 + 1) * 3600 + 60 - time.time()
        parts = [shifted if p is automation else p for p in parts]
        daemon = Daemon(instance, parts, "automation-test", lease_seconds=5)
        thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
        thread.start()

        def evaluations() -> int:
            ticks = storage.get_automation_ticks(limit=1)
            return ticks[0].evaluation_id if ticks else 0

        _wait(lambda: evaluations() >= 2, 60, "two automation evaluations")
        assert storage.get_runs(RunsFilter(tags={AUTOMATION_TAG: "true"})) == []

        # The upstream is materialized by a run launched by hand: down follows.
        location = workspace.get("auto")
        run = create_asset_run(instance, location, [AssetKey(["up"])])
        instance.submit_run(run.run_id)
        down = _wait(
            lambda: (
                (r := storage.get_asset_records(asset_keys=["down"]))
                and r[0].last_materialization_id
                and r[0]
            ),
            120,
            "down to be materialized by automation",
        )
        up = storage.get_asset_records(asset_keys=["up"])[0]
        assert down.last_materialization_id > up.last_materialization_id
        [auto_run] = storage.get_runs(RunsFilter(tags={AUTOMATION_TAG: "true"}))
        assert auto_run.tags["opgraph/asset_selection"] == "down"
        assert auto_run.status is RunStatus.SUCCESS
        evaluations_of_down = storage.get_automation_evaluations("down")
        assert any(e.num_requested == 1 for e in evaluations_of_down)
        assert evaluations_of_down[-1].data["reason"].startswith("not requested")

        # No cron tick yet: hourly has not run. Then the clock passes the next hour.
        assert not storage.get_asset_records(asset_keys=["hourly"])
        seen = evaluations()
        shifted.offset += 3600
        hourly = _wait(
            lambda: (
                (r := storage.get_asset_records(asset_keys=["hourly"]))
                and r[0].last_materialization_id
                and r[0]
            ),
            120,
            "hourly to be materialized after the cron tick",
        )
        assert hourly.materialization_count == 1
        # Later ticks in the same hour request nothing more, for either asset.
        _wait(lambda: evaluations() >= seen + 6, 60, "more evaluations")
        runs = storage.get_runs(RunsFilter(tags={AUTOMATION_TAG: "true"}))
        assert sorted(r.tags["opgraph/asset_selection"] for r in runs) == ["down", "hourly"]
        heartbeat = storage.get_daemon_heartbeats()["AUTOMATION"]
        assert not heartbeat.info.get("errors"), heartbeat.info
    finally:
        stop.set()
        if thread is not None:
            thread.join(60)
        workspace.close()
        instance.dispose()

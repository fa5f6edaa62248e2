"""Sensors' tick(now): interval, cursor after submission, run_key dedupe, errors."""

from __future__ import annotations

from typing import Any

import pytest
from daemon_env import DaemonEnv

from opgraph.daemon.instigators import SENSOR_NAME_TAG, find_instigator, save_data, set_running
from opgraph.daemon.sensors import SensorDaemon
from opgraph_storage.records import InstigatorType, RunsFilter, TickStatus

T0 = 1_800_000_000.0
SENSOR = InstigatorType.SENSOR


def start(env: DaemonEnv, name: str) -> None:
    set_running(env.instance, find_instigator(env.instance, env.workspace, SENSOR, name), True, T0)


def runs_by_file(env: DaemonEnv) -> dict[str, str]:
    runs = env.instance.storage.get_runs(RunsFilter(tags={SENSOR_NAME_TAG: "new_files"}))
    return {run.tags["file"]: run.run_id for run in runs}


def cursor(env: DaemonEnv) -> Any:
    state = env.instance.storage.get_instigator_state("loc:new_files")
    return None if state is None else state.data.get("cursor")


def test_sensor_runs_per_new_file_and_moves_its_cursor(env: DaemonEnv) -> None:
    sensors = SensorDaemon(env.instance, env.workspace)
    start(env, "new_files")
    sensors.tick(T0)
    [tick] = env.instance.storage.get_ticks("loc:new_files")
    assert tick.status is TickStatus.SKIPPED and tick.skip_reason == "no new files"
    (env.files / "a.csv").touch()
    (env.files / "b.csv").touch()
    sensors.tick(T0 + 10)  # within minimum_interval_seconds (30): not evaluated
    assert runs_by_file(env) == {}
    sensors.tick(T0 + 30)
    assert sorted(runs_by_file(env)) == ["a.csv", "b.csv"]
    assert cursor(env) == "b.csv"
    latest = env.instance.storage.get_ticks("loc:new_files", limit=1)[0]
    assert latest.status is TickStatus.SUCCESS and latest.cursor == "b.csv"
    assert sorted(latest.run_ids) == sorted(runs_by_file(env).values())
    (env.files / "c.csv").touch()
    sensors.tick(T0 + 60)
    assert sorted(runs_by_file(env)) == ["a.csv", "b.csv", "c.csv"]


def test_run_keys_are_never_requested_twice(env: DaemonEnv) -> None:
    sensors = SensorDaemon(env.instance, env.workspace)
    start(env, "new_files")
    (env.files / "a.csv").touch()
    sensors.tick(T0)
    first = runs_by_file(env)
    item = find_instigator(env.instance, env.workspace, SENSOR, "new_files")
    save_data(env.instance, item, {**item.data, "cursor": None}, T0)  # a reset cursor
    sensors.tick(T0 + 30)
    assert runs_by_file(env) == first  # the same run, not a new one
    latest = env.instance.storage.get_ticks("loc:new_files", limit=1)[0]
    assert latest.status is TickStatus.SKIPPED
    assert latest.skip_reason == f"run keys already requested: a.csv (run {first['a.csv']})"


def test_cursor_stays_when_submitting_fails(
    env: DaemonEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensors = SensorDaemon(env.instance, env.workspace)
    start(env, "new_files")
    for name in ("a.csv", "b.csv"):
        (env.files / name).touch()
    real_submit = env.instance.submit_run
    calls: list[str] = []

    def flaky_submit(run_id: str) -> Any:
        calls.append(run_id)
        if len(calls) == 2:
            raise ConnectionError("the database went away")
        return real_submit(run_id)

    monkeypatch.setattr(env.instance, "submit_run", flaky_submit)
    report = sensors.tick(T0)
    assert "ConnectionError" in report.errors[0]
    assert cursor(env) is None  # not moved: the next tick asks again
    [tick] = env.instance.storage.get_ticks("loc:new_files")
    assert tick.status is TickStatus.FAILURE and "the database went away" in (tick.error or "")
    monkeypatch.setattr(env.instance, "submit_run", real_submit)
    sensors.tick(T0 + 1)  # the failed tick does not count against the interval
    assert sorted(runs_by_file(env)) == ["a.csv", "b.csv"]  # a.csv once, b.csv now
    assert cursor(env) == "b.csv"


def test_a_raising_sensor_records_the_error_and_waits_its_interval(env: DaemonEnv) -> None:
    sensors = SensorDaemon(env.instance, env.workspace)
    start(env, "failing_sensor")
    start(env, "new_files")
    (env.files / "a.csv").touch()
    report = sensors.tick(T0)
    assert report.errors == []
    [tick] = env.instance.storage.get_ticks("loc:failing_sensor")
    assert tick.status is TickStatus.FAILURE
    assert "RuntimeError: sensor exploded" in (tick.error or "")
    assert list(runs_by_file(env)) == ["a.csv"]  # the other sensor was not held up
    sensors.tick(T0 + 5)
    assert len(env.instance.storage.get_ticks("loc:failing_sensor")) == 1
    sensors.tick(T0 + 10)
    assert len(env.instance.storage.get_ticks("loc:failing_sensor")) == 2


def test_stopped_sensors_do_not_tick(env: DaemonEnv) -> None:
    SensorDaemon(env.instance, env.workspace).tick(T0)
    assert env.instance.storage.get_ticks("loc:new_files") == []

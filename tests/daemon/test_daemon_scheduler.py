"""The scheduler's tick(now) on SQLite and PostgreSQL: time is stepped, never slept."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from daemon_env import DaemonEnv, MakeEnv

from opgraph.daemon.instigators import (
    SCHEDULE_NAME_TAG,
    find_instigator,
    instigators,
    set_running,
)
from opgraph.daemon.scheduler import Scheduler
from opgraph_storage.records import InstigatorType, RunRecord, RunsFilter, RunStatus, TickStatus

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()  # a Monday, 00:00 UTC
HOUR = 3600.0
SCHEDULE = InstigatorType.SCHEDULE


def start(env: DaemonEnv, name: str, now: float) -> None:
    set_running(
        env.instance, find_instigator(env.instance, env.workspace, SCHEDULE, name), True, now
    )


def stop(env: DaemonEnv, name: str, now: float) -> None:
    item = find_instigator(env.instance, env.workspace, SCHEDULE, name)
    set_running(env.instance, item, False, now)


def runs_of(env: DaemonEnv, schedule: str) -> list[RunRecord]:
    found = env.instance.storage.get_runs(RunsFilter(tags={SCHEDULE_NAME_TAG: schedule}))
    return sorted(found, key=lambda run: run.created_at)


def scheduled_hours(runs: list[RunRecord]) -> list[str]:
    return [run.tags["opgraph/tick"].rsplit("T", 1)[1][:5] for run in runs]


def test_a_running_schedule_makes_one_run_per_tick(env: DaemonEnv) -> None:
    scheduler = Scheduler(env.instance, env.workspace)
    stop(env, "every_minute", T0)
    scheduler.tick(T0 + 5 * HOUR)
    assert runs_of(env, "hourly") == []  # STOPPED by default: nothing
    start(env, "hourly", T0 + 0.5 * HOUR)
    report = scheduler.tick(T0 + 2 * HOUR + 60)
    runs = runs_of(env, "hourly")
    assert scheduled_hours(runs) == ["01:00", "02:00"]  # nothing from before the start
    assert report.info["runs_submitted"] == 2 and report.errors == []
    run = runs[0]
    assert run.status is RunStatus.QUEUED  # through the instance's (queued) coordinator
    assert run.run_config == {"ops": {"load": {"config": {"rows": 1}}}}
    assert run.tags["team"] == "data" and run.location_name == "loc"
    assert run.code_pointer and run.code_pointer["python_file"].endswith("jobs.py")
    scheduler.tick(T0 + 2 * HOUR + 120)  # the same ticks again: nothing new
    scheduler.tick(T0 + 2 * HOUR + 120)
    assert len(runs_of(env, "hourly")) == 2
    ticks = env.instance.storage.get_ticks("loc:hourly")
    assert [t.status for t in ticks] == [TickStatus.SUCCESS, TickStatus.SUCCESS]
    assert ticks[0].run_ids == [runs[1].run_id]


def test_catch_up_after_downtime_is_bounded(make_env: MakeEnv) -> None:
    env = make_env(daemon={"max_catchup_runs": 3})
    stop(env, "every_minute", T0)
    start(env, "hourly", T0)
    scheduler = Scheduler(env.instance, env.workspace, max_catchup_runs=3)
    report = scheduler.tick(T0 + 10 * HOUR + 1)
    assert scheduled_hours(runs_of(env, "hourly")) == ["08:00", "09:00", "10:00"]
    assert report.info["catchup_ticks_dropped"] == 1
    scheduler.tick(T0 + 11 * HOUR)  # back to one tick per hour
    assert scheduled_hours(runs_of(env, "hourly"))[-1] == "11:00"
    assert len(runs_of(env, "hourly")) == 4


def test_stopped_time_is_not_caught_up(env: DaemonEnv) -> None:
    scheduler = Scheduler(env.instance, env.workspace)
    start(env, "hourly", T0)
    scheduler.tick(T0 + HOUR)
    stop(env, "hourly", T0 + HOUR + 60)
    scheduler.tick(T0 + 5 * HOUR)
    start(env, "hourly", T0 + 5 * HOUR + 60)
    scheduler.tick(T0 + 6 * HOUR)
    assert scheduled_hours(runs_of(env, "hourly")) == ["01:00", "06:00"]


def test_time_zone_skip_reason_and_errors_are_recorded(env: DaemonEnv) -> None:
    for name in ("berlin_morning", "half_hourly", "broken", "bad_config"):
        start(env, name, T0)
    report = Scheduler(env.instance, env.workspace).tick(T0 + 24 * HOUR + 1)
    # 09:00 in Berlin is 08:00 UTC in January; the schedule sees its own time zone.
    [morning] = runs_of(env, "berlin_morning")
    assert morning.tags["opgraph/tick"].endswith("T08:00:00+00:00")
    assert morning.run_config == {"ops": {"load": {"config": {"rows": 9}}}}
    storage = env.instance.storage
    halves = storage.get_ticks("loc:half_hourly")
    assert {t.status for t in halves} == {TickStatus.SKIPPED, TickStatus.SUCCESS}
    skipped = [t for t in halves if t.status is TickStatus.SKIPPED]
    assert len(halves) == 5  # the latest five: 22:00 .. 00:00 (catch-up bound)
    assert len(skipped) == 2 and skipped[0].skip_reason == "only on the hour"
    [broken] = storage.get_ticks("loc:broken")
    assert broken.status is TickStatus.FAILURE
    assert "ValueError: the schedule function is broken" in (broken.error or "")
    assert "jobs.py" in (broken.error or "")  # the user's file and line
    [bad] = storage.get_ticks("loc:bad_config")
    assert bad.status is TickStatus.FAILURE and "ops.load.config.rows" in (bad.error or "")
    assert runs_of(env, "bad_config") == []
    assert report.errors == []  # the user's errors are the ticks', not the daemon's


def test_default_running_schedule_ticks_without_being_started(env: DaemonEnv) -> None:
    scheduler = Scheduler(env.instance, env.workspace)
    scheduler.tick(T0)  # first seen now: its start time
    scheduler.tick(T0 + 180)
    assert len(runs_of(env, "every_minute")) == 3
    state = env.instance.storage.get_instigator_state("loc:every_minute")
    assert state is not None and state.data["start_time"] == T0


def test_crash_between_run_created_and_tick_recorded_makes_no_second_run(
    env: DaemonEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop(env, "every_minute", T0)
    start(env, "hourly", T0)
    storage = env.instance.storage
    real_update = storage.update_tick

    def crash(tick: Any) -> None:
        raise KeyboardInterrupt("kill -9 after the run was created")

    monkeypatch.setattr(storage, "update_tick", crash)
    with pytest.raises(KeyboardInterrupt):
        Scheduler(env.instance, env.workspace).tick(T0 + HOUR)
    [made] = runs_of(env, "hourly")
    [tick] = storage.get_ticks("loc:hourly")
    assert tick.status is TickStatus.STARTED and tick.run_ids == []
    monkeypatch.setattr(storage, "update_tick", real_update)
    Scheduler(env.instance, env.workspace).tick(T0 + HOUR + 30)  # the restarted daemon
    assert [run.run_id for run in runs_of(env, "hourly")] == [made.run_id]
    [tick] = storage.get_ticks("loc:hourly")
    assert tick.status is TickStatus.SUCCESS and tick.run_ids == [made.run_id]


def test_two_daemons_over_five_simulated_minutes_make_no_duplicates(make_env: MakeEnv) -> None:
    first, second = make_env(), make_env()  # two instances (own storages) on one database
    schedulers = [Scheduler(e.instance, e.workspace) for e in (first, second)]
    start(first, "hourly", T0 - HOUR)
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def daemon(scheduler: Scheduler) -> None:
        for second_ in range(0, 5 * 60 + 1, 5):  # five minutes, one tick every 5 s
            barrier.wait()
            errors.extend(scheduler.tick(T0 + second_).errors)

    threads = [threading.Thread(target=daemon, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    minutes = runs_of(first, "every_minute")
    assert len(minutes) == 5  # 00:01 .. 00:05 (first seen at 00:00: its start), each once
    assert len({run.tags["opgraph/tick"] for run in minutes}) == 5
    assert len(runs_of(first, "hourly")) == 1
    ticks = first.instance.storage.get_ticks("loc:every_minute")
    assert len(ticks) == 5 and {t.status for t in ticks} == {TickStatus.SUCCESS}, ticks


def test_an_unreachable_location_leaves_the_tick_for_later(
    env: DaemonEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opgraph.workspace.base import CodeLocationUnreachable

    stop(env, "every_minute", T0)
    start(env, "hourly", T0)
    location = env.workspace.get("loc")

    def down(*_: Any) -> Any:
        raise CodeLocationUnreachable("location 'loc' at http://127.0.0.1:1 does not answer")

    monkeypatch.setattr(location, "evaluate_schedule", down)
    report = Scheduler(env.instance, env.workspace).tick(T0 + HOUR)
    assert report.errors and "does not answer" in report.errors[0]
    monkeypatch.undo()
    Scheduler(env.instance, env.workspace).tick(T0 + HOUR + 10)
    assert scheduled_hours(runs_of(env, "hourly")) == ["01:00"]


def test_listing_knows_every_schedule(env: DaemonEnv) -> None:
    names = [i.key for i in instigators(env.instance, env.workspace, SCHEDULE)]
    assert names == [
        "loc:hourly",
        "loc:berlin_morning",
        "loc:half_hourly",
        "loc:every_minute",
        "loc:broken",
        "loc:bad_config",
    ]

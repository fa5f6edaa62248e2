"""`opgraph schedules ...` and `opgraph sensors ...`: list, start, stop, preview, cursor.

Definitions come from the workspace's code locations; what is running (and a sensor's
cursor) is stored in the instance, where the daemon reads it on its next tick.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

import click

from opgraph.daemon.instigators import (
    Instigator,
    find_instigator,
    instigators,
    next_tick_times,
    save_data,
    set_running,
)
from opgraph.workspace.base import ScheduleSnapshot, SensorSnapshot
from opgraph_app.cli_context import current_instance, open_workspace, workspace_path
from opgraph_app.cli_format import CommandGroup, format_table, format_time
from opgraph_app.cli_locations import WORKSPACE_OPTION
from opgraph_storage.records import InstigatorType, TickRecord

schedules_cli = CommandGroup("schedules", help="List, start, stop and preview schedules.")
sensors_cli = CommandGroup("sensors", help="List, start and stop sensors; show or set cursors.")

SCHEDULE = InstigatorType.SCHEDULE
SENSOR = InstigatorType.SENSOR


def _last_tick(item: Instigator) -> TickRecord | None:
    ticks = current_instance().storage.get_ticks(item.key, limit=1)
    return ticks[0] if ticks else None


def _tick_text(tick: TickRecord | None) -> str:
    if tick is None:
        return "-"
    runs = f" {len(tick.run_ids)} run(s)" if tick.run_ids else ""
    return f"{tick.status.value} {format_time(tick.timestamp)}{runs}"


def _row_json(item: Instigator) -> dict[str, Any]:
    tick = _last_tick(item)
    data: dict[str, Any] = {
        "name": item.key,
        "status": "RUNNING" if item.running else "STOPPED",
        "definition": item.definition.to_json(),
        "last_tick": None if tick is None else tick.__dict__,
    }
    if isinstance(item.definition, ScheduleSnapshot):
        data["next_tick"] = next_tick_times(item.definition, time.time(), 1)[0]
    else:
        data["cursor"] = item.data.get("cursor")
    return data


def _toggle(kind: InstigatorType, name: str, running: bool, workspace_file: str | None) -> None:
    instance = current_instance()
    with open_workspace(workspace_path(workspace_file)) as workspace:
        item = find_instigator(instance, workspace, kind, name)
        set_running(instance, item, running, time.time())
    verb = "started" if running else "stopped"
    click.echo(f"{kind.value.lower()} {item.key} {verb}")


def _list(
    kind: InstigatorType,
    workspace_file: str | None,
    as_json: bool,
    headers: list[str],
    cells: Callable[[dict[str, Any], Instigator], list[str]],
) -> None:
    """`schedules list` and `sensors list`: the JSON rows, or a table with a row of `cells`
    per item and the last tick as its final column."""
    instance = current_instance()
    with open_workspace(workspace_path(workspace_file)) as workspace:
        items = instigators(instance, workspace, kind)
        rows = [_row_json(item) for item in items]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No {kind.value.lower()}s in the workspace's loaded locations.")
        return
    table = [
        [*cells(row, item), _tick_text(_last_tick(item))]
        for row, item in zip(rows, items, strict=True)
    ]
    click.echo(format_table(headers, table))


# -- schedules ----------------------------------------------------------------------------------
@schedules_cli.command("list")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_schedules(workspace_file: str | None, as_json: bool) -> None:
    """Every schedule: status, cron, time zone, next tick and last tick."""
    headers = ["SCHEDULE", "STATUS", "CRON", "TIMEZONE", "NEXT TICK", "LAST TICK"]
    _list(SCHEDULE, workspace_file, as_json, headers, _schedule_cells)


def _schedule_cells(row: dict[str, Any], item: Instigator) -> list[str]:
    schedule = item.definition
    assert isinstance(schedule, ScheduleSnapshot)
    zone = schedule.execution_timezone or "UTC"
    return [row["name"], row["status"], schedule.cron_schedule, zone, format_time(row["next_tick"])]


@schedules_cli.command("start")
@click.argument("name")
@WORKSPACE_OPTION
def start_schedule(name: str, workspace_file: str | None) -> None:
    """Start NAME (or LOCATION:NAME); it ticks from now on, with no catch-up before now."""
    _toggle(SCHEDULE, name, True, workspace_file)


@schedules_cli.command("stop")
@click.argument("name")
@WORKSPACE_OPTION
def stop_schedule(name: str, workspace_file: str | None) -> None:
    """Stop NAME (or LOCATION:NAME)."""
    _toggle(SCHEDULE, name, False, workspace_file)


@schedules_cli.command("preview")
@click.argument("name")
@click.option("-n", "--count", default=5, show_default=True, type=click.IntRange(1, 1000))
@WORKSPACE_OPTION
def preview(name: str, count: int, workspace_file: str | None) -> None:
    """The next tick times of NAME, in its execution time zone and in UTC."""
    instance = current_instance()
    with open_workspace(workspace_path(workspace_file)) as workspace:
        item = find_instigator(instance, workspace, SCHEDULE, name)
    schedule = item.definition
    assert isinstance(schedule, ScheduleSnapshot)
    zone = schedule.execution_timezone or "UTC"
    click.echo(f"{item.key}: {schedule.cron_schedule!r} in {zone}")
    for moment in next_tick_times(schedule, time.time(), count):
        utc = dt.datetime.fromtimestamp(moment, dt.UTC)
        local = utc.astimezone(zoneinfo.ZoneInfo(zone))
        click.echo(f"  {local.isoformat()}  ({utc.strftime('%Y-%m-%d %H:%M:%S')} UTC)")


# -- sensors ------------------------------------------------------------------------------------
@sensors_cli.command("list")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_sensors(workspace_file: str | None, as_json: bool) -> None:
    """Every sensor: status, interval, cursor and last tick."""
    headers = ["SENSOR", "STATUS", "INTERVAL", "CURSOR", "LAST TICK"]
    _list(SENSOR, workspace_file, as_json, headers, _sensor_cells)


def _sensor_cells(row: dict[str, Any], item: Instigator) -> list[str]:
    sensor = item.definition
    assert isinstance(sensor, SensorSnapshot)
    cursor = "-" if row["cursor"] is None else str(row["cursor"])[:40]
    return [row["name"], row["status"], f"{sensor.minimum_interval_seconds}s", cursor]


@sensors_cli.command("start")
@click.argument("name")
@WORKSPACE_OPTION
def start_sensor(name: str, workspace_file: str | None) -> None:
    """Start NAME (or LOCATION:NAME)."""
    _toggle(SENSOR, name, True, workspace_file)


@sensors_cli.command("stop")
@click.argument("name")
@WORKSPACE_OPTION
def stop_sensor(name: str, workspace_file: str | None) -> None:
    """Stop NAME (or LOCATION:NAME)."""
    _toggle(SENSOR, name, False, workspace_file)


@sensors_cli.command("cursor")
@click.argument("name")
@click.option("--set", "new_cursor", help="Store this cursor; the next tick starts from it.")
@click.option("--reset", is_flag=True, help="Forget the cursor; the next tick starts afresh.")
@WORKSPACE_OPTION
def cursor(name: str, new_cursor: str | None, reset: bool, workspace_file: str | None) -> None:
    """Show NAME's cursor, or change it with --set VALUE / --reset."""
    if new_cursor is not None and reset:
        raise click.UsageError("give --set VALUE or --reset, not both")
    instance = current_instance()
    with open_workspace(workspace_path(workspace_file)) as workspace:
        item = find_instigator(instance, workspace, SENSOR, name)
    if new_cursor is None and not reset:
        current = item.data.get("cursor")
        click.echo(f"{item.key}: cursor {'(none)' if current is None else current}")
        return
    data = item.data
    data["cursor"] = None if reset else new_cursor
    save_data(instance, item, data, time.time())
    click.echo(f"{item.key}: cursor {'reset' if reset else f'set to {new_cursor}'}")

"""`opgraph locations ...`: the code locations of the workspace, their state and reloads."""

from __future__ import annotations

import json
from typing import Any

import click

from opgraph.assets.job import is_hidden_job_name
from opgraph.workspace.base import CodeLocation, LocationState, LocationStatus
from opgraph_app.cli_context import open_workspace, workspace_path
from opgraph_app.cli_format import CommandGroup, format_table, format_time

locations_cli = CommandGroup("locations", help="List and reload the workspace's code locations.")

WORKSPACE_OPTION = click.option(
    "-w",
    "--workspace",
    "workspace_file",
    type=click.Path(dir_okay=False),
    help="workspace.yaml to use; default: $OPGRAPH_WORKSPACE, else OPGRAPH_HOME/workspace.yaml.",
)


def _origin(status: LocationStatus) -> str:
    origin = status.origin
    if "server" in origin:
        return f"server {origin['server']['host']}:{origin['server']['port']}"
    if "python_module" in origin:
        return f"module {origin['python_module']}"
    return f"file {origin.get('python_file', '?')}"


def _job_names(location: CodeLocation) -> list[str]:
    """The location's jobs as listed: without the implicit asset job."""
    return [job.name for job in location.jobs() if not is_hidden_job_name(job.name)]


def _counts(location: CodeLocation, status: LocationStatus) -> tuple[int, int, int] | None:
    if status.state is not LocationState.LOADED:
        return None
    return len(_job_names(location)), len(location.schedules()), len(location.sensors())


def _location_json(location: CodeLocation) -> dict[str, Any]:
    status = location.status()
    data = status.to_json()
    if status.state is LocationState.LOADED:
        data["jobs"] = _job_names(location)
        data["schedules"] = [s.name for s in location.schedules()]
        data["sensors"] = [s.name for s in location.sensors()]
    return data


def _print_error(status: LocationStatus, traceback: bool) -> None:
    assert status.error is not None
    click.echo(f"\n{status.name}: {status.error.describe()}")
    if traceback and status.error.traceback:
        click.echo("\n".join("  " + line for line in status.error.traceback.rstrip().splitlines()))


@locations_cli.command("list")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--no-traceback", is_flag=True, help="Only the error line of broken locations.")
def list_locations(workspace_file: str | None, as_json: bool, no_traceback: bool) -> None:
    """Each location's state, version, origin and definitions; errors with file and line."""
    with open_workspace(workspace_path(workspace_file)) as workspace:
        if as_json:
            click.echo(json.dumps([_location_json(loc) for loc in workspace.locations()], indent=2))
            return
        if not workspace.locations():
            click.echo(f"No code locations in {workspace.source}.")
            return
        rows, broken = [], []
        for location in workspace.locations():
            status = location.status()
            counts = _counts(location, status)
            rows.append(
                [
                    status.name,
                    status.state.value,
                    status.version or "-",
                    *(str(n) for n in counts or ("-", "-", "-")),
                    format_time(status.updated_at),
                    _origin(status),
                ]
            )
            if status.error is not None:
                broken.append(status)
        headers = ["LOCATION", "STATE", "VERSION", "JOBS", "SCHEDULES", "SENSORS", "UPDATED"]
        click.echo(format_table([*headers, "ORIGIN"], rows))
        for status in broken:
            _print_error(status, traceback=not no_traceback)
    if broken:
        raise SystemExit(1)


@locations_cli.command("reload")
@click.argument("name")
@WORKSPACE_OPTION
def reload_location(name: str, workspace_file: str | None) -> None:
    """Load NAME's code again; running webservers and daemons follow within a second or two.

    Runs already in flight keep the code they started with."""
    with open_workspace(workspace_path(workspace_file), only=[name]) as workspace:
        # A python_file/module location was just loaded fresh by this command; a server
        # location is asked to re-import. Either way the request tells the others.
        status = workspace.reload(name)
    click.echo(f"Reloaded {name}: {status.state.value}, version {status.version or '-'}")
    if status.error is not None:
        _print_error(status, traceback=True)
        raise SystemExit(1)

"""`opgraph assets list|show|partitions|materialize|wipe`: the asset catalog from the command line.

Definitions come from `-f file.py` (loaded here) or the workspace's code locations; the
catalog (latest materialization, checks) from the instance's storage. Exit codes: 0
success, 1 a run that did not succeed (`--wait`), 2 usage error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from opgraph.assets.keys import AssetKey
from opgraph.assets.staleness import staleness
from opgraph.errors import OpgraphError, RunConfigError
from opgraph_app.cli_context import current_instance, with_cli_context
from opgraph_app.cli_format import CommandGroup, format_table, format_time, parse_run_tags

assets_cli = CommandGroup(
    "assets", help="List, show, materialize and wipe assets, and see their partitions."
)

_FILE = click.option(
    "-f", "--python-file", type=click.Path(exists=True, dir_okay=False), help="Load assets here."
)
_WORKSPACE = click.option("-w", "--workspace", "workspace_file", help="workspace.yaml to use.")


def _locations(python_file: str | None, workspace_file: str | None) -> list[Any]:
    if python_file:
        from opgraph.workspace.in_process import InProcessCodeLocation

        origin = {
            "python_file": str(Path(python_file).resolve()),
            "working_directory": os.getcwd(),
        }
        location = InProcessCodeLocation(Path(python_file).stem, origin)
        error = location.status().error
        if error is not None:
            raise click.BadParameter(error.describe(), param_hint="-f/--python-file")
        return [location]
    from opgraph_app.cli_context import current_workspace, open_workspace

    workspace = open_workspace(Path(workspace_file)) if workspace_file else current_workspace()
    return list(workspace.locations())


def _nodes(locations: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    found: list[tuple[Any, dict[str, Any]]] = []
    for location in locations:
        try:
            found.extend((location, node) for node in location.asset_nodes())
        except OpgraphError as exc:
            click.echo(f"warning: location {location.name!r}: {exc}", err=True)
    return sorted(found, key=lambda pair: pair[1]["key"])


def _key_text(node: dict[str, Any]) -> str:
    return "/".join(node["key"])


def _parse_key(text: str) -> str:
    try:
        return AssetKey.from_user_string(text).to_user_string()
    except OpgraphError as exc:
        raise click.BadParameter(str(exc), param_hint="KEY") from None


def _find_asset(
    key: str, python_file: str | None, workspace_file: str | None
) -> tuple[str, Any, dict[str, Any]]:
    """(the key as a string, its code location, its asset node); a usage error names the
    assets there are when none has the key."""
    wanted = _parse_key(key)
    nodes = {_key_text(n): (loc, n) for loc, n in _nodes(_locations(python_file, workspace_file))}
    if wanted not in nodes:
        raise click.BadParameter(f"no asset {wanted}; assets are {sorted(nodes)}", param_hint="KEY")
    location, node = nodes[wanted]
    return wanted, location, node


@assets_cli.command("list")
@with_cli_context
@_FILE
@_WORKSPACE
@click.option("--group", help="Only assets of this group.")
@click.option("--prefix", help="Only keys under this prefix (a/b).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def list_assets(
    python_file: str | None,
    workspace_file: str | None,
    group: str | None,
    prefix: str | None,
    as_json: bool,
) -> None:
    """Assets defined here, with their latest materialization."""
    nodes = _nodes(_locations(python_file, workspace_file))
    if group:
        nodes = [(loc, n) for loc, n in nodes if n["group_name"] == group]
    if prefix:
        parts = prefix.strip("/").split("/")
        nodes = [(loc, n) for loc, n in nodes if n["key"][: len(parts)] == parts]
    records = {
        r.asset_key: r
        for r in current_instance().storage.get_asset_records([_key_text(n) for _, n in nodes])
    }
    rows = []
    for location, node in nodes:
        record = records.get(_key_text(node))
        rows.append(
            {
                "key": _key_text(node),
                "group": node["group_name"],
                "location": location.name,
                "materializable": node["is_executable"],
                "last_materialized_at": record.last_materialization_at if record else None,
                "last_run_id": record.last_materialization_run_id if record else None,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    click.echo(
        format_table(
            ["KEY", "GROUP", "LOCATION", "LAST MATERIALIZED", "RUN"],
            [
                [
                    r["key"],
                    r["group"],
                    r["location"],
                    format_time(r["last_materialized_at"]) if r["last_materialized_at"] else "-",
                    (r["last_run_id"] or "-")[:8],
                ]
                for r in rows
            ],
        )
    )


@assets_cli.command("show")
@with_cli_context
@click.argument("key")
@_FILE
@_WORKSPACE
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def show_asset(
    key: str, python_file: str | None, workspace_file: str | None, as_json: bool
) -> None:
    """An asset's definition, deps, latest materialization, checks and staleness."""
    wanted, location, node = _find_asset(key, python_file, workspace_file)
    storage = current_instance().storage
    keys = [wanted, *("/".join(d) for d in node["deps"])]
    records = {r.asset_key: r for r in storage.get_asset_records(keys)}
    record = records.get(wanted)
    checks = {c.check_name: c for c in storage.get_asset_check_executions(wanted, latest_only=True)}
    stale = staleness(node, records, {})
    shown = {
        **node,
        "key": wanted,
        "location": location.name,
        "latest_materialization": None
        if record is None or record.last_materialization_id is None
        else {
            "run_id": record.last_materialization_run_id,
            "timestamp": record.last_materialization_at,
            "metadata": record.last_materialization_data.get("metadata", {}),
        },
        "checks": [
            {
                **c,
                "latest": {"passed": checks[c["name"]].passed, "run_id": checks[c["name"]].run_id},
            }
            if c["name"] in checks
            else c
            for c in node["checks"]
        ],
        "staleness": {"status": stale.status, "causes": stale.causes},
    }
    if as_json:
        click.echo(json.dumps(shown, indent=2, sort_keys=True, default=str))
        return
    click.echo(f"{wanted}  ({shown['location']}, group {node['group_name']})")
    if node.get("description"):
        click.echo(f"  {node['description']}")
    click.echo(f"  deps:       {', '.join('/'.join(d) for d in node['deps']) or '-'}")
    click.echo(f"  dependents: {', '.join('/'.join(d) for d in node['dependents']) or '-'}")
    click.echo(f"  code version: {node.get('code_version') or '-'}")
    latest = shown["latest_materialization"]
    if latest:
        click.echo(
            f"  latest materialization: run {latest['run_id']} at {format_time(latest['timestamp'])}"
        )
        for name, value in sorted(latest["metadata"].items()):
            click.echo(f"    {name}: {json.dumps(value, default=str)}")
    else:
        click.echo("  latest materialization: never")
    for check in shown["checks"]:
        outcome = check.get("latest")
        state = "-" if outcome is None else ("passed" if outcome["passed"] else "FAILED")
        click.echo(f"  check {check['name']}: {state}")
    causes = f" ({'; '.join(stale.causes)})" if stale.causes else ""
    click.echo(f"  staleness: {stale.status}{causes}")


@assets_cli.command("partitions")
@with_cli_context
@click.argument("key")
@_FILE
@_WORKSPACE
@click.option("--json", "as_json", is_flag=True, help="Every partition and its status.")
def asset_partitions(
    key: str, python_file: str | None, workspace_file: str | None, as_json: bool
) -> None:
    """A partitioned asset's status per partition: counts, the runs of one status as key
    ranges, and a bar of one character per partition (M materialized, F failed,
    I in progress, . missing)."""
    from opgraph.partitions.snapshot import partitions_from_snapshot
    from opgraph.partitions.status_bar import MISSING_CHAR, STATUS_NAMES, status_bar

    wanted, location, node = _find_asset(key, python_file, workspace_file)
    partitions = partitions_from_snapshot(node.get("partitions"))
    if partitions is None:
        raise click.BadParameter(f"asset {wanted} is not partitioned", param_hint="KEY")
    instance = current_instance()
    keys = [str(k) for k in partitions.get_partition_keys(dynamic_partitions_store=instance)]
    bar = status_bar(keys, instance.storage.get_asset_partition_statuses(wanted))
    if as_json:
        shown = {
            "key": wanted,
            "location": location.name,
            "partitions": {k: STATUS_NAMES[c] for k, c in zip(bar.keys, bar.text, strict=True)},
        }
        click.echo(json.dumps(shown, indent=2))
        return
    counts = ", ".join(f"{bar.count(c)} {name}" for c, name in STATUS_NAMES.items())
    click.echo(f"{wanted}  ({location.name}): {len(keys)} partitions: {counts}")
    click.echo(
        format_table(
            ["STATUS", "FIRST", "LAST", "COUNT"],
            [[r.status, r.first, r.last, str(r.count)] for r in bar.ranges()],
        )
    )
    if keys:
        legend = f"M materialized, F failed, I in progress, {MISSING_CHAR} missing"
        click.echo(f"\n{keys[0]} ... {keys[-1]} ({legend})")
        for start in range(0, len(bar.text), 100):
            click.echo(bar.text[start : start + 100])


@assets_cli.command("materialize")
@with_cli_context
@click.option("--select", "selection", required=True, help="e.g. 'raw/orders+ | group:marts'")
@_FILE
@_WORKSPACE
@click.option("-c", "--config", "config_files", multiple=True, help="Run config YAML file(s).")
@click.option(
    "--tag", "tags", multiple=True, callback=parse_run_tags, help="KEY=VALUE, repeatable."
)
@click.option("--wait", is_flag=True, help="Wait for the run; exit 1 unless it succeeds.")
def materialize_assets(
    selection: str,
    python_file: str | None,
    workspace_file: str | None,
    config_files: tuple[str, ...],
    tags: dict[str, str],
    wait: bool,
) -> None:
    """Launch a run that materializes the selected assets."""
    from opgraph.assets.launch import create_asset_run
    from opgraph.assets.node_graph import NodeGraph
    from opgraph.assets.selection import parse_selection
    from opgraph.run_lifecycle import submit_or_fail
    from opgraph_app.cli_runs_control import _config_error, _load_run_config
    from opgraph_app.run_follow import wait_with_progress
    from opgraph_storage.records import RunStatus

    instance = current_instance()
    run_config = _load_run_config(config_files, instance.config.webserver.limits.run_config)
    chosen = None
    for location in _locations(python_file, workspace_file):
        graph = NodeGraph(location.asset_nodes())
        try:
            keys = parse_selection(selection).resolve(graph) & graph.materializable_keys  # type: ignore[arg-type]
        except OpgraphError:
            continue
        if keys:
            chosen = (location, keys)
            break
    if chosen is None:
        raise click.BadParameter(
            f"{selection!r} selects no materializable asset in any code location",
            param_hint="--select",
        )
    location, keys = chosen
    try:
        run = create_asset_run(instance, location, sorted(keys), run_config, tags)
    except RunConfigError as exc:
        raise _config_error(exc) from None
    run = submit_or_fail(instance, run)
    click.echo(
        f"Run {run.run_id} materializes {', '.join(sorted(k.to_user_string() for k in keys))}"
    )
    if not wait:
        click.echo(f"Follow it with: opgraph runs logs {run.run_id} --follow")
        return
    if wait_with_progress(instance, run.run_id, len(keys)) is not RunStatus.SUCCESS:
        raise SystemExit(1)


@assets_cli.command("wipe")
@with_cli_context
@click.argument("keys", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask.")
def wipe_assets(keys: tuple[str, ...], yes: bool) -> None:
    """Forget assets' history (catalog rows and their events); runs stay."""
    wanted = [_parse_key(k) for k in keys]
    if not yes:
        click.confirm(f"Wipe the history of {', '.join(wanted)}?", abort=True)
    wiped = current_instance().storage.wipe_assets(wanted)
    click.echo(f"Wiped {wiped} of {len(wanted)} asset(s): {', '.join(wanted)}")

"""`opgraph backfill launch|list|show|cancel|resume`: backfills of partitioned jobs.

The daemon runs a launched backfill (its BACKFILL part); these commands store, read and
steer backfills in the instance's storage. Exit codes: 0 success, 2 usage error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from opgraph.partitions.backfill import (
    PartitionSelection,
    cancel_backfill,
    launch_backfill,
    resume_backfill,
)
from opgraph_app.cli_context import current_instance, with_cli_context
from opgraph_app.cli_format import CommandGroup, format_table, format_time, parse_run_tags
from opgraph_storage.partitions_base import BackfillRecord, BackfillStatus

backfill_cli = CommandGroup("backfill", help="Launch, list, show, cancel and resume backfills.")


def _selection(
    partitions: str | None, all_partitions: bool, missing: bool = False, failed: bool = False
) -> PartitionSelection:
    if [partitions is not None, all_partitions, missing, failed].count(True) != 1:
        raise click.UsageError(
            "give one of --partitions FIRST...LAST (or KEY,KEY,...), --all, --missing or "
            "--failed; e.g. opgraph backfill launch --job daily_job --partitions "
            "2024-01-01...2024-12-31"
        )
    if all_partitions:
        return PartitionSelection(all=True)
    if missing or failed:
        return PartitionSelection(missing=missing, failed=failed)
    assert partitions is not None
    if "..." in partitions:
        first, _, last = partitions.partition("...")
        if not first or not last:
            raise click.BadParameter(
                f"{partitions!r}: a range is FIRST...LAST", param_hint="--partitions"
            )
        return PartitionSelection(range=(first, last))
    keys = tuple(k for k in partitions.split(",") if k)
    if not keys:
        raise click.BadParameter("no partition keys given", param_hint="--partitions")
    return PartitionSelection(keys=keys)


def _as_json(backfill: BackfillRecord, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": backfill.backfill_id,
        "status": backfill.status.value,
        "job": backfill.job_name,
        "assets": backfill.data.get("order"),
        "location": backfill.location_name,
        "partitions": backfill.num_partitions,
        "selection": backfill.data.get("partitions"),
        "max_runs_in_flight": backfill.max_runs_in_flight,
        "created_at": backfill.created_at,
        "ended_at": backfill.ended_at,
        "partition_statuses": counts,
    }


def _counts(backfill_id: str) -> dict[str, int]:
    found = current_instance().storage.count_backfill_partitions(backfill_id)
    return {status.value: n for status, n in sorted(found.items(), key=lambda i: i[0].value)}


def _get(backfill_id: str) -> BackfillRecord:
    backfill = current_instance().storage.get_backfill(backfill_id)
    if backfill is None:
        raise click.UsageError(f"no backfill {backfill_id!r}; `opgraph backfill list` shows them")
    return backfill


@backfill_cli.command("launch")
@click.option("--job", "job_name", help="The partitioned job to backfill.")
@click.option(
    "--select",
    "select",
    help="Instead of --job: partitioned assets, KEY,KEY,... (a/b for a key path); run in "
    "dependency order across their partition mappings.",
)
@click.option("--location", "location_name", help="Its code location (when several have it).")
@click.option(
    "--partitions",
    help="FIRST...LAST (both included) or KEY,KEY,... (with --select: of the root assets)",
)
@click.option("--all", "all_partitions", is_flag=True, help="Every partition the job has now.")
@click.option("--missing", is_flag=True, help="The partitions not materialized yet.")
@click.option("--failed", is_flag=True, help="The partitions whose latest materialization failed.")
@click.option("--max-in-flight", type=click.IntRange(min=1), help="Runs at once (default 500).")
@click.option(
    "--tag", "tags", multiple=True, callback=parse_run_tags, help="KEY=VALUE on each run."
)
@click.option("-w", "--workspace", "workspace_file", help="workspace.yaml to use.")
@click.option("--json", "as_json", is_flag=True, help="Print the backfill as JSON.")
@with_cli_context
def launch(
    job_name: str | None,
    select: str | None,
    location_name: str | None,
    partitions: str | None,
    all_partitions: bool,
    missing: bool,
    failed: bool,
    max_in_flight: int | None,
    tags: dict[str, str],
    workspace_file: str | None,
    as_json: bool,
) -> None:
    """Store a backfill of a partitioned job, or of partitioned assets; the daemon runs it."""
    from opgraph.partitions.asset_backfill import launch_asset_backfill
    from opgraph_app.cli_context import current_workspace, open_workspace

    if (job_name is None) == (select is None):
        raise click.UsageError("give --job JOB or --select ASSET,ASSET,..., one of them")
    selection = _selection(partitions, all_partitions, missing, failed)
    workspace = open_workspace(Path(workspace_file)) if workspace_file else current_workspace()
    if select is not None:
        assets = [k.strip() for k in select.split(",") if k.strip()]
        backfill = launch_asset_backfill(
            current_instance(),
            workspace,
            assets,
            selection,
            max_runs_in_flight=max_in_flight,
            tags=tags,
        )
        what = ", ".join(assets)
    else:
        assert job_name is not None
        backfill = launch_backfill(
            current_instance(),
            workspace,
            job_name,
            selection,
            location_name=location_name,
            max_runs_in_flight=max_in_flight,
            tags=tags,
        )
        what = job_name
    if as_json:
        click.echo(json.dumps(_as_json(backfill, _counts(backfill.backfill_id)), indent=2))
        return
    click.echo(
        f"Backfill {backfill.backfill_id}: {backfill.num_partitions} partitions of "
        f"{what} (location {backfill.location_name}); the daemon runs it. "
        f"Follow it with: opgraph backfill show {backfill.backfill_id}"
    )


@backfill_cli.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in BackfillStatus]),
    help="Only these statuses.",
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_cli_context
def list_backfills(statuses: tuple[str, ...], limit: int, as_json: bool) -> None:
    """The newest backfills first."""
    wanted = [BackfillStatus(s) for s in statuses] or None
    found = current_instance().storage.get_backfills(statuses=wanted, limit=limit)
    if as_json:
        click.echo(json.dumps([_as_json(b, _counts(b.backfill_id)) for b in found], indent=2))
        return
    rows = [
        [
            b.backfill_id,
            b.status.value,
            b.job_name or ",".join(b.data.get("order", [])) or "-",
            str(b.num_partitions),
            format_time(b.created_at),
        ]
        for b in found
    ]
    click.echo(format_table(["ID", "STATUS", "JOB / ASSETS", "PARTITIONS", "CREATED"], rows))


@backfill_cli.command("show")
@click.argument("backfill_id")
@click.option("--json", "as_json", is_flag=True)
@with_cli_context
def show(backfill_id: str, as_json: bool) -> None:
    """A backfill and how many partitions are in each status."""
    backfill = _get(backfill_id)
    counts = _counts(backfill_id)
    if as_json:
        click.echo(json.dumps(_as_json(backfill, counts), indent=2))
        return
    click.echo(f"Backfill {backfill.backfill_id}: {backfill.status.value}")
    if backfill.job_name is None:
        assets = ", ".join(backfill.data.get("order", []))
        click.echo(f"  assets     {assets} (location {backfill.location_name})")
    else:
        click.echo(f"  job        {backfill.job_name} (location {backfill.location_name})")
    click.echo(f"  partitions {backfill.num_partitions} {backfill.data.get('partitions')}")
    click.echo(f"  created    {format_time(backfill.created_at)}")
    for status, count in counts.items():
        click.echo(f"  {status:<10} {count}")


@backfill_cli.command("cancel")
@click.argument("backfill_id")
@with_cli_context
def cancel(backfill_id: str) -> None:
    """No new runs; the daemon cancels the runs in flight."""
    backfill = _get(backfill_id)
    if not cancel_backfill(current_instance(), backfill_id):
        raise click.UsageError(
            f"backfill {backfill_id} is {backfill.status.value}; only a REQUESTED one can be canceled"
        )
    click.echo(f"Backfill {backfill_id} is CANCELING: no new runs; runs in flight are canceled.")


@backfill_cli.command("resume")
@click.argument("backfill_id")
@with_cli_context
def resume(backfill_id: str) -> None:
    """Go on with the partitions a canceled or failed backfill had not run."""
    backfill = _get(backfill_id)
    if not resume_backfill(current_instance(), backfill_id):
        raise click.UsageError(
            f"backfill {backfill_id} is {backfill.status.value}; only a CANCELED or FAILED one "
            "can be resumed"
        )
    click.echo(f"Backfill {backfill_id} is REQUESTED again.")

"""`opgraph runs ...`: list, inspect, follow, export, launch, re-execute, cancel, delete."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import yaml

from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from opgraph.ports import RUN_WORKER_HOST_TAG
from opgraph_app.cli_context import current_instance
from opgraph_app.cli_format import (
    CommandGroup,
    format_duration,
    format_table,
    format_time,
    get_run_or_fail,
    parse_since,
    parse_tags,
)
from opgraph_app.cli_runs_control import (
    cancel_run,
    delete_run_command,
    launch_run,
    reexecute_run,
    wipe_command,
)
from opgraph_app.run_follow import follow_events
from opgraph_app.run_views import (
    SUMMARY_EVENT_TYPES,
    event_to_json,
    run_times,
    run_to_json,
    step_summaries,
)
from opgraph_storage.records import FINISHED_STATUSES, EventRecord, RunsFilter, RunStatus

runs_cli = CommandGroup(
    "runs", help="List, inspect, follow, export, launch, re-execute, cancel and delete runs."
)


class UpperChoice(click.Choice):
    """Case-insensitive, but errors list the canonical upper-case names."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(value.upper() if isinstance(value, str) else value, param, ctx)


STATUS_CHOICE = UpperChoice([status.value for status in RunStatus])
EVENT_TYPE_CHOICE = UpperChoice([kind.value for kind in EventType])


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


# -- list ------------------------------------------------------------------------------------
@runs_cli.command("list")
@click.option("--status", "statuses", multiple=True, type=STATUS_CHOICE, help="Repeatable.")
@click.option("--job", "job_name", help="Only runs of this job.")
@click.option("--tag", "tags", multiple=True, callback=parse_tags, help="KEY=VALUE; repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--since", callback=parse_since, help="Created since: 30m, 2h, 7d, 1w, or 2026-11-27[T09:30]."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_runs(
    statuses: tuple[str, ...],
    job_name: str | None,
    tags: dict[str, str],
    limit: int,
    since: float | None,
    as_json: bool,
) -> None:
    """List runs, newest first."""
    instance = current_instance()
    filters = RunsFilter(
        job_name=job_name,
        statuses=[RunStatus(s) for s in statuses] or None,
        tags=tags or None,
        created_after=since,
    )
    runs = instance.storage.get_runs(filters, limit=limit)
    if as_json:
        _echo_json([run_to_json(run) for run in runs])
        return
    if not runs:
        click.echo("No runs match.")
        return
    rows = [
        [
            run.run_id,
            run.job_name,
            run.status.value,
            format_time(run.created_at),
            ", ".join(
                f"{k}={v}" for k, v in sorted(run.tags.items()) if not k.startswith("opgraph/")
            ),
        ]
        for run in runs
    ]
    click.echo(format_table(["RUN ID", "JOB", "STATUS", "CREATED", "TAGS"], rows))
    total = instance.storage.get_runs_count(filters)
    if total > len(runs):
        click.echo(f"({len(runs)} of {total} runs shown; use --limit to see more)")


# -- show ------------------------------------------------------------------------------------
@runs_cli.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_run(run_id: str, as_json: bool) -> None:
    """Status, times, tags, run config and steps of one run."""
    instance = current_instance()
    run = get_run_or_fail(instance, run_id)
    events = instance.storage.get_events(run_id, event_types=SUMMARY_EVENT_TYPES)
    started, ended = run_times(run, events)
    steps = step_summaries(events, default_worker=run.tags.get(RUN_WORKER_HOST_TAG))
    if as_json:
        data = run_to_json(run)
        data.update(started_at=started, ended_at=ended, steps=[s.to_json() for s in steps])
        _echo_json(data)
        return
    fields = [
        ("Run", run.run_id),
        ("Job", run.job_name),
        ("Status", run.status.value),
        ("Created", format_time(run.created_at)),
        ("Started", format_time(started)),
        ("Ended", format_time(ended)),
        ("Duration", format_duration(ended - started if started and ended else None)),
        ("Tags", ", ".join(f"{k}={v}" for k, v in sorted(run.tags.items())) or "-"),
    ]
    if run.parent_run_id:
        fields.append(("Parent run", run.parent_run_id))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        click.echo(f"{name.ljust(width)}  {value}")
    click.echo("Run config:")
    config_text = (
        yaml.safe_dump(run.run_config, sort_keys=False).rstrip() if run.run_config else "{}"
    )
    click.echo("\n".join("  " + line for line in config_text.splitlines()))
    if not steps:
        click.echo("Steps: none started yet")
        _echo_errors(events)  # e.g. the job did not load, or its worker died first
        return
    click.echo("Steps:")
    rows = [
        [
            s.step_key,
            s.status,
            str(s.attempts),
            format_time(s.started_at),
            format_time(s.ended_at),
            format_duration(s.duration),
            s.worker or "-",
        ]
        for s in steps
    ]
    headers = ["STEP", "STATUS", "ATTEMPTS", "STARTED", "ENDED", "DURATION", "WORKER"]
    table = format_table(headers, rows)
    click.echo("\n".join("  " + line for line in table.splitlines()))
    _echo_errors(events)


def _echo_errors(events: list[EventRecord]) -> None:
    """The last failure of each failed step, and of the run itself."""
    failures: dict[str, EventRecord] = {}
    for event in events:
        if event.event_type in ("STEP_FAILURE", "RUN_FAILURE"):
            failures[event.step_key or "(run)"] = event
    if not failures:
        return
    click.echo("Errors:")
    for where, event in failures.items():
        # A message of several lines (a worker's log tail) stays indented under its step.
        click.echo(f"  {where}: " + event.message.replace("\n", "\n    "))


# -- logs ------------------------------------------------------------------------------------
def _format_event(event: EventRecord) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.timestamp))
    millis = int((event.timestamp % 1) * 1000)
    columns = [f"{stamp}.{millis:03d}", f"{event.level:<7}", f"{event.event_type:<17}"]
    if event.step_key:
        columns.append(f"[{event.step_key}]")
    if event.message:
        columns.append(event.message)
    return "  ".join(columns).rstrip()


def _print_events(
    instance: OpgraphInstance,
    run_id: str,
    types: set[str],
    step_key: str | None,
    follow: bool,
    as_json: bool,
) -> None:
    for batch in follow_events(instance, run_id, follow):
        for event in batch:
            if types and event.event_type not in types:
                continue
            if step_key is not None and event.step_key != step_key:
                continue
            line = json.dumps(event_to_json(event), default=str) if as_json else None
            click.echo(line or _format_event(event))


def _print_captured(
    instance: OpgraphInstance, run_id: str, step_key: str | None, suffix: str, follow: bool
) -> None:
    """Print captured stdout (suffix .out) or stderr (.err); with follow, until the run ends."""
    run_dir = instance.compute_logs_dir / run_id
    offsets: dict[Path, int] = {}
    while True:
        finished = instance.get_run(run_id).status in FINISHED_STATUSES
        if step_key is not None:
            paths = [run_dir / f"{step_key}{suffix}"]
        else:
            paths = sorted(run_dir.glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
        for path in paths:
            if not path.is_file():
                continue
            with open(path, "rb") as file:
                file.seek(offsets.get(path, 0))
                data = file.read()
            if data:
                if step_key is None and path not in offsets:
                    click.echo(f"== {path.name.removesuffix(suffix)} ==")
                click.echo(data.decode("utf-8", errors="replace"), nl=False)
            offsets[path] = offsets.get(path, 0) + len(data)
        if not follow or finished:  # read once more after the run ended: nothing is lost
            return
        time.sleep(0.25)


@runs_cli.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.option("--type", "types", multiple=True, type=EVENT_TYPE_CHOICE, help="Repeatable.")
@click.option("--step", "step_key", help="Only this step's events (or captured output).")
@click.option("--stdout", "stream", flag_value=".out", help="The step's captured stdout.")
@click.option("--stderr", "stream", flag_value=".err", help="The step's captured stderr.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def run_logs(
    run_id: str,
    follow: bool,
    types: tuple[str, ...],
    step_key: str | None,
    stream: str | None,
    as_json: bool,
) -> None:
    """Print the events of a run, or with --stdout/--stderr what its steps printed."""
    instance = current_instance()
    get_run_or_fail(instance, run_id)
    if stream is not None:
        if types or as_json:
            raise click.UsageError("--stdout/--stderr print captured output: no --type or --json")
        if step_key is not None and any(c in step_key for c in "/\\\0"):
            raise click.BadParameter(f"not a step key: {step_key!r}", param_hint="--step")
        _print_captured(instance, run_id, step_key, stream, follow)
        return
    _print_events(instance, run_id, set(types), step_key, follow, as_json)


# -- export ----------------------------------------------------------------------------------
@runs_cli.command("export")
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File.")
def export_run(run_id: str, output: str | None) -> None:
    """The run and all its events as one JSON document (stdout, or -o FILE)."""
    instance = current_instance()
    run = get_run_or_fail(instance, run_id)
    events = instance.storage.get_events(run_id)
    document: dict[str, Any] = {
        "run": run_to_json(run),
        "steps": [s.to_json() for s in step_summaries(events, run.tags.get(RUN_WORKER_HOST_TAG))],
        "events": [event_to_json(event) for event in events],
    }
    text = json.dumps(document, indent=2, sort_keys=True, default=str)
    if output is None:
        click.echo(text)
        return
    Path(output).write_text(text + "\n")
    click.echo(f"Wrote run {run_id} and its {len(events)} events to {output}.")


for _command in (launch_run, reexecute_run, cancel_run, delete_run_command, wipe_command):
    runs_cli.add_command(_command)

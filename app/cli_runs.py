"""`opgraph runs ...`: list, inspect, follow, launch, cancel and delete runs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click
import yaml

from app.cli_format import (
    CommandGroup,
    format_duration,
    format_table,
    format_time,
    parse_tags,
)
from app.extension import current_instance
from app.run_views import event_to_json, run_times, run_to_json, step_summaries
from launchers.base import record_transition
from opgraph.errors import CodePointerError, OpgraphError, RunConfigError, RunNotFound
from opgraph.events import EventType
from opgraph.instance import OpgraphInstance
from storage.records import (
    FINISHED_STATUSES,
    LIVE_STATUSES,
    EventRecord,
    RunRecord,
    RunsFilter,
    RunStatus,
)

runs_cli = CommandGroup("runs", help="List, inspect, follow, launch, cancel and delete runs.")


class UpperChoice(click.Choice):
    """Case-insensitive, but errors list the canonical upper-case names."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(value.upper() if isinstance(value, str) else value, param, ctx)


STATUS_CHOICE = UpperChoice([status.value for status in RunStatus])
EVENT_TYPE_CHOICE = UpperChoice([kind.value for kind in EventType])
FOLLOW_POLL_SECONDS = 1.0
FINISH_GRACE_SECONDS = 2.0
RUN_END_EVENTS = {"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"}


def _get_run(instance: OpgraphInstance, run_id: str) -> RunRecord:
    try:
        return instance.get_run(run_id)
    except RunNotFound:
        raise click.BadParameter(
            f"no run with id {run_id!r}; `opgraph runs list` shows the run ids",
            param_hint="RUN_ID",
        ) from None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


# -- list ------------------------------------------------------------------------------------
@runs_cli.command("list")
@click.option("--status", "statuses", multiple=True, type=STATUS_CHOICE, help="Repeatable.")
@click.option("--job", "job_name", help="Only runs of this job.")
@click.option("--tag", "tags", multiple=True, callback=parse_tags, help="KEY=VALUE; repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_runs(
    statuses: tuple[str, ...], job_name: str | None, tags: dict[str, str], limit: int, as_json: bool
) -> None:
    """List runs, newest first."""
    instance = current_instance()
    filters = RunsFilter(
        job_name=job_name,
        statuses=[RunStatus(s) for s in statuses] or None,
        tags=tags or None,
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
    run = _get_run(instance, run_id)
    events = instance.storage.get_events(run_id)
    started, ended = run_times(run, events)
    steps = step_summaries(events)
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
        ]
        for s in steps
    ]
    table = format_table(["STEP", "STATUS", "ATTEMPTS", "STARTED", "ENDED", "DURATION"], rows)
    click.echo("\n".join("  " + line for line in table.splitlines()))


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
    instance: OpgraphInstance, run_id: str, types: set[str], follow: bool, as_json: bool
) -> None:
    after_id: int | None = None
    finished_since: float | None = None
    while True:
        # Status before events: every event written before the run finished is fetched.
        finished = not follow or instance.get_run(run_id).status in FINISHED_STATUSES
        if finished:
            events = instance.storage.get_events(run_id, after_id=after_id)
        else:
            events = instance.storage.wait_for_events(run_id, after_id, FOLLOW_POLL_SECONDS)
        for event in events:
            if not types or event.event_type in types:
                line = json.dumps(event_to_json(event), default=str) if as_json else None
                click.echo(line or _format_event(event))
        after_id = events[-1].storage_id if events else after_id
        if not follow or any(event.event_type in RUN_END_EVENTS for event in events):
            return
        if finished:
            # A status move made by compare-and-set is logged a moment after it happens:
            # give the run's last event a short grace period to arrive.
            finished_since = finished_since or time.monotonic()
            if time.monotonic() - finished_since > FINISH_GRACE_SECONDS:
                return
            time.sleep(0.1)


@runs_cli.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until the run ends.")
@click.option("--type", "types", multiple=True, type=EVENT_TYPE_CHOICE, help="Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def run_logs(run_id: str, follow: bool, types: tuple[str, ...], as_json: bool) -> None:
    """Print the events of a run."""
    instance = current_instance()
    _get_run(instance, run_id)
    _print_events(instance, run_id, set(types), follow, as_json)


# -- launch ----------------------------------------------------------------------------------
def _load_run_config(paths: tuple[str, ...]) -> dict[str, Any]:
    """Merge the -c files in order; later files win, nested mappings merge."""
    merged: dict[str, Any] = {}
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else path
            problem = getattr(exc, "problem", None) or exc
            raise click.BadParameter(
                f"{where}: malformed YAML: {problem}", param_hint="-c/--config"
            ) from None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise click.BadParameter(
                f"{path}: expected a mapping (ops:, resources:, execution:), "
                f"given {type(data).__name__}",
                param_hint="-c/--config",
            )
        merged = _deep_merge(merged, data)
    return merged


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


@runs_cli.command("launch")
@click.option(
    "-f",
    "--python-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Python file that defines the job.",
)
@click.option("-j", "--job", "job_name", help="Job name; optional if the file defines one job.")
@click.option(
    "-c",
    "--config",
    "config_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Run config YAML; repeatable, later files win.",
)
@click.option("--tag", "tags", multiple=True, callback=parse_tags, help="KEY=VALUE; repeatable.")
@click.option(
    "--wait", is_flag=True, help="Print the run's events until it ends; exit 1 unless it succeeds."
)
def launch_run(
    python_file: str,
    job_name: str | None,
    config_files: tuple[str, ...],
    tags: dict[str, str],
    wait: bool,
) -> None:
    """Create a run of a job and submit it to the run coordinator."""
    from opgraph.submit import submit_job_run  # loads user code: only when launching

    instance = current_instance()
    run_config = _load_run_config(config_files)
    code_pointer = {
        "python_file": str(Path(python_file).resolve()),
        "attribute": job_name,
        "working_directory": os.getcwd(),
    }
    try:
        run = submit_job_run(instance, code_pointer, job_name, run_config, tags)
    except RunConfigError as exc:
        problems = "\n  ".join(exc.errors)
        raise click.BadParameter(
            f"the run config does not fit the job:\n  {problems}", param_hint="-c/--config"
        ) from None
    except CodePointerError as exc:
        raise click.BadParameter(str(exc), param_hint="-f/--python-file or -j/--job") from None
    except OpgraphError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Run {run.run_id} of job {run.job_name}: {run.status.value}")
    if not wait:
        click.echo(f"Follow it with: opgraph runs logs {run.run_id} --follow")
        return
    _print_events(instance, run.run_id, set(), follow=True, as_json=False)
    final = instance.get_run(run.run_id)
    click.echo(f"Run {run.run_id} finished: {final.status.value}")
    if final.status is not RunStatus.SUCCESS:
        raise SystemExit(1)


# -- cancel ----------------------------------------------------------------------------------
@runs_cli.command("cancel")
@click.argument("run_id")
@click.option(
    "--force",
    is_flag=True,
    help="Also terminate the run worker if it runs on this machine, and mark the run CANCELED.",
)
def cancel_run(run_id: str, force: bool) -> None:
    """Cancel a queued or running run."""
    instance = current_instance()
    _get_run(instance, run_id)
    moved = instance.cancel_run(run_id)
    status = instance.get_run(run_id).status
    if not moved and not (force and status in LIVE_STATUSES):
        raise click.UsageError(
            f"run {run_id} is {status.value}; only queued or running runs can be canceled"
            + ("" if status in FINISHED_STATUSES else " (add --force to mark it CANCELED)")
        )
    if force and status in LIVE_STATUSES:
        launcher = instance.run_launcher
        terminated = launcher.supports_terminate and launcher.terminate(run_id)
        reason = "run worker terminated" if terminated else "no run worker found to terminate"
        record_transition(
            instance,
            run_id,
            EventType.RUN_CANCELED,
            RunStatus.CANCELED,
            LIVE_STATUSES,
            f"Run canceled by force ({reason}).",
        )
        click.echo(f"Run {run_id}: {reason}.")
    click.echo(f"Run {run_id}: {instance.get_run(run_id).status.value}")


# -- delete ----------------------------------------------------------------------------------
@runs_cli.command("delete")
@click.argument("run_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_run(run_id: str, yes: bool) -> None:
    """Delete a finished run with its tags and events."""
    instance = current_instance()
    run = _get_run(instance, run_id)
    if run.status in LIVE_STATUSES:
        raise click.UsageError(
            f"run {run_id} is {run.status.value}; cancel it first: opgraph runs cancel {run_id}"
        )
    if not yes:
        click.confirm(
            f"Delete run {run_id} of job {run.job_name} ({run.status.value}) and its events?",
            abort=True,
        )
    instance.storage.delete_run(run_id)
    click.echo(f"Deleted run {run_id}.")

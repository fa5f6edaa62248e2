"""`opgraph runs launch|reexecute|cancel|delete|wipe`: the commands that change runs.

Exit codes: 0 success, 1 failure (e.g. `--wait` on a run that did not succeed), 2 usage
error; errors are one line on stderr naming the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml

from opgraph.data_bounds import DataLimitExceeded, DataLimits, DataRefused, load_yaml
from opgraph.errors import CodePointerError, OpgraphError, RunConfigError
from opgraph.instance import OpgraphInstance
from opgraph.ports import RunStatusError
from opgraph.run_lifecycle import delete_run, submit_or_fail, wipe_runs
from opgraph_app.cli_context import current_instance, with_cli_context
from opgraph_app.cli_format import get_run_or_fail, parse_run_tags
from opgraph_app.run_follow import wait_with_progress
from opgraph_app.run_views import SUMMARY_EVENT_TYPES
from opgraph_launchers.subprocess_launcher import fork_run_workers_here
from opgraph_launchers.termination import TerminatePolicy, terminate_run
from opgraph_storage.records import FINISHED_STATUSES, LIVE_STATUSES, RunRecord, RunStatus


def _finish(instance: OpgraphInstance, run: RunRecord, wait: bool, planned_steps: int) -> None:
    click.echo(f"Run {run.run_id} of job {run.job_name}: {run.status.value}")
    if not wait:
        click.echo(f"Follow it with: opgraph runs logs {run.run_id} --follow")
        return
    if wait_with_progress(instance, run.run_id, planned_steps) is not RunStatus.SUCCESS:
        raise SystemExit(1)


# -- launch ----------------------------------------------------------------------------------
def _load_run_config(paths: tuple[str, ...], limits: DataLimits) -> dict[str, Any]:
    """Merge the -c files in order; later files win, nested mappings merge."""
    merged: dict[str, Any] = {}
    for path in paths:
        try:
            data = load_yaml(Path(path).read_text(), limits, path)
        except (DataLimitExceeded, DataRefused) as exc:
            raise click.BadParameter(str(exc), param_hint="-c/--config") from None
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


def _config_error(exc: RunConfigError) -> click.BadParameter:
    problems = "\n  ".join(exc.errors)
    return click.BadParameter(
        f"the run config does not fit the job:\n  {problems}", param_hint="-c/--config"
    )


def _launch_from_file(
    instance: OpgraphInstance,
    python_file: str,
    job_name: str | None,
    run_config: dict[str, Any],
    tags: dict[str, str],
) -> tuple[RunRecord, int]:
    from opgraph.code_pointer import load_job  # user code: only when launching from a file
    from opgraph.submit import create_job_run

    pointer = {"python_file": str(Path(python_file).resolve()), "working_directory": os.getcwd()}
    if job_name:
        pointer["attribute"] = job_name
    try:
        run = create_job_run(instance, pointer, job_name, run_config, tags)
    except RunConfigError as exc:
        raise _config_error(exc) from None
    except CodePointerError as exc:
        raise click.BadParameter(str(exc), param_hint="-f/--python-file or JOB") from None
    steps = len(load_job(pointer, run.job_name).flat_ops)
    # This process has imported opgraph and loaded the job: its run worker forks from it.
    with fork_run_workers_here():
        return submit_or_fail(instance, run), steps


def _launch_from_workspace(
    instance: OpgraphInstance,
    job_name: str,
    location_name: str | None,
    workspace_file: str | None,
    run_config: dict[str, Any],
    tags: dict[str, str],
) -> tuple[RunRecord, int]:
    from opgraph.workspace.base import DefinitionNotFound
    from opgraph.workspace.runs import create_location_run
    from opgraph_app.cli_context import current_workspace, open_workspace

    workspace = open_workspace(Path(workspace_file)) if workspace_file else current_workspace()
    try:
        location = workspace.find_job(job_name, location_name)
        run = create_location_run(instance, location, job_name, run_config, tags)
    except DefinitionNotFound as exc:
        raise click.BadParameter(str(exc), param_hint="JOB or -l/--location") from None
    except RunConfigError as exc:
        raise _config_error(exc) from None
    steps = len(location.job(job_name).ops)
    return submit_or_fail(instance, run), steps


@click.command("launch")
@with_cli_context
@click.argument("job_name", metavar="JOB", required=False)
@click.option(
    "-f",
    "--python-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Load the job from this file instead of the workspace.",
)
@click.option("-l", "--location", "location_name", help="Code location of JOB in the workspace.")
@click.option(
    "-w",
    "--workspace",
    "workspace_file",
    type=click.Path(exists=True, dir_okay=False),
    help="workspace.yaml (default: $OPGRAPH_WORKSPACE, else OPGRAPH_HOME/workspace.yaml).",
)
@click.option(
    "-c",
    "--config",
    "config_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Run config YAML; repeatable, later files win.",
)
@click.option(
    "--tag", "tags", multiple=True, callback=parse_run_tags, help="KEY=VALUE; repeatable."
)
@click.option(
    "--wait", is_flag=True, help="Show progress until the run ends; exit 1 unless it succeeds."
)
def launch_run(
    job_name: str | None,
    python_file: str | None,
    location_name: str | None,
    workspace_file: str | None,
    config_files: tuple[str, ...],
    tags: dict[str, str],
    wait: bool,
) -> None:
    """Create a run of JOB and submit it to the run coordinator.

    JOB comes from the workspace's code locations, or from -f FILE (JOB may then be
    left out if the file defines one job)."""
    instance = current_instance()
    run_config = _load_run_config(config_files, instance.config.webserver.limits.run_config)
    try:
        if python_file:
            run, steps = _launch_from_file(instance, python_file, job_name, run_config, tags)
        elif job_name:
            run, steps = _launch_from_workspace(
                instance, job_name, location_name, workspace_file, run_config, tags
            )
        else:
            raise click.UsageError(
                "name a job: opgraph runs launch JOB (from the workspace), "
                "or opgraph runs launch -f jobs.py [JOB]"
            )
    except OpgraphError as exc:
        raise click.ClickException(str(exc)) from None
    _finish(instance, run, wait, steps)


# -- reexecute -------------------------------------------------------------------------------
@click.command("reexecute")
@with_cli_context
@click.argument("run_id")
@click.option("--from-failure", is_flag=True, help="Only failed steps and what follows them.")
@click.option(
    "--step", "step_keys", multiple=True, help="Only this step and what follows; repeatable."
)
@click.option(
    "--tag", "tags", multiple=True, callback=parse_run_tags, help="KEY=VALUE; repeatable."
)
@click.option(
    "--wait", is_flag=True, help="Show progress until the run ends; exit 1 unless it succeeds."
)
def reexecute_run(
    run_id: str, from_failure: bool, step_keys: tuple[str, ...], tags: dict[str, str], wait: bool
) -> None:
    """Run a finished run's job again: all steps, --from-failure, or --step KEY ...

    Steps not run again reuse the outputs of the run that made them."""
    from opgraph.reexecution import create_reexecution_run

    instance = current_instance()
    parent = get_run_or_fail(instance, run_id)
    if from_failure and step_keys:
        raise click.UsageError("give --from-failure or --step, not both")
    if parent.status not in FINISHED_STATUSES:
        raise click.UsageError(
            f"run {run_id} is {parent.status.value}; only finished runs can be re-executed"
            f" (wait for it, or cancel it: opgraph runs cancel {run_id})"
        )
    if from_failure and parent.status is RunStatus.SUCCESS:
        raise click.UsageError(
            f"run {run_id} succeeded: nothing to re-execute from; leave out --from-failure"
        )
    strategy = "FROM_FAILURE" if from_failure else "SELECTED" if step_keys else "ALL_STEPS"
    try:
        child = create_reexecution_run(instance, run_id, strategy, list(step_keys), tags)
        run = submit_or_fail(instance, child)
    except OpgraphError as exc:
        raise click.ClickException(str(exc)) from None
    logged = instance.storage.get_events(run_id, event_types=SUMMARY_EVENT_TYPES)
    planned = len({event.step_key for event in logged if event.step_key})
    _finish(instance, run, wait, planned)


# -- cancel, delete, wipe --------------------------------------------------------------------
@click.command("cancel")
@with_cli_context
@click.argument("run_id")
@click.option(
    "--force",
    is_flag=True,
    help="Also terminate the run worker if it runs on this machine, and mark the run CANCELED.",
)
def cancel_run(run_id: str, force: bool) -> None:
    """Cancel a queued or running run."""
    instance = current_instance()
    run = get_run_or_fail(instance, run_id)
    if run.status in FINISHED_STATUSES:
        raise click.UsageError(
            f"run {run_id} is {run.status.value}; only queued or running runs can be canceled"
        )
    policy = TerminatePolicy.FORCE if force else TerminatePolicy.SAFE
    outcome = terminate_run(instance, run_id, policy)
    if not outcome.moved:
        raise click.UsageError(
            f"run {run_id} is {outcome.status.value}; already asked to stop "
            f"(add --force to mark it CANCELED: opgraph runs cancel {run_id} --force)"
        )
    if force:
        click.echo(f"{outcome.message[0].upper()}{outcome.message[1:]}.")
    click.echo(f"Run {run_id}: {outcome.status.value}")


@click.command("delete")
@with_cli_context
@click.argument("run_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_run_command(run_id: str, yes: bool) -> None:
    """Delete a finished run with its tags, events and captured logs."""
    instance = current_instance()
    run = get_run_or_fail(instance, run_id)
    if run.status in LIVE_STATUSES:
        raise click.UsageError(
            f"run {run_id} is {run.status.value}; cancel it first: opgraph runs cancel {run_id}"
        )
    if not yes:
        click.confirm(
            f"Delete run {run_id} of job {run.job_name} ({run.status.value}) and its events?",
            abort=True,
        )
    try:
        delete_run(instance, run_id)
    except RunStatusError as exc:  # it was relaunched meanwhile
        raise click.UsageError(str(exc)) from None
    click.echo(f"Deleted run {run_id}.")


@click.command("wipe")
@with_cli_context
@click.option("--yes", is_flag=True, help="Required: this deletes every finished run.")
def wipe_command(yes: bool) -> None:
    """Delete every finished run with its events and captured logs."""
    if not yes:
        raise click.UsageError(
            "this deletes every finished run and its events; to go ahead: opgraph runs wipe --yes"
        )
    outcome = wipe_runs(current_instance())
    click.echo(f"Deleted {outcome.deleted} runs.")
    if outcome.kept_live:
        click.echo(f"Kept {outcome.kept_live} live runs: cancel them first to delete them.")

"""Launching a job in `opgraph dev` and showing its run as it happens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph_app.dev.client import LocationInfo, WebClient
from opgraph_app.run_follow import follow_events
from opgraph_app.run_views import SUMMARY_EVENTS, step_summaries
from opgraph_storage.records import EventRecord, RunStatus

DEFAULT_EXECUTOR = "multi_or_in_process"
CELERY_EXECUTION: dict[str, Any] = {"config": {"celery": {}}}
SHOWN_EVENTS = frozenset(
    {
        "RUN_START",
        "STEP_SUCCESS",
        "STEP_UP_FOR_RETRY",
        "STEP_FAILURE",
        "RUN_SUCCESS",
        "RUN_FAILURE",
        "RUN_CANCELED",
    }
)


def find_job(locations: list[LocationInfo], job: str) -> tuple[str, str]:
    """(location, job) for `job` or `location:job`; a clear error if absent or ambiguous."""
    wanted_location, _, wanted_job = job.rpartition(":")
    matches = [
        (loc.name, name, executor)
        for loc in locations
        for name, executor in loc.jobs.items()
        if name == wanted_job and wanted_location in ("", loc.name)
    ]
    if len(matches) == 1:
        return matches[0][0], matches[0][2]
    every = sorted(f"{loc.name}:{name}" for loc in locations for name in loc.jobs)
    if not matches:
        broken = [f"{loc.name} ({loc.error})" for loc in locations if loc.error]
        why = f"; locations that did not load: {', '.join(broken)}" if broken else ""
        raise OpgraphError(f"no job {job!r} in the workspace; it has {every or 'none'}{why}")
    raise OpgraphError(f"several locations have a job {wanted_job!r}: give one of {every}")


def celery_run_config(run_config: dict[str, Any], executor: str) -> dict[str, Any]:
    """Steps go to the Celery workers unless the run config or the job chose an executor."""
    if executor != DEFAULT_EXECUTOR or "execution" in run_config:
        return run_config
    return {**run_config, "execution": CELERY_EXECUTION}


def launch(
    client: WebClient, locations: list[LocationInfo], job: str, run_config: dict[str, Any]
) -> tuple[str, str]:
    """Launch through the webserver's GraphQL API; returns (run id, job name)."""
    job_name = job.rpartition(":")[2]
    location, executor = find_job(locations, job)
    config = celery_run_config(run_config, executor)
    return client.launch(location, job_name, config, {"opgraph/launched_by": "dev"}), job_name


def follow(
    instance: OpgraphInstance, run_id: str, echo: Callable[[str], None] = print
) -> RunStatus:
    """Print the run's main events as they land, then a table of its steps."""
    events: list[EventRecord] = []
    for batch in follow_events(instance, run_id):
        events += [event for event in batch if event.event_type in SUMMARY_EVENTS]  # no logs
        for event in batch:
            if event.event_type in SHOWN_EVENTS:
                when = time.strftime("%H:%M:%S", time.localtime(event.timestamp))
                what = event.step_key if event.event_type == "STEP_SUCCESS" else event.message
                echo(f"  {when} {event.event_type:<18} {what or ''}")
    hosts = {a.step_key: a.hostname for a in instance.storage.get_step_attempts(run_id)}
    echo(f"\n{'step':<34}{'status':<10}{'attempts':>8}{'seconds':>9}  worker")
    for step in step_summaries(events):
        seconds = f"{step.duration:.2f}" if step.duration is not None else "-"
        echo(
            f"{step.step_key:<34}{step.status:<10}{step.attempts:>8}{seconds:>9}  "
            f"{hosts.get(step.step_key) or step.worker or 'run worker'}"
        )
    return instance.get_run(run_id).status

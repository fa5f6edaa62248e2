"""Following a run from the command line: new events as they land, and a progress line.

Waiting uses the storage's event watcher (LISTEN/NOTIFY on PostgreSQL, polling on SQLite).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import click

from opgraph.instance import OpgraphInstance
from opgraph_app.run_views import SUMMARY_EVENTS, StepSummary, step_summaries
from opgraph_storage.records import FINISHED_STATUSES, EventRecord, RunStatus

WAIT_SECONDS = 1.0
PAGE = 10_000  # events read at once from a finished run
# A status move made by compare-and-set is logged a moment after it happens: once the run
# has finished, its last event gets this long to arrive.
FINISH_GRACE_SECONDS = 2.0
RUN_END_EVENTS = frozenset({"RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"})
STEP_DONE = frozenset({"SUCCESS", "FAILURE", "SKIPPED"})


def follow_events(
    instance: OpgraphInstance, run_id: str, follow: bool = True
) -> Iterator[list[EventRecord]]:
    """Batches of the run's events, in order; without `follow`, one batch of what is stored."""
    after_id: int | None = None
    finished_since: float | None = None
    while True:
        # Status before events: every event written before the run finished is fetched.
        finished = not follow or instance.get_run(run_id).status in FINISHED_STATUSES
        if finished:  # page by page: a run may hold 1,000,000 events
            events = instance.storage.get_events(run_id, after_id=after_id, limit=PAGE)
        else:
            events = instance.storage.wait_for_events(run_id, after_id, WAIT_SECONDS)
        if events:
            after_id = events[-1].storage_id
            yield events
        if any(event.event_type in RUN_END_EVENTS for event in events):
            return
        if finished and len(events) == PAGE:
            continue  # more are stored: read on
        if not follow:
            return
        if finished:
            finished_since = finished_since or time.monotonic()
            if time.monotonic() - finished_since > FINISH_GRACE_SECONDS:
                return
            time.sleep(0.1)


def wait_with_progress(instance: OpgraphInstance, run_id: str, planned_steps: int) -> RunStatus:
    """Show `[####....] done/total steps` until the run ends; returns its final status.

    The total grows when dynamic steps appear. On a terminal the line is redrawn in place;
    otherwise a line is printed whenever another step finishes."""
    events: list[EventRecord] = []
    shown = -1
    tty = sys.stdout.isatty()
    for batch in follow_events(instance, run_id):
        events += [event for event in batch if event.event_type in SUMMARY_EVENTS]  # no logs
        steps = step_summaries(events)
        done = sum(step.status in STEP_DONE for step in steps)
        total = max(planned_steps, len(steps))
        if tty:
            click.echo("\r" + _bar(done, total), nl=False)
        elif done != shown:
            click.echo(_bar(done, total))
        shown = done
    if tty:
        click.echo("")
    status = instance.get_run(run_id).status
    click.echo(f"Run {run_id} finished: {status.value}")
    for step in step_summaries(events):
        if step.status == "FAILURE":
            click.echo(f"  step {step.step_key} failed: {_failure_message(events, step)}")
    for event in events:  # e.g. a job that does not load, a worker that died before starting
        if event.event_type == "RUN_FAILURE" and event.step_key is None:
            click.echo("  run failed: " + event.message.replace("\n", "\n    "))
    return status


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else 0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} steps"


def _failure_message(events: list[EventRecord], step: StepSummary) -> str:
    for event in reversed(events):
        if event.step_key == step.step_key and event.event_type == "STEP_FAILURE":
            return event.message
    return "(no message)"

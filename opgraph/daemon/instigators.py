"""Schedules and sensors as the daemon, the CLI and GraphQL see them: their stored state
(running or stopped, cursor, last tick), next tick times, and turning run requests into
runs without ever making one twice.

A schedule or sensor is named `<location>:<name>` in storage. With no stored state, its
`default_status` decides; starting or stopping stores a state that wins from then on.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph.workspace.base import (
    CodeLocation,
    DefinitionNotFound,
    LocationState,
    RunRequestSnapshot,
    ScheduleSnapshot,
    SensorSnapshot,
    Workspace,
)
from opgraph.workspace.runs import create_location_run
from opgraph_storage.base import DuplicateRunKey, RunAlreadyExists
from opgraph_storage.records import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    RunRecord,
    RunStatus,
)

SCHEDULE_NAME_TAG = "opgraph/schedule_name"
SENSOR_NAME_TAG = "opgraph/sensor_name"
TICK_TAG = "opgraph/tick"
# Run ids of daemon-made runs follow from their run key: after a crash between "run
# created" and "tick recorded", the retry finds the same run instead of making another.
_RUN_ID_NAMESPACE = uuid.UUID("6f706772-6170-6864-6165-6d6f6e000001")

Definition = ScheduleSnapshot | SensorSnapshot


@dataclass(frozen=True)
class Instigator:
    """One schedule or sensor of a loaded location, with its stored state (if any)."""

    location: CodeLocation
    definition: Definition
    state: InstigatorState | None

    @property
    def kind(self) -> InstigatorType:
        if isinstance(self.definition, ScheduleSnapshot):
            return InstigatorType.SCHEDULE
        return InstigatorType.SENSOR

    @property
    def key(self) -> str:
        return instigator_key(self.location.name, self.definition.name)

    @property
    def running(self) -> bool:
        if self.state is not None:
            return self.state.status is InstigatorStatus.RUNNING
        return self.definition.default_status == "RUNNING"

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.state.data) if self.state else {}


def instigator_key(location_name: str, name: str) -> str:
    return f"{location_name}:{name}"


def loaded_locations(workspace: Workspace) -> Iterator[CodeLocation]:
    for location in workspace.locations():
        if location.status().state is LocationState.LOADED:
            yield location


def instigators(
    instance: OpgraphInstance, workspace: Workspace, kind: InstigatorType
) -> list[Instigator]:
    """Every schedule (or sensor) of the loaded locations, in workspace order."""
    states = {state.name: state for state in instance.storage.get_instigator_states()}
    found = []
    for location in loaded_locations(workspace):
        definitions: list[Any] = (
            location.schedules() if kind is InstigatorType.SCHEDULE else location.sensors()
        )
        for definition in definitions:
            state = states.get(instigator_key(location.name, definition.name))
            found.append(Instigator(location, definition, state))
    return found


def find_instigator(
    instance: OpgraphInstance, workspace: Workspace, kind: InstigatorType, name: str
) -> Instigator:
    """By `name` or `location:name`; DefinitionNotFound lists what there is."""
    every = instigators(instance, workspace, kind)
    matches = [i for i in every if name in (i.key, i.definition.name)]
    what = kind.value.lower()
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(i.key for i in every) or "none"
        raise DefinitionNotFound(f"no {what} named {name!r}; the workspace has: {known}")
    raise DefinitionNotFound(
        f"{what} {name!r} is in several locations ({', '.join(i.key for i in matches)}); "
        "give it as LOCATION:NAME"
    )


def set_running(instance: OpgraphInstance, item: Instigator, running: bool, now: float) -> None:
    """Start or stop. Starting (re)sets the start time: a schedule never catches up on
    ticks from before it was started, nor from while it was stopped."""
    data = item.data
    if running:
        data["start_time"] = now
        data.pop("last_tick_time", None)
    status = InstigatorStatus.RUNNING if running else InstigatorStatus.STOPPED
    instance.storage.upsert_instigator_state(
        InstigatorState(item.key, item.kind, status, data, updated_at=now)
    )


def save_data(
    instance: OpgraphInstance, item: Instigator, data: dict[str, Any], now: float
) -> None:
    status = InstigatorStatus.RUNNING if item.running else InstigatorStatus.STOPPED
    instance.storage.upsert_instigator_state(
        InstigatorState(item.key, item.kind, status, data, updated_at=now)
    )


# -- cron ---------------------------------------------------------------------------------------
def _timezone(schedule: ScheduleSnapshot) -> zoneinfo.ZoneInfo:
    name = schedule.execution_timezone or "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise OpgraphError(
            f"schedule {schedule.name!r}: execution_timezone {name!r} is not a known time zone; "
            "expected an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None


def next_tick_times(schedule: ScheduleSnapshot, after: float, count: int) -> list[float]:
    """The next `count` cron times strictly after `after`, in the schedule's time zone."""
    start = dt.datetime.fromtimestamp(after, _timezone(schedule))
    times = croniter(schedule.cron_schedule, start)
    return [times.get_next(dt.datetime).timestamp() for _ in range(count)]


def due_tick_times(
    schedule: ScheduleSnapshot, after: float, now: float, max_ticks: int
) -> tuple[list[float], bool]:
    """Cron times in (after, now], oldest first: at most the latest `max_ticks` of them.
    Walks back from `now`, so a long downtime costs `max_ticks` steps, not one per tick.
    The flag says whether older ones were dropped."""
    # croniter counts whole seconds: start just past `now` so a tick at `now` is due.
    start = dt.datetime.fromtimestamp(int(now) + 1, _timezone(schedule))
    times = croniter(schedule.cron_schedule, start)
    latest_first: list[float] = []
    while len(latest_first) <= max_ticks:  # one more than kept: tells whether any dropped
        moment = times.get_prev(dt.datetime).timestamp()
        if moment <= after:
            break
        if moment <= now:
            latest_first.append(moment)
    dropped = len(latest_first) > max_ticks
    return sorted(latest_first[:max_ticks]), dropped


def tick_time_text(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


# -- runs from run requests ---------------------------------------------------------------------
@dataclass(frozen=True)
class Submitted:
    run: RunRecord
    existed: bool  # the run key was used before: this request made no new run


def run_id_for(run_key: str) -> str:
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, run_key))


def submit_request(
    instance: OpgraphInstance,
    location: CodeLocation,
    definition: Definition,
    request: RunRequestSnapshot,
    run_key: str,
    tags: dict[str, str],
) -> Submitted:
    """Create the run (or find the one a crashed tick made) and submit it if it is still
    NOT_STARTED. RunConfigError / DefinitionNotFound propagate: the tick records them."""
    run_id = run_id_for(run_key)
    existed = False
    try:
        run = create_location_run(
            instance,
            location,
            request.job_name or definition.job_name,
            request.run_config,
            {**request.tags, **tags},
            run_key=run_key,
            run_id=run_id,
        )
    except (DuplicateRunKey, RunAlreadyExists):
        run = instance.get_run(run_id)
        existed = True
    if run.status is RunStatus.NOT_STARTED:
        try:
            run = instance.submit_run(run.run_id)
        except OpgraphError:
            run = instance.get_run(run.run_id)
            if run.status is RunStatus.NOT_STARTED:
                raise
            # Another daemon submitted it between our create and our submit: that is fine.
    return Submitted(run, existed)

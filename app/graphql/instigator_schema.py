"""Schedule and sensor queries and mutations, mixed into the root Query and Mutation.

Queries: schedulesOrError, scheduleOrError(name), sensorsOrError, sensorOrError(name).
Mutations: startSchedule, stopSchedule, startSensor, stopSensor, resetSensorCursor,
scheduleDryRun, sensorDryRun. A name is `SCHEDULE` or `LOCATION:SCHEDULE`.
"""

from __future__ import annotations

import time
from typing import Any

import graphene

from opgraph.daemon.instigators import (
    Instigator,
    find_instigator,
    instigators,
    next_tick_times,
    save_data,
    set_running,
)
from opgraph.workspace.base import DefinitionNotFound, ScheduleSnapshot
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import require_workspace
from opgraph_app.graphql.errors import Refused, check_mutation_allowed, typed_errors
from opgraph_app.graphql.instigator_types import (
    DryRun,
    InstigatorNotFoundError,
    Schedule,
    Schedules,
    Sensor,
    Sensors,
    dry_run,
    schedule,
    sensor,
)
from opgraph_app.graphql.unions import or_error
from opgraph_storage.records import InstigatorType

SCHEDULE = InstigatorType.SCHEDULE
SENSOR = InstigatorType.SENSOR
_ERRORS = (
    InstigatorNotFoundError,
    e.WorkspaceNotConfiguredError,
    e.CodeLocationLoadError,
    e.PythonError,
)

SchedulesOrError = or_error(
    "SchedulesOrError", Schedules, e.WorkspaceNotConfiguredError, e.PythonError
)
SensorsOrError = or_error("SensorsOrError", Sensors, e.WorkspaceNotConfiguredError, e.PythonError)
ScheduleOrError = or_error("ScheduleOrError", Schedule, *_ERRORS)
SensorOrError = or_error("SensorOrError", Sensor, *_ERRORS)
DryRunOrError = or_error(
    "DryRunOrError", DryRun, *_ERRORS, *e.MUTATION_REFUSALS, e.InvalidArgumentError
)
ScheduleMutationResult = or_error(
    "ScheduleMutationResult", Schedule, *_ERRORS, *e.MUTATION_REFUSALS
)
SensorMutationResult = or_error("SensorMutationResult", Sensor, *_ERRORS, *e.MUTATION_REFUSALS)


def _find(info: Any, kind: InstigatorType, name: str) -> Instigator:
    workspace = require_workspace(info.context.workspace)
    try:
        return find_instigator(info.context.instance, workspace, kind, name)
    except DefinitionNotFound as exc:
        raise Refused(InstigatorNotFoundError(message=str(exc), name=name)) from None


def _view(item: Instigator) -> Any:
    return schedule(item) if item.kind is SCHEDULE else sensor(item)


# Resolvers made per kind, as the start/stop mutations below are: schedules and sensors
# differ only in their kind and in the type of their list.
def _resolve_all(kind: InstigatorType) -> Any:
    def resolve(_root: Any, info: Any) -> Any:
        workspace = require_workspace(info.context.workspace)
        views = [_view(item) for item in instigators(info.context.instance, workspace, kind)]
        return Schedules(results=views) if kind is SCHEDULE else Sensors(results=views)

    return staticmethod(typed_errors(resolve))


def _resolve_one(kind: InstigatorType) -> Any:
    def resolve(_root: Any, info: Any, name: str) -> Any:
        return _view(_find(info, kind, name))

    return staticmethod(typed_errors(resolve))


class InstigatorQueries(graphene.ObjectType):
    schedules_or_error = graphene.Field(SchedulesOrError, required=True)
    schedule_or_error = graphene.Field(
        ScheduleOrError, required=True, name=graphene.String(required=True)
    )
    sensors_or_error = graphene.Field(SensorsOrError, required=True)
    sensor_or_error = graphene.Field(
        SensorOrError, required=True, name=graphene.String(required=True)
    )

    resolve_schedules_or_error = _resolve_all(SCHEDULE)
    resolve_schedule_or_error = _resolve_one(SCHEDULE)
    resolve_sensors_or_error = _resolve_all(SENSOR)
    resolve_sensor_or_error = _resolve_one(SENSOR)


def _toggle(kind: InstigatorType, running: bool) -> Any:
    def mutate(_root: Any, info: Any, name: str) -> Any:
        check_mutation_allowed(info)
        item = _find(info, kind, name)
        now = time.time()
        set_running(info.context.instance, item, running, now)
        return _view(_find(info, kind, name))

    return staticmethod(typed_errors(mutate))


def _mutation(name: str, kind: InstigatorType, running: bool) -> type[graphene.Mutation]:
    output = ScheduleMutationResult if kind is SCHEDULE else SensorMutationResult
    arguments = type("Arguments", (), {"name": graphene.String(required=True)})
    what = kind.value.lower()
    doc = f"{'Start' if running else 'Stop'} a {what}; the daemon follows at its next tick."
    return type(
        name,
        (graphene.Mutation,),
        {
            "Arguments": arguments,
            "Output": output,
            "mutate": _toggle(kind, running),
            "__doc__": doc,
        },
    )


StartSchedule = _mutation("StartSchedule", SCHEDULE, True)
StopSchedule = _mutation("StopSchedule", SCHEDULE, False)
StartSensor = _mutation("StartSensor", SENSOR, True)
StopSensor = _mutation("StopSensor", SENSOR, False)


class ResetSensorCursor(graphene.Mutation):
    """Set a sensor's cursor (null: forget it); its next tick starts from there."""

    class Arguments:
        name = graphene.String(required=True)
        cursor = graphene.String()

    Output = SensorMutationResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, name: str, cursor: str | None = None) -> Any:
        check_mutation_allowed(info)
        item = _find(info, SENSOR, name)
        save_data(info.context.instance, item, {**item.data, "cursor": cursor}, time.time())
        return sensor(_find(info, SENSOR, name))


class ScheduleDryRun(graphene.Mutation):
    """Evaluate a schedule for one tick time (default: its next) without making runs."""

    class Arguments:
        name = graphene.String(required=True)
        timestamp = graphene.Float(description="Scheduled time, seconds since the epoch")

    Output = DryRunOrError

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, name: str, timestamp: float | None = None) -> Any:
        check_mutation_allowed(info)
        item = _find(info, SCHEDULE, name)
        if timestamp is None:
            assert isinstance(item.definition, ScheduleSnapshot)
            timestamp = next_tick_times(item.definition, time.time(), 1)[0]
        return dry_run(item.location.evaluate_schedule(item.definition.name, timestamp))


class SensorDryRun(graphene.Mutation):
    """Evaluate a sensor from a cursor (default: its stored one) without making runs or
    moving its cursor."""

    class Arguments:
        name = graphene.String(required=True)
        cursor = graphene.String()

    Output = DryRunOrError

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, name: str, cursor: str | None = None) -> Any:
        check_mutation_allowed(info)
        item = _find(info, SENSOR, name)
        start = cursor if cursor is not None else item.data.get("cursor")
        evaluation = item.location.evaluate_sensor(
            item.definition.name, start, item.data.get("last_run_key")
        )
        return dry_run(evaluation)


class InstigatorMutations(graphene.ObjectType):
    start_schedule = StartSchedule.Field(required=True)
    stop_schedule = StopSchedule.Field(required=True)
    start_sensor = StartSensor.Field(required=True)
    stop_sensor = StopSensor.Field(required=True)
    reset_sensor_cursor = ResetSensorCursor.Field(required=True)
    schedule_dry_run = ScheduleDryRun.Field(required=True)
    sensor_dry_run = SensorDryRun.Field(required=True)

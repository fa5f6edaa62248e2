"""Run status sensors (`run_status_sensor`, `run_failure_sensor`): react to runs reaching a
status (finishing, or QUEUED, STARTING, STARTED, CANCELING on the way).

The daemon (opgraph.daemon.sensors) finds the runs that reached the sensor's status since
its cursor (finished runs by their end time; the other statuses by the event each run
records on reaching it), and asks the code location to evaluate the sensor once per run. The run travels
to the location as the evaluation's cursor (JSON, see `run_payload`), so code locations
need no storage access and the protocol stays the same. What the function returns is
handled as for any sensor: `RunRequest`s (for `request_job` unless they name a job),
`SkipReason` or nothing.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opgraph.errors import DefinitionError
from opgraph.schedules import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    TickResult,
    _collect,
)
from opgraph_storage.records import RunStatus

log = logging.getLogger("opgraph.user")
# The statuses a run status sensor can watch: each is reached with a RUN_* event.
SENSOR_STATUSES = frozenset(RunStatus) - {RunStatus.NOT_STARTED}


@dataclass(frozen=True)
class SensorRun:
    """The run a run status sensor fires for (Dagster's `DagsterRun`, the fields it needs)."""

    run_id: str
    job_name: str
    status: RunStatus
    tags: dict[str, str] = field(default_factory=dict)
    run_config: dict[str, Any] = field(default_factory=dict)
    location_name: str | None = None

    @property
    def is_success(self) -> bool:
        return self.status is RunStatus.SUCCESS

    @property
    def is_failure(self) -> bool:
        return self.status is RunStatus.FAILURE


@dataclass(frozen=True)
class SensorRunEvent:
    """An event of the run (its RUN_* event, or a STEP_FAILURE for failure sensors)."""

    event_type_value: str
    message: str
    step_key: str | None = None


@dataclass
class RunStatusSensorContext:
    sensor_name: str
    dagster_run: SensorRun
    dagster_event: SensorRunEvent
    instance: Any = None
    log: logging.Logger = log

    @property
    def dagster_run_status(self) -> RunStatus:
        return self.dagster_run.status


@dataclass
class RunFailureSensorContext(RunStatusSensorContext):
    step_failure_events: list[SensorRunEvent] = field(default_factory=list)

    @property
    def failure_event(self) -> SensorRunEvent:
        return self.dagster_event

    def get_step_failure_events(self) -> list[SensorRunEvent]:
        return list(self.step_failure_events)


# -- the payload the daemon sends as the evaluation's cursor ------------------------------------
def run_payload(
    run: Any, event_type: str, message: str, step_failures: Sequence[tuple[str | None, str]]
) -> str:
    return json.dumps(
        {
            "run": {
                "run_id": run.run_id,
                "job_name": run.job_name,
                "status": run.status.value,
                "tags": dict(run.tags),
                "run_config": run.run_config,
                "location_name": run.location_name,
            },
            "event": {"event_type_value": event_type, "message": message},
            "step_failures": [{"step_key": k, "message": m} for k, m in step_failures],
        }
    )


def _context(sensor: RunStatusSensorDefinition, payload: str | None) -> RunStatusSensorContext:
    if not payload:
        raise DefinitionError(
            f"run status sensor {sensor.name!r} is evaluated by the daemon for each run that "
            "reaches its status; there is no run to evaluate it for here"
        )
    data = json.loads(payload)
    raw_run = data["run"]
    run = SensorRun(**{**raw_run, "status": RunStatus(raw_run["status"])})
    event = SensorRunEvent(**data["event"])
    if sensor.run_status is RunStatus.FAILURE:
        failures = [
            SensorRunEvent("STEP_FAILURE", f["message"], f["step_key"])
            for f in data.get("step_failures", [])
        ]
        return RunFailureSensorContext(sensor.name, run, event, step_failure_events=failures)
    return RunStatusSensorContext(sensor.name, run, event)


def _job_names(jobs: Iterable[Any] | None) -> list[str]:
    return [job if isinstance(job, str) else job.name for job in jobs or ()]


class RunStatusSensorDefinition(SensorDefinition):
    """A sensor the daemon evaluates once per run that reaches `run_status`."""

    def __init__(
        self,
        name: str,
        run_status: RunStatus,
        fn: Callable[..., Any],
        *,
        monitored_jobs: Iterable[Any] | None = None,
        monitor_all_code_locations: bool = False,
        request_job: Any = None,
        minimum_interval_seconds: int = 30,
        description: str | None = None,
        default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    ):
        if not isinstance(run_status, RunStatus) or run_status is RunStatus.NOT_STARTED:
            # Every status a run reaches with an event (as Dagster: NOT_STARTED has none).
            raise DefinitionError(
                f"run status sensor {name!r}: run_status {run_status!r} is not supported; "
                f"expected one of {sorted(s.value for s in SENSOR_STATUSES)}"
            )
        # Not SensorDefinition.__init__: a run status sensor need not request any job.
        self.name = name
        self.job = request_job
        self.job_name = request_job.name if request_job is not None else ""
        self.minimum_interval_seconds = minimum_interval_seconds
        self.description = description
        self.default_status = default_status
        self._evaluation_fn = fn
        self.run_status = run_status
        self.monitored_job_names = _job_names(monitored_jobs)
        self.monitor_all_code_locations = monitor_all_code_locations
        self._fn = fn

    def evaluate_tick(self, context: SensorEvaluationContext) -> TickResult:
        sensor_context = _context(self, context.cursor)
        takes_context = bool(inspect.signature(self._fn).parameters)
        result = self._fn(sensor_context) if takes_context else self._fn()
        if inspect.isgenerator(result):
            result = list(result)
        return _collect(result, {}, {})


def run_status_sensor(
    run_status: RunStatus,
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    description: str | None = None,
    monitored_jobs: Iterable[Any] | None = None,
    monitor_all_code_locations: bool = False,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    request_job: Any = None,
    **_ignored: Any,  # job_selection=, request_jobs=...: not supported (see the docs)
) -> Callable[[Callable[..., Any]], RunStatusSensorDefinition]:
    """Run `fn(context: RunStatusSensorContext)` once for each run that reaches `run_status`."""

    def decorator(fn: Callable[..., Any]) -> RunStatusSensorDefinition:
        return RunStatusSensorDefinition(
            name or fn.__name__,
            run_status,
            fn,
            monitored_jobs=monitored_jobs,
            monitor_all_code_locations=monitor_all_code_locations,
            request_job=request_job,
            minimum_interval_seconds=minimum_interval_seconds,
            description=description or inspect.getdoc(fn),
            default_status=default_status,
        )

    return decorator


def run_failure_sensor(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Run `fn(context: RunFailureSensorContext)` once for each run that fails."""
    decorator = run_status_sensor(RunStatus.FAILURE, **options)
    return decorator(fn) if fn is not None else decorator

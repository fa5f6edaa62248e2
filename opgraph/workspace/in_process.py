"""A code location whose code is imported into this process.

The engine of the code server, and handy in tests. The webserver and the daemon never
use it directly: they talk to a code server (`opgraph.workspace.client`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import traceback
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opgraph.definitions_repo import Definitions
from opgraph.errors import CodePointerError, DefinitionError, RunConfigError
from opgraph.op_selection import OpSelectionError
from opgraph.plan import ExecutionPlan
from opgraph.run_config import validate_run_config
from opgraph.schedules import (
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    TickResult,
)
from opgraph.snapshots import job_snapshot, schedule_snapshot, sensor_snapshot
from opgraph.user_code import (
    Location,
    code_version,
    find_definitions,
    is_user_file,
    location_for,
    remember,
)
from opgraph.workspace.base import (
    CodeLocation,
    CodeLocationError,
    DefinitionNotFound,
    ErrorInfo,
    JobSnapshot,
    LocationState,
    LocationStatus,
    PartitionRunSnapshot,
    RunRequestSnapshot,
    ScheduleSnapshot,
    SensorSnapshot,
    TickEvaluation,
)


@dataclass(frozen=True)
class LoadedCode:
    location: Location  # its own module table: active while its code runs
    definitions: Definitions
    attribute: str | None  # the module attribute holding the Definitions, if any


@dataclass(frozen=True)
class _Loaded:
    """One load of the code: swapped whole on reload, so readers never see half of one."""

    status: LocationStatus
    code: LoadedCode | None = None
    jobs: tuple[JobSnapshot, ...] = ()
    schedules: tuple[ScheduleSnapshot, ...] = ()
    sensors: tuple[SensorSnapshot, ...] = ()


class InProcessCodeLocation(CodeLocation):
    """`origin`: {"python_file": path} or {"python_module": name}, plus optional
    "working_directory" and "attribute" (the name of the module's Definitions).
    With `load=False` it stays LOADING until `reload()` (the code server answers meanwhile).

    Each load imports the code into a fresh `opgraph.user_code.Location` (a module table of
    its own), and every call into user code activates it: several of these in one process
    (the in-process workspace) never share a module, even when their files share names."""

    def __init__(self, name: str, origin: Mapping[str, Any], load: bool = True):
        super().__init__(name)
        self.origin = {key: value for key, value in origin.items() if value is not None}
        if not (self.origin.get("python_file") or self.origin.get("python_module")):
            raise CodeLocationError(
                f"location {name!r}: expected python_file or python_module, given {self.origin}"
            )
        self._lock = threading.Lock()
        self._loaded = _Loaded(
            LocationStatus(name, LocationState.LOADING, origin=self.origin, updated_at=time.time())
        )
        if load:
            self.reload()

    # -- loading ------------------------------------------------------------------------------
    def reload(self) -> LocationStatus:
        with self._lock:
            self._loaded = self._load()
            return self._loaded.status

    def _load(self) -> _Loaded:
        try:
            # The same table load_job uses in this process for this origin and version: a
            # run executed here and this location's evaluations share one activation.
            location = location_for(self.origin)
            module = location.module
            assert module is not None
            with location.active():  # snapshots call user code (config classes, defaults)
                definitions, attribute = find_definitions(module, self.origin.get("attribute"))
                jobs = tuple(job_snapshot(job) for job in definitions.jobs)
                schedules = tuple(schedule_snapshot(s) for s in definitions.schedules)
                sensors = tuple(sensor_snapshot(s) for s in definitions.sensors)
        except Exception as exc:  # broken user code is a state of the location, not a crash
            cause = exc.__cause__ if isinstance(exc, CodePointerError) else None
            error = error_info(cause or exc)  # the user's own error, with its file and line
            return _Loaded(self._status(LocationState.ERROR, error=error))
        remember(location, definitions.jobs)
        status = self._status(LocationState.LOADED, version=location.version)
        return _Loaded(
            status, LoadedCode(location, definitions, attribute), jobs, schedules, sensors
        )

    def _status(
        self, state: LocationState, version: str | None = None, error: ErrorInfo | None = None
    ) -> LocationStatus:
        if version is None and self.origin.get("python_file"):
            file = str(Path(self.origin["python_file"]).resolve())
            version = code_version([file])  # edits show even if broken
        return LocationStatus(self.name, state, version, error, dict(self.origin), time.time())

    def _active(self) -> Any:
        code = self._loaded.code
        assert code is not None
        return code.location.active()

    def _definitions(self) -> Definitions:
        loaded = self._loaded
        if loaded.code is None:
            error = loaded.status.error
            detail = error.describe() if error else loaded.status.state.value
            raise CodeLocationError(f"code location {self.name!r} did not load: {detail}")
        return loaded.code.definitions

    # -- what it holds ------------------------------------------------------------------------
    def status(self) -> LocationStatus:
        return self._loaded.status

    def jobs(self) -> list[JobSnapshot]:
        self._definitions()  # raises for a location that did not load
        return list(self._loaded.jobs)

    def schedules(self) -> list[ScheduleSnapshot]:
        self._definitions()
        return list(self._loaded.schedules)

    def sensors(self) -> list[SensorSnapshot]:
        self._definitions()
        return list(self._loaded.sensors)

    def asset_nodes(self) -> list[dict[str, Any]]:
        from opgraph.assets.snapshot import asset_node_snapshots

        definitions = self._definitions()
        with self._active():
            return asset_node_snapshots(definitions)

    def _job(self, job_name: str) -> Any:
        definitions = self._definitions()
        try:
            return definitions.get_job_def(job_name)
        except DefinitionError:
            raise DefinitionNotFound(
                f"location {self.name!r} has no job {job_name!r}; "
                f"it has {sorted(job.name for job in definitions.jobs)}"
            ) from None

    def validate_run_config(
        self,
        job_name: str,
        run_config: Mapping[str, Any] | None,
        op_selection: list[str] | None = None,
    ) -> list[str]:
        job = self._job(job_name)
        try:
            with self._active():  # Config classes are user code
                if op_selection:
                    job = job.get_subset(op_selection)
                ExecutionPlan.build(job, validate_run_config(job, run_config))
        except RunConfigError as exc:
            return list(exc.errors)
        except OpSelectionError as exc:
            return [f"op_selection: {problem}" for problem in exc.problems]
        return []

    def execution_plan(self, job_name: str, run_config: Mapping[str, Any] | None) -> dict[str, Any]:
        job = self._job(job_name)
        with self._active():
            return ExecutionPlan.build(job, validate_run_config(job, run_config)).to_snapshot()

    def code_pointer(self, job_name: str) -> dict[str, Any]:
        self._job(job_name)
        code = self._loaded.code
        assert code is not None
        pointer: dict[str, Any] = {
            key: self.origin[key]
            for key in ("python_file", "python_module", "working_directory")
            if key in self.origin
        }
        if code.attribute:
            pointer["attribute"] = code.attribute
        return pointer

    def partition_runs(
        self, job_name: str, partition_keys: Sequence[str]
    ) -> list[PartitionRunSnapshot]:
        from opgraph.partitions.runs import partition_run

        job = self._job(job_name)
        runs: list[PartitionRunSnapshot] = []
        with self._active():  # a PartitionedConfig's functions are user code
            for key in partition_keys:
                try:
                    run_config, tags = partition_run(job, key, validate=False)
                except Exception as exc:  # user code: reported with where it failed
                    info = error_info(exc)
                    raise CodeLocationError(
                        f"job {job_name!r} partition {key!r}: {info.describe()}"
                    ) from exc
                runs.append(_partition_run(key, run_config, tags))
        return runs

    # -- schedules and sensors ----------------------------------------------------------------
    def evaluate_schedule(self, name: str, scheduled_time: float) -> TickEvaluation:
        definitions = self._definitions()
        try:
            schedule = definitions.get_schedule_def(name)
        except DefinitionError:
            raise DefinitionNotFound(
                self._missing("schedule", name, definitions.schedules)
            ) from None
        try:
            timezone = zoneinfo.ZoneInfo(schedule.execution_timezone or "UTC")
            when = dt.datetime.fromtimestamp(scheduled_time, timezone)
            with self._active():
                result = schedule.evaluate_tick(ScheduleEvaluationContext(when))
            return _tick(result)
        except Exception as exc:  # user code raised: the tick records the error
            return TickEvaluation(error=error_info(exc))

    def evaluate_sensor(
        self, name: str, cursor: str | None = None, last_run_key: str | None = None
    ) -> TickEvaluation:
        definitions = self._definitions()
        try:
            sensor = definitions.get_sensor_def(name)
        except DefinitionError:
            raise DefinitionNotFound(self._missing("sensor", name, definitions.sensors)) from None
        try:
            from opgraph.assets.sensors import sensor_instance

            # An asset sensor reads the catalog: the instance of this process's home.
            instance = sensor_instance(sensor)
            context = SensorEvaluationContext(
                cursor=cursor, last_run_key=last_run_key, instance=instance
            )
            with self._active():
                result = sensor.evaluate_tick(context)
            return _tick(result)
        except Exception as exc:
            return TickEvaluation(error=error_info(exc), cursor=cursor)

    def _missing(self, kind: str, name: str, definitions: list[Any]) -> str:
        names = sorted(d.name for d in definitions)
        return f"location {self.name!r} has no {kind} {name!r}; it has {names or 'none'}"


def _run_request(request: RunRequest, index: int) -> RunRequestSnapshot:
    try:  # the daemon stores these: they must be JSON as they are, not approximated
        run_config = json.loads(json.dumps(dict(request.run_config)))
        tags = {str(k): str(v) for k, v in dict(request.tags).items()}
    except (TypeError, ValueError) as exc:
        raise CodeLocationError(f"run request {index}: run_config is not JSON: {exc}") from exc
    return RunRequestSnapshot(request.run_key, run_config, tags, request.job_name)


def _partition_run(key: str, run_config: Any, tags: Mapping[str, str]) -> PartitionRunSnapshot:
    try:  # the daemon stores these: JSON as they are
        config = json.loads(json.dumps(dict(run_config)))
    except (TypeError, ValueError) as exc:
        raise CodeLocationError(
            f"partition {key!r}: the partitioned config's run config is not JSON: {exc}"
        ) from exc
    return PartitionRunSnapshot(key, config, {str(k): str(v) for k, v in tags.items()})


def _tick(result: TickResult) -> TickEvaluation:
    from opgraph.partitions.runs import dynamic_partitions_request_snapshots

    return TickEvaluation(
        run_requests=tuple(_run_request(r, i) for i, r in enumerate(result.run_requests)),
        skip_message=result.skip_message,
        cursor=result.cursor,
        dynamic_partitions_requests=dynamic_partitions_request_snapshots(
            result.dynamic_partitions_requests
        ),
    )


def error_info(exc: BaseException) -> ErrorInfo:
    """The error with its traceback, and the user file and line it points at."""
    file: str | None = None
    line: int | None = None
    if isinstance(exc, SyntaxError) and exc.filename:
        file, line = exc.filename, exc.lineno
    else:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if is_user_file(frame.filename):
                file, line = frame.filename, frame.lineno
                break
    return ErrorInfo(
        message=f"{type(exc).__name__}: {exc}",
        traceback=_user_traceback(exc),
        file=str(Path(file).resolve()) if file else None,
        line=line,
        error_class=type(exc).__name__,
    )


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the first user frame on: our loader's frames are noise there."""
    summary = traceback.TracebackException.from_exception(exc)
    frames = list(summary.stack)
    first = next((i for i, frame in enumerate(frames) if is_user_file(frame.filename)), 0)
    summary.stack = traceback.StackSummary.from_list(frames[first:])
    return "".join(summary.format())

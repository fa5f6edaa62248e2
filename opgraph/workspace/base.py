"""What the webserver and the daemon know about user code, without importing it.

Everything here is a frozen dataclass that travels as JSON (`to_json()` / `from_json()`):
the code server builds them from the loaded `Definitions`, the client side reads them
back. `CodeLocation` is the one seam: in this process (tests, the code server itself),
or over HTTP to a code server (the webserver and the daemon).
"""

from __future__ import annotations

import dataclasses
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self, Union, get_args, get_origin, get_type_hints

from opgraph.errors import OpgraphError

if TYPE_CHECKING:
    from opgraph.workspace.reload_requests import ReloadRequests


# -- errors ----------------------------------------------------------------------------------
class CodeLocationError(OpgraphError):
    """A code location cannot answer: its code failed to load, or it raised."""


class CodeLocationUnreachable(CodeLocationError):
    """The code server of a location does not answer (down, starting, or timed out)."""


class DefinitionNotFound(CodeLocationError):
    """No job, schedule, sensor or location by that name."""


# -- JSON records ----------------------------------------------------------------------------
class JsonRecord:
    """Mixin for frozen dataclasses: JSON-able dicts out, typed records back in.

    `from_json` ignores keys it does not know, so a newer code server can talk to an older
    webserver; nested records, tuples of records and enums are rebuilt from the type hints.
    """

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        hints = get_type_hints(cls)
        kwargs = {
            f.name: _from_json(hints[f.name], data[f.name])
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.name in data
        }
        return cls(**kwargs)


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    return value


def _from_json(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):  # `X | None`: the one non-None member
        [member] = [arg for arg in get_args(hint) if arg is not type(None)]
        return _from_json(member, value)
    if isinstance(hint, type) and issubclass(hint, JsonRecord):
        return hint.from_json(value)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint(value)
    if origin is tuple:
        return tuple(_from_json(get_args(hint)[0], item) for item in value)
    if origin is dict:
        return {key: _from_json(get_args(hint)[1], item) for key, item in value.items()}
    return value


# -- snapshots of definitions ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class UpstreamOutput(JsonRecord):
    handle: str  # dotted path of the op through nested graphs, e.g. "etl.extract"
    output: str


@dataclasses.dataclass(frozen=True)
class InputSnapshot(JsonRecord):
    # "output" (one upstream output), "mapped" (one item of a dynamic output), "collected"
    # (all items of one), "fan_in" (a list of outputs), "none" (run config or default)
    kind: str
    upstream: tuple[UpstreamOutput, ...] = ()
    description: str | None = None
    dagster_type: str | None = None
    has_default: bool = False
    is_nothing: bool = False  # ordering only: no value flows


@dataclasses.dataclass(frozen=True)
class OutputSnapshot(JsonRecord):
    name: str
    is_required: bool = True
    is_dynamic: bool = False
    io_manager_key: str = "io_manager"
    description: str | None = None
    dagster_type: str | None = None


@dataclasses.dataclass(frozen=True)
class OpSnapshot(JsonRecord):
    handle: str
    op_name: str
    description: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    inputs: dict[str, InputSnapshot] = dataclasses.field(default_factory=dict)
    outputs: tuple[OutputSnapshot, ...] = ()
    config_schema: dict[str, Any] = dataclasses.field(default_factory=dict)  # {} = no config
    retry_policy: dict[str, Any] | None = None  # {max_retries, delay, backoff, jitter}
    required_resource_keys: tuple[str, ...] = ()
    mapped_over: UpstreamOutput | None = None  # the dynamic output this op fans out over


@dataclasses.dataclass(frozen=True)
class JobSnapshot(JsonRecord):
    name: str
    description: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    ops: tuple[OpSnapshot, ...] = ()
    run_config_schema: dict[str, Any] = dataclasses.field(default_factory=dict)
    default_run_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_config_scaffold: str = ""  # YAML the launchpad starts from
    resource_keys: tuple[str, ...] = ()
    executor: str = ""
    # The job's partitions (opgraph.partitions.snapshot; None: not partitioned), and whether
    # a partition's run config comes from its code (a PartitionedConfig).
    partitions: dict[str, Any] | None = None
    has_partitioned_config: bool = False
    snapshot_id: str = ""  # hash of everything above: equal ids, equal jobs

    def op(self, handle: str) -> OpSnapshot:
        for op in self.ops:
            if op.handle == handle:
                return op
        raise DefinitionNotFound(f"job {self.name!r} has no op {handle!r}")


@dataclasses.dataclass(frozen=True)
class ScheduleSnapshot(JsonRecord):
    name: str
    job_name: str
    cron_schedule: str
    execution_timezone: str | None = None
    default_status: str = "STOPPED"  # RUNNING | STOPPED
    description: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SensorSnapshot(JsonRecord):
    name: str
    job_name: str
    minimum_interval_seconds: int = 30
    default_status: str = "STOPPED"  # RUNNING | STOPPED
    description: str | None = None
    # A run status sensor (opgraph.run_status_sensors): the daemon evaluates it once per
    # run that reaches this status, in these jobs (none: every job of its location).
    run_status: str | None = None
    monitored_jobs: list[str] = dataclasses.field(default_factory=list)
    monitor_all_code_locations: bool = False


# -- location state and tick results ---------------------------------------------------------
class LocationState(StrEnum):
    LOADING = "LOADING"
    LOADED = "LOADED"
    ERROR = "ERROR"


@dataclasses.dataclass(frozen=True)
class ErrorInfo(JsonRecord):
    """An error in user code: for a location that failed to load, where (file, line)."""

    message: str
    traceback: str = ""
    file: str | None = None
    line: int | None = None
    error_class: str | None = None

    def describe(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else ""
        return f"{where}{self.message}"


@dataclasses.dataclass(frozen=True)
class LocationStatus(JsonRecord):
    name: str
    state: LocationState
    version: str | None = None  # hash of the code; changes when the code does
    error: ErrorInfo | None = None
    # where the code comes from, as in workspace.yaml: {"python_file": ...,
    # "working_directory": ...} | {"python_module": ...} | {"server": "host:port"}
    origin: dict[str, Any] = dataclasses.field(default_factory=dict)
    updated_at: float = 0.0


@dataclasses.dataclass(frozen=True)
class RunRequestSnapshot(JsonRecord):
    run_key: str | None = None
    run_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    job_name: str | None = None  # None: the schedule's or sensor's own job


@dataclasses.dataclass(frozen=True)
class PartitionRunSnapshot(JsonRecord):
    """The run config and tags of a job's run for one partition (its PartitionedConfig)."""

    partition_key: str
    run_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class DynamicPartitionsRequestSnapshot(JsonRecord):
    """A sensor's Add/DeleteDynamicPartitionsRequest: `action` is "add" or "delete"."""

    action: str
    partitions_def_name: str
    partition_keys: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class TickEvaluation(JsonRecord):
    """What one schedule or sensor tick asked for; `error` when the user function raised."""

    run_requests: tuple[RunRequestSnapshot, ...] = ()
    skip_message: str | None = None
    cursor: str | None = None
    error: ErrorInfo | None = None
    # Applied by the daemon before the run requests (which may name the new keys).
    dynamic_partitions_requests: tuple[DynamicPartitionsRequestSnapshot, ...] = ()


# -- the seam --------------------------------------------------------------------------------
class CodeLocation(ABC):
    """One location's definitions, as the webserver and daemon see them.

    Methods that need loaded code raise `CodeLocationError` while the location is
    LOADING or ERROR (`status()` says which and why), `DefinitionNotFound` for unknown
    names, and `RunConfigError` from `execution_plan` for a run config that does not fit.
    """

    def __init__(self, name: str):
        self.name = name

    @abstractmethod
    def status(self) -> LocationStatus: ...

    @property
    def version(self) -> str | None:
        return self.status().version

    @abstractmethod
    def jobs(self) -> list[JobSnapshot]: ...

    def job(self, name: str) -> JobSnapshot:
        for job in self.jobs():
            if job.name == name:
                return job
        raise DefinitionNotFound(
            f"location {self.name!r} has no job {name!r}; it has {sorted(self.job_names())}"
        )

    def asset_nodes(self) -> list[dict[str, Any]]:
        """The location's assets as JSON nodes (opgraph.assets.snapshot); none by default."""
        return []

    def job_names(self) -> list[str]:
        return [job.name for job in self.jobs()]

    @abstractmethod
    def schedules(self) -> list[ScheduleSnapshot]: ...

    @abstractmethod
    def sensors(self) -> list[SensorSnapshot]: ...

    @abstractmethod
    def validate_run_config(
        self,
        job_name: str,
        run_config: Mapping[str, Any] | None,
        op_selection: list[str] | None = None,
    ) -> list[str]:
        """Every problem with `run_config` for the job (cut down to `op_selection`, whose
        own problems are under the path `op_selection`), by path; [] when it fits."""

    @abstractmethod
    def execution_plan(self, job_name: str, run_config: Mapping[str, Any] | None) -> dict[str, Any]:
        """The op graph as the run would execute it (see `ExecutionPlan.to_snapshot`)."""

    @abstractmethod
    def evaluate_schedule(self, name: str, scheduled_time: float) -> TickEvaluation: ...

    @abstractmethod
    def evaluate_sensor(
        self, name: str, cursor: str | None = None, last_run_key: str | None = None
    ) -> TickEvaluation: ...

    @abstractmethod
    def code_pointer(self, job_name: str) -> dict[str, Any]:
        """What a run records, for `opgraph.code_pointer.load_job(pointer, job_name)`."""

    def partition_runs(
        self, job_name: str, partition_keys: Sequence[str]
    ) -> list[PartitionRunSnapshot]:
        """Each partition's run config and tags, in the given order (the job's partitioned
        config runs in user code; the keys were checked by the caller)."""
        raise CodeLocationError(
            f"location {self.name!r} cannot compute partition run config"
        )  # pragma: no cover - every location implements it

    @abstractmethod
    def reload(self) -> LocationStatus:
        """Load the code again; new runs use the new code, runs in flight keep theirs."""

    def follow_reload(self) -> None:
        """Another process reloaded this location: catch up (reload, or drop caches)."""
        self.reload()

    def close(self) -> None:  # noqa: B027 - most locations hold nothing to release
        """Release what the location holds (e.g. stop its code server)."""


# -- the workspace ---------------------------------------------------------------------------
class Workspace:
    """The code locations of `workspace.yaml`, by name, in file order.

    With `reload_requests` (see reload_requests.py), a reload here is announced to every
    other process holding this workspace, and `follow_reload_requests()` catches up with
    theirs."""

    def __init__(
        self,
        locations: Iterable[CodeLocation],
        source: str | None = None,
        reload_requests: ReloadRequests | None = None,
    ):
        self._locations = {location.name: location for location in locations}
        self.source = source  # the workspace.yaml it came from, for messages
        self._on_close: list[Callable[[], object]] = []
        self.reload_requests = reload_requests
        # The code just loaded is newer than any request made before.
        self._seen_requests = {
            name: reload_requests.latest(name) if reload_requests else None
            for name in self._locations
        }

    def locations(self) -> list[CodeLocation]:
        return list(self._locations.values())

    def location_names(self) -> list[str]:
        return list(self._locations)

    def get(self, name: str) -> CodeLocation:
        location = self._locations.get(name)
        if location is None:
            raise DefinitionNotFound(
                f"no code location named {name!r}; the workspace has "
                f"{self.location_names() or 'none'}"
                + (f" (from {self.source})" if self.source else "")
            )
        return location

    def reload(self, name: str) -> LocationStatus:
        """Reload one location here, and ask the other processes to follow."""
        status = self.get(name).reload()
        if self.reload_requests is not None:
            self._seen_requests[name] = self.reload_requests.request(name)
        return status

    def reload_all(self) -> list[LocationStatus]:
        return [self.reload(name) for name in self.location_names()]

    def follow_reload_requests(self) -> list[str]:
        """Reload the locations another process asked to reload; returns their names."""
        if self.reload_requests is None:
            return []
        followed = []
        for name, location in self._locations.items():
            token = self.reload_requests.latest(name)
            if token is not None and token != self._seen_requests.get(name):
                self._seen_requests[name] = token
                location.follow_reload()
                followed.append(name)
        return followed

    def statuses(self) -> list[LocationStatus]:
        return [location.status() for location in self.locations()]

    def find_job(self, job_name: str, location_name: str | None = None) -> CodeLocation:
        """The location defining `job_name` (one must be named if several define it)."""
        if location_name is not None:
            location = self.get(location_name)
            location.job(job_name)  # raises DefinitionNotFound
            return location
        found = [
            loc
            for loc in self.locations()
            if loc.status().state is LocationState.LOADED and job_name in loc.job_names()
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            raise DefinitionNotFound(f"no loaded code location has a job named {job_name!r}")
        raise DefinitionNotFound(
            f"job {job_name!r} is in several locations ({[loc.name for loc in found]}); "
            "name the location"
        )

    def on_close(self, callback: Callable[[], object]) -> None:
        """Run `callback` first on close (e.g. stop the supervisor, so nothing restarts)."""
        self._on_close.append(callback)

    def close(self) -> None:
        for callback in self._on_close:
            callback()
        self._on_close.clear()
        for location in self.locations():
            location.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Plain records exchanged with the storage layer.

The storage layer knows nothing of ops or jobs: it stores runs, events, ticks and
heartbeats as data. Timestamps are float seconds since the epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class RunStatus(str, Enum):
    NOT_STARTED = "NOT_STARTED"
    QUEUED = "QUEUED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"


FINISHED_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED})
LIVE_STATUSES = frozenset(
    {
        RunStatus.NOT_STARTED,
        RunStatus.QUEUED,
        RunStatus.STARTING,
        RunStatus.STARTED,
        RunStatus.CANCELING,
    }
)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job_name: str
    status: RunStatus = RunStatus.NOT_STARTED
    run_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    root_run_id: str | None = None
    # Where the run worker loads the job from, e.g.
    # {"python_file": "/abs/jobs.py", "attribute": "my_job", "working_directory": "/abs"}
    code_pointer: dict[str, Any] | None = None
    location_name: str | None = None
    code_version: str | None = None
    run_key: str | None = None  # unique when set: schedule/sensor dedupe
    snapshot_id: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    updated_at: float = 0.0
    worker_heartbeat_at: float | None = None


@dataclass(frozen=True)
class EventRecord:
    run_id: str
    event_type: str  # e.g. "RUN_START", "STEP_SUCCESS" (see opgraph.events.EventType)
    timestamp: float
    step_key: str | None = None
    attempt: int | None = None
    level: str = "INFO"
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    storage_id: int | None = None  # assigned by storage; strictly increasing, usable as cursor


@dataclass(frozen=True)
class RunEventOutcome:
    """What `append_run_event` did.

    `moved`: the run was in an allowed status and the event is stored (and the status
    moved, when a new one was given). Otherwise the event is not stored and, if the run
    exists, the refusal event is stored in its place. `status`: the run's status after the
    call (None: there is no such run, and nothing was stored). `storage_id`: the id of the
    event stored (the lifecycle event or the refusal), None if nothing was."""

    moved: bool
    status: RunStatus | None
    storage_id: int | None


@dataclass(frozen=True)
class RunsFilter:
    run_ids: list[str] | None = None
    job_name: str | None = None
    statuses: list[RunStatus] | None = None
    tags: dict[str, str] | None = None
    created_before: float | None = None
    created_after: float | None = None


@dataclass(frozen=True)
class DaemonHeartbeat:
    daemon_type: str
    daemon_id: str
    timestamp: float
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DaemonLease:
    """Who is the active daemon: `holder` until `expires_at` (it renews well before)."""

    name: str
    holder: str  # the daemon's id
    host: str
    pid: int
    acquired_at: float
    renewed_at: float
    expires_at: float
    generation: int  # grows by one whenever another daemon takes the lease


class InstigatorType(str, Enum):
    SCHEDULE = "SCHEDULE"
    SENSOR = "SENSOR"


class InstigatorStatus(str, Enum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class InstigatorState:
    name: str  # "<location>:<schedule or sensor name>"
    instigator_type: InstigatorType
    status: InstigatorStatus
    data: dict[str, Any] = field(default_factory=dict)  # cursor, start time, ...
    updated_at: float = 0.0


class TickStatus(str, Enum):
    STARTED = "STARTED"
    SKIPPED = "SKIPPED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


@dataclass(frozen=True)
class TickRecord:
    instigator_name: str
    tick_key: str  # unique: e.g. "<schedule>@<scheduled iso time>"
    status: TickStatus
    timestamp: float
    run_ids: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    error: str | None = None
    cursor: str | None = None
    tick_id: int | None = None


class StepAttemptStatus(str, Enum):
    QUEUED = "QUEUED"  # published to the broker, not yet claimed by a worker
    RUNNING = "RUNNING"  # claimed by one worker (hostname, pid)
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    LOST = "LOST"  # the worker stopped heartbeating, or no worker ever took it
    CANCELED = "CANCELED"


FINISHED_ATTEMPT_STATUSES = frozenset(
    {
        StepAttemptStatus.SUCCESS,
        StepAttemptStatus.FAILURE,
        StepAttemptStatus.LOST,
        StepAttemptStatus.CANCELED,
    }
)


@dataclass(frozen=True)
class StepAttempt:
    """One try of one step on the Celery fleet; `attempt_id` is the Celery task id."""

    attempt_id: str
    run_id: str
    step_key: str
    attempt_number: int
    status: StepAttemptStatus = StepAttemptStatus.QUEUED
    queue: str | None = None
    priority: int = 0
    hostname: str | None = None
    pid: int | None = None
    queued_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    reason: str | None = None  # why it failed, was lost or canceled

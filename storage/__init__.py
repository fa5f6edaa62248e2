"""opgraph storage: runs, the event log, schedules and ticks, daemon heartbeats, key-values,
snapshots, step attempts and op outputs, in SQLite (default) or PostgreSQL, behind the
`Storage` interface.

    from opgraph_storage import create_storage
    storage = create_storage("postgresql://user@host/db")  # or a file path for SQLite
"""

from __future__ import annotations

from opgraph_storage.base import (
    DaemonStorage,
    DuplicateRunKey,
    DuplicateTickKey,
    EventLogStorage,
    KeyValueStorage,
    LifecycleEventError,
    OutputStorage,
    RunAlreadyExists,
    RunQueueStorage,
    RunStorage,
    ScheduleStorage,
    SchemaOutOfDate,
    SnapshotStorage,
    StepAttemptStorage,
    Storage,
    StorageError,
    StorageUnreachable,
)
from opgraph_storage.records import (
    FINISHED_ATTEMPT_STATUSES,
    FINISHED_STATUSES,
    LIVE_STATUSES,
    DaemonHeartbeat,
    DaemonLease,
    EventRecord,
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    RunEventOutcome,
    RunRecord,
    RunsFilter,
    RunStatus,
    StepAttempt,
    StepAttemptStatus,
    TickRecord,
    TickStatus,
)
from opgraph_storage.urls import normalize_url

# SQLAlchemy and Alembic are imported on first use: `import storage` stays cheap for
# code that only needs the records and the interface.


def create_storage(url: str) -> Storage:
    """The storage at `url` (a file path, sqlite:///..., or postgresql://...).

    An empty database gets the schema; one at an older schema raises SchemaOutOfDate;
    an unreachable one raises StorageUnreachable."""
    from opgraph_storage.sql import SqlStorage

    return SqlStorage(url)


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the newest schema (`opgraph instance migrate`)."""
    from opgraph_storage.migration import migrate as upgrade_to_head

    upgrade_to_head(url)


__all__ = [
    "FINISHED_ATTEMPT_STATUSES",
    "FINISHED_STATUSES",
    "LIVE_STATUSES",
    "DaemonHeartbeat",
    "DaemonLease",
    "DaemonStorage",
    "DuplicateRunKey",
    "DuplicateTickKey",
    "EventLogStorage",
    "EventRecord",
    "InstigatorState",
    "InstigatorStatus",
    "InstigatorType",
    "KeyValueStorage",
    "LifecycleEventError",
    "OutputStorage",
    "RunAlreadyExists",
    "RunEventOutcome",
    "RunQueueStorage",
    "RunRecord",
    "RunStatus",
    "RunStorage",
    "RunsFilter",
    "ScheduleStorage",
    "SchemaOutOfDate",
    "SnapshotStorage",
    "StepAttempt",
    "StepAttemptStatus",
    "StepAttemptStorage",
    "Storage",
    "StorageError",
    "StorageUnreachable",
    "TickRecord",
    "TickStatus",
    "create_storage",
    "migrate",
    "normalize_url",
]

"""The storage seam: one small interface per concept, one SQL implementation (sql.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from opgraph_storage.assets_base import AssetCatalogStorage
from opgraph_storage.automation_base import AutomationStorage
from opgraph_storage.partitions_base import PartitionStorage

if TYPE_CHECKING:
    from opgraph_storage.sessions import HeldSession

from opgraph_storage.records import (
    DaemonHeartbeat,
    DaemonLease,
    EventRecord,
    InstigatorState,
    RunEventOutcome,
    RunRecord,
    RunsFilter,
    RunStatus,
    StepAttempt,
    StepAttemptStatus,
    TickRecord,
)


class StorageError(Exception):
    """Root of storage errors; messages say what to do about them."""


class RunAlreadyExists(StorageError):
    pass


class DuplicateRunKey(StorageError):
    pass


class DuplicateTickKey(StorageError):
    pass


class SchemaOutOfDate(StorageError):
    pass


class StorageUnreachable(StorageError):
    pass


class LifecycleEventError(StorageError):
    """A run lifecycle event (RUN_*) was given to `store_events`: only `append_run_event`
    stores those, so that the run's status and its event log always agree."""


class RunStorage(ABC):
    @abstractmethod
    def add_run(self, run: RunRecord) -> RunRecord:
        """Insert a run and its tags; raises RunAlreadyExists / DuplicateRunKey."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None: ...

    def get_run_status(self, run_id: str) -> RunStatus | None:
        """Only the run's status (None: no such run): what a run worker's cancel checks
        read, several times a run."""
        run = self.get_run(run_id)
        return None if run is None else run.status

    @abstractmethod
    def get_runs(
        self,
        filters: RunsFilter | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Newest first; `cursor` is a run id: return the runs created before it."""

    @abstractmethod
    def get_runs_count(self, filters: RunsFilter | None = None) -> int: ...

    @abstractmethod
    def add_run_tags(self, run_id: str, tags: dict[str, str]) -> None: ...

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Delete the run, its tags and its events."""

    @abstractmethod
    def record_run_worker_heartbeat(self, run_id: str, timestamp: float) -> None: ...


class EventLogStorage(ABC):
    @abstractmethod
    def store_events(self, events: Sequence[EventRecord]) -> list[int]:
        """Append events in one transaction and return their storage ids.

        Never run lifecycle events (types starting with RUN_): those move the run's
        status, and only `append_run_event` stores them. LifecycleEventError if any is
        given (nothing of the batch is stored)."""

    @abstractmethod
    def append_run_event(
        self,
        event: EventRecord,
        to_status: RunStatus | None,
        from_statuses: Iterable[RunStatus],
        refusal: Callable[[RunStatus], EventRecord | None],
    ) -> RunEventOutcome:
        """The one write that moves a run's status: in one transaction, if the run's
        status is in `from_statuses`, move it to `to_status` (None: leave it) and store
        `event`; otherwise store `refusal(current status)` instead of `event` (nothing if
        it returns None). A run that does not exist gets nothing. Storage knows no transition table: the caller
        passes the move."""

    @abstractmethod
    def get_events(
        self,
        run_id: str,
        after_id: int | None = None,
        limit: int | None = None,
        event_types: Sequence[str] | None = None,
        step_key: str | None = None,
    ) -> list[EventRecord]:
        """Events of a run in storage-id order, strictly after `after_id`."""

    @abstractmethod
    def last_event_id(self, run_id: str) -> int | None:
        """The storage id of the run's latest event (None if it has none): a cursor to
        follow the run from now on."""

    @abstractmethod
    def wait_for_events(
        self,
        run_id: str,
        after_id: int | None,
        timeout: float,
        event_types: Sequence[str] | None = None,
    ) -> list[EventRecord]:
        """Block up to `timeout` seconds until the run has events after `after_id` (only
        those of `event_types`, when given).

        PostgreSQL: LISTEN/NOTIFY; SQLite: polling."""


class KeyValueStorage(ABC):
    @abstractmethod
    def kv_set(self, key: str, value: str) -> None: ...

    @abstractmethod
    def kv_get(self, key: str) -> str | None: ...


class DaemonStorage(ABC):
    @abstractmethod
    def add_daemon_heartbeat(self, heartbeat: DaemonHeartbeat) -> None: ...

    @abstractmethod
    def get_daemon_heartbeats(self) -> dict[str, DaemonHeartbeat]: ...

    @abstractmethod
    def purge_daemon_heartbeats(self, before: float) -> int:
        """Delete heartbeats last written before `before`; returns how many."""

    def hold_session(self) -> HeldSession | None:
        """Open a session that lasts exactly as long as this process, as a sign of life
        (opgraph_storage.sessions); None where the storage has no such thing (SQLite)."""
        return None

    def open_sessions(self, tokens: Iterable[str]) -> set[str] | None:
        """Which of the `tokens` of held sessions are still open; None where the storage
        cannot tell, so the reader goes by heartbeat age alone."""
        return None

    @abstractmethod
    def acquire_lease(
        self, name: str, holder: str, host: str, pid: int, now: float, duration: float
    ) -> DaemonLease | None:
        """Take the lease (free or expired) or renew it (held by `holder`) until
        `now + duration`, atomically; None while another holder's lease runs."""

    @abstractmethod
    def release_lease(self, name: str, holder: str, now: float) -> None:
        """Let the lease expire now, if `holder` has it."""

    @abstractmethod
    def get_lease(self, name: str) -> DaemonLease | None: ...


class RunQueueStorage(ABC):
    """What the daemon's run queue, run retries and retention need beyond RunStorage."""

    @abstractmethod
    def claim_queued_runs(
        self,
        claimant: str,
        now: float,
        choose: Callable[[list[RunRecord], list[RunRecord]], list[str]],
        claim_ttl: float,
    ) -> list[RunRecord]:
        """`choose(queued, in_progress)` returns the ids to launch, in order; they are
        claimed in the same transaction. `queued`: QUEUED runs without a live claim, in
        creation order; `in_progress`: STARTING/STARTED/CANCELING runs and claimed QUEUED
        ones. Dequeuers take turns (PostgreSQL: advisory lock + FOR UPDATE SKIP LOCKED)."""

    @abstractmethod
    def release_run_claims(self, run_ids: Sequence[str]) -> None: ...

    @abstractmethod
    def wait_for_run_queue_change(self, timeout: float) -> bool:
        """Block up to `timeout` s until a run is queued or finishes (PostgreSQL: NOTIFY;
        SQLite: polling); True if something may have changed."""

    @abstractmethod
    def get_finished_runs(
        self, statuses: Iterable[RunStatus], ended_after: float, limit: int
    ) -> list[RunRecord]:
        """Runs in `statuses` that ended after `ended_after`, in the order they ended."""

    @abstractmethod
    def get_run_status_changes(
        self, event_types: Sequence[str], after_id: int, limit: int
    ) -> list[EventRecord]:
        """Events of these (RUN_*) types of every run, in storage-id order, strictly after
        `after_id` (run status sensors read runs reaching a status this way)."""

    @abstractmethod
    def newest_event_id(self) -> int:
        """The storage id of the newest event of any run (0 with none): a cursor to read
        changes from now on."""

    @abstractmethod
    def purge_runs(self, ended_before: float, limit: int = 1000) -> int:
        """Delete up to `limit` finished runs (with tags, events, attempts, outputs)
        that ended before `ended_before`; returns how many."""


class ScheduleStorage(ABC):
    @abstractmethod
    def upsert_instigator_state(self, state: InstigatorState) -> None: ...

    @abstractmethod
    def get_instigator_state(self, name: str) -> InstigatorState | None: ...

    @abstractmethod
    def get_instigator_states(self) -> list[InstigatorState]: ...

    @abstractmethod
    def create_tick(self, tick: TickRecord) -> TickRecord:
        """Insert a tick; raises DuplicateTickKey if its tick_key exists."""

    @abstractmethod
    def update_tick(self, tick: TickRecord) -> None: ...

    @abstractmethod
    def get_ticks(self, instigator_name: str, limit: int | None = None) -> list[TickRecord]: ...

    @abstractmethod
    def get_tick(self, tick_key: str) -> TickRecord | None: ...

    @abstractmethod
    def purge_ticks(self, before: float) -> int:
        """Delete ticks whose timestamp is before `before`; returns how many."""


class SnapshotStorage(ABC):
    @abstractmethod
    def add_snapshot(self, snapshot_id: str, body: dict[str, Any]) -> None: ...

    @abstractmethod
    def get_snapshot(self, snapshot_id: str) -> dict[str, Any] | None: ...


class StepAttemptStorage(ABC):
    """Step attempts of the Celery executor: the claim that makes a step run once."""

    @abstractmethod
    def add_step_attempts(self, attempts: Sequence[StepAttempt]) -> None:
        """Insert attempts (QUEUED) in one transaction, before their tasks are published."""

    @abstractmethod
    def claim_step_attempt(
        self,
        attempt_id: str,
        hostname: str,
        pid: int,
        now: float,
    ) -> bool:
        """QUEUED -> RUNNING (sets hostname, pid, started_at, heartbeat_at) in one
        compare-and-set; False if the attempt is missing or was already claimed/finished."""

    @abstractmethod
    def finish_step_attempt(
        self,
        attempt_id: str,
        status: StepAttemptStatus,
        now: float,
        reason: str | None = None,
        from_statuses: Iterable[StepAttemptStatus] = (
            StepAttemptStatus.QUEUED,
            StepAttemptStatus.RUNNING,
        ),
    ) -> bool:
        """Move a live attempt to a final status (sets ended_at, reason); CAS like above."""

    @abstractmethod
    def complete_step_attempt(
        self,
        attempt_id: str,
        status: StepAttemptStatus,
        now: float,
        events: Sequence[EventRecord],
        reason: str | None = None,
        outputs: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """RUNNING -> `status` and, only if that moved, store `events` (the step's outcome)
        and `outputs` (collected by `collect_outputs`) in the same transaction. False means
        the attempt had been given up (LOST, CANCELED) and nothing was stored: a step's
        STEP_SUCCESS is never stored twice. Like store_events, never RUN_* events
        (LifecycleEventError)."""

    @abstractmethod
    def heartbeat_step_attempts(self, attempt_ids: Sequence[str], now: float) -> None:
        """Set heartbeat_at of RUNNING attempts (one statement for all ids)."""

    @abstractmethod
    def get_step_attempts(
        self,
        run_id: str | None = None,
        statuses: Iterable[StepAttemptStatus] | None = None,
        attempt_ids: Sequence[str] | None = None,
    ) -> list[StepAttempt]:
        """Attempts matching every given filter, oldest first."""

    @abstractmethod
    def get_step_throughput(
        self, queues: Sequence[str], since: float, bucket_seconds: float, buckets: int
    ) -> dict[str, list[int]]:
        """Attempts that ended (in any final status) on each of `queues`, counted in
        `buckets` consecutive windows of `bucket_seconds` from `since` (each window holds
        its start, not its end): {queue: [count per window, oldest first]}, every queue
        given present. One statement, bounded by the attempts in the windows."""


class OutputStorage(ABC):
    """Op outputs kept in the database (the database IO manager, for fleets without a
    shared filesystem). Values are bytes the IO manager encodes."""

    @abstractmethod
    def put_output(
        self, run_id: str, step_key: str, output_name: str, mapping_key: str | None, value: bytes
    ) -> None:
        """Insert or replace one output value."""

    @abstractmethod
    def collect_outputs(self) -> AbstractContextManager[list[dict[str, Any]]]:
        """A block in which this thread's small put_output calls are collected (not
        written), for complete_step_attempt to store with the step's outcome."""

    @abstractmethod
    def get_output(
        self, run_id: str, step_key: str, output_name: str, mapping_key: str | None
    ) -> bytes | None: ...

    @abstractmethod
    def get_outputs(
        self, keys: Sequence[tuple[str, str, str, str | None]]
    ) -> dict[tuple[str, str, str, str | None], bytes]:
        """Many outputs in one go, keyed (run id, step key, output name, mapping key);
        keys without a stored value are left out."""


class Storage(
    AssetCatalogStorage,
    AutomationStorage,
    PartitionStorage,
    RunStorage,
    EventLogStorage,
    KeyValueStorage,
    DaemonStorage,
    ScheduleStorage,
    SnapshotStorage,
    StepAttemptStorage,
    OutputStorage,
    RunQueueStorage,
):
    """Everything the platform stores, behind one engine."""

    @abstractmethod
    def dispose(self) -> None:
        """Close pools; call in a forked child before using the storage there."""

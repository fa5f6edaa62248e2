"""The one Storage implementation: SQLAlchemy Core over SQLite or PostgreSQL.

The step tables' SQL (attempts and outputs of the Celery executor) is in opgraph_storage.steps.

Dialect differences stay in small hooks: how a batch of events is inserted (`_insert_*`),
how a one-statement write is wrapped (`_write_one`), how upserts are spelled (`_upsert`),
and how `wait_for_events` is woken (LISTEN/NOTIFY on PostgreSQL, polling on SQLite).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from opgraph_storage import daemon_sql, steps
from opgraph_storage.after_commit_notify import AfterCommitNotifier
from opgraph_storage.assets_sql import (
    PG_COMPLETE_ATTEMPT_WITH_ASSETS,
    AssetCatalogSql,
    has_asset_events,
    has_observations,
    index_asset_events,
)
from opgraph_storage.automation_sql import AutomationSql
from opgraph_storage.base import (
    DuplicateRunKey,
    DuplicateTickKey,
    LifecycleEventError,
    RunAlreadyExists,
    Storage,
    StorageError,
)
from opgraph_storage.daemon_notify import RUN_QUEUE_CHANNEL, RunQueueListener
from opgraph_storage.engine import connect_or_raise, dbapi_connect, make_engine, write_engine
from opgraph_storage.event_sql import (
    PG_COMPLETE_ATTEMPT,
    PG_MOVE_RUN,
    event_arrays,
    insert_events_postgres,
    insert_events_sqlite,
    landed_event_ids,
    output_arrays,
)
from opgraph_storage.migration import ensure_schema
from opgraph_storage.partitions_sql import PartitionSql, has_partitioned_materializations
from opgraph_storage.pg_notify import EventNotifyListener, NotifyUnavailable
from opgraph_storage.records import (
    FINISHED_STATUSES,
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
from opgraph_storage.rows import (
    dumps,
    enum_text,
    event_from_row,
    event_row,
    instigator_from_row,
    run_from_row,
    run_values,
    tick_from_row,
    tick_values,
)
from opgraph_storage.schema import (
    daemon_heartbeats,
    event_logs,
    instigators,
    kv,
    run_tags,
    runs,
    snapshots,
    step_attempts,
    step_outputs,
    ticks,
)
from opgraph_storage.sessions import HeldSession, open_tokens
from opgraph_storage.urls import normalize_url

_T = TypeVar("_T")
AttemptTest = Callable[[StepAttempt], bool]
log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.05
# Outputs up to this size travel with the step's completion (see collect_outputs).
COLLECTED_OUTPUT_MAX_BYTES = 64 * 1024

_NOTIFY_RUN_QUEUE = sa.text(f"SELECT pg_notify('{RUN_QUEUE_CHANNEL}', '')")
# A run moving to one of these is news for the daemon's run queue: something to launch,
# or a free slot (see opgraph_storage.daemon_notify).
_RUN_QUEUE_CHANGES = frozenset({RunStatus.QUEUED, *FINISHED_STATUSES})
# Lifecycle event types: only append_run_event stores them (see store_events).
_LIFECYCLE_PREFIX = "RUN_"

# Pools left behind by dispose() in a forked child: they hold the parent's connections,
# which the child must neither use nor close, so they are kept from garbage collection.
_FORK_ABANDONED_POOLS: list[Any] = []


class SqlStorage(AssetCatalogSql, AutomationSql, PartitionSql, Storage):
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self._engine = make_engine(self.url)
        self._postgres = self._engine.dialect.name == "postgresql"
        # Write transactions use a view of the same pool (see opgraph_storage.engine).
        self._transaction = write_engine(self._engine)
        self._pid = os.getpid()
        self._listener: EventNotifyListener | None = None
        self._listener_lock = threading.Lock()
        self._collecting = threading.local()  # see collect_outputs
        self._queue_listener: RunQueueListener | None = None
        self._queue_signature: tuple[Any, ...] | None = None
        self._after_commit = AfterCommitNotifier(lambda: dbapi_connect(self._engine))
        self._put_output = self._upsert_statement(step_outputs, steps.OUTPUT_KEY)
        try:
            ensure_schema(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (for diagnostics and tests; use the methods for data)."""
        return self._engine

    def __repr__(self) -> str:
        return f"SqlStorage({self._engine.url.render_as_string(hide_password=True)!r})"

    # -- connections ----------------------------------------------------------------------
    def _connect(self) -> Connection:
        """A connection for reads (and single-statement writes on PostgreSQL)."""
        self._after_fork()
        return connect_or_raise(self._engine)

    def _read(self, query: Callable[[Connection], _T]) -> _T:
        """Run a read, once more on a fresh connection if its connection was dropped under
        it (a database restart or failover): it wrote nothing, so trying again is safe.
        (A dropped pooled connection is replaced at checkout; this covers the instant
        between the checkout and the statement.)"""

        def run() -> _T:
            with self._connect() as conn:
                return query(conn)

        return _again_if_dropped(run, run)

    def _move_attempt(self, move: Callable[[], bool], attempt_id: str, landed: AttemptTest) -> bool:
        """A compare-and-set of one attempt whose connection may drop under it, perhaps
        after it committed: run it again, and if that finds the attempt moved, the
        attempt's row tells whether it was this write (`landed`)."""

        def after_drop() -> bool:
            if move():
                return True
            found = self.get_step_attempts(attempt_ids=[attempt_id])
            return bool(found) and landed(found[0])

        return _again_if_dropped(move, after_drop)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE)."""
        self._after_fork()
        with connect_or_raise(self._transaction) as conn, conn.begin():
            yield conn

    def _write_one(self) -> AbstractContextManager[Connection]:
        """For a single-statement write: autocommitted on PostgreSQL (one round trip); a
        write transaction on SQLite, so that it queues for the lock instead of failing."""
        return self._connect() if self._postgres else self._begin()

    def _after_fork(self) -> None:
        if os.getpid() != self._pid:
            self.dispose()

    def dispose(self) -> None:
        forked = os.getpid() != self._pid
        if forked:
            # The pooled connections belong to the parent: closing them here would end
            # the parent's PostgreSQL sessions or touch its SQLite locks.
            _FORK_ABANDONED_POOLS.append(self._engine.pool)
            self._engine.dispose(close=False)
        else:
            self._engine.dispose()
        self._after_commit.close()
        with self._listener_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close(forked=forked)
        queue_listener, self._queue_listener = self._queue_listener, None
        if queue_listener is not None:
            queue_listener.close(forked=forked)
        self._pid = os.getpid()

    # -- runs -----------------------------------------------------------------------------
    def add_run(self, run: RunRecord) -> RunRecord:
        now = time.time()
        record = replace(run, created_at=run.created_at or now, updated_at=now)
        try:
            with self._begin() as conn:
                conn.execute(runs.insert().values(run_values(record)))
                if record.tags:
                    conn.execute(
                        run_tags.insert(),
                        [{"run_id": run.run_id, "key": k, "value": v} for k, v in run.tags.items()],
                    )
        except sa.exc.IntegrityError as exc:
            raise self._duplicate_run_error(record) from exc
        return record

    def _duplicate_run_error(self, run: RunRecord) -> Exception:
        with self._connect() as conn:
            exists = conn.execute(sa.select(1).where(runs.c.run_id == run.run_id)).first()
            holder = conn.execute(
                sa.select(runs.c.run_id).where(runs.c.run_key == run.run_key)
            ).scalar()
        if exists or run.run_key is None:
            return RunAlreadyExists(f"a run with id {run.run_id!r} already exists")
        return DuplicateRunKey(
            f"run key {run.run_key!r} is already used by run {holder!r}; "
            f"run {run.run_id!r} was not created"
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        found = self.get_runs(RunsFilter(run_ids=[run_id]), limit=1)
        return found[0] if found else None

    def get_run_status(self, run_id: str) -> RunStatus | None:
        query = sa.select(runs.c.status).where(runs.c.run_id == run_id)
        status = self._read(lambda conn: conn.execute(query).scalar())
        return None if status is None else RunStatus(status)

    def get_runs(
        self,
        filters: RunsFilter | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        # Each run's tags come in the same statement, as a JSON list of [key, value] pairs:
        # one round trip per page instead of two (the webserver's run list).
        query = (
            sa.select(runs, _tag_pairs(self._postgres))
            .where(*_run_conditions(filters))
            .order_by(runs.c.id.desc())
        )
        if cursor is not None:
            cursor_id = sa.select(runs.c.id).where(runs.c.run_id == cursor).scalar_subquery()
            query = query.where(runs.c.id < cursor_id)
        if limit is not None:
            query = query.limit(limit)

        def read(conn: Connection) -> list[RunRecord]:
            return [
                run_from_row(row, dict(sorted(map(tuple, row.tag_pairs or ()))))
                for row in conn.execute(query)
            ]

        return self._read(read)

    def get_runs_count(self, filters: RunsFilter | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(runs).where(*_run_conditions(filters))
        with self._connect() as conn:
            return conn.execute(query).scalar_one()

    def add_run_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags (replacing values of existing keys); nothing happens for an unknown run."""
        if not tags:
            return
        with self._begin() as conn:
            if conn.execute(sa.select(1).where(runs.c.run_id == run_id)).first() is None:
                return
            rows = [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
            self._upsert(conn, run_tags, rows, ["run_id", "key"])

    def delete_run(self, run_id: str) -> None:
        with self._begin() as conn:
            # The run's row first: it is the lock append_run_event takes, so no event of
            # the run can be appended between this delete and the delete of its events.
            for table in (runs, run_tags, event_logs, step_attempts, step_outputs):
                conn.execute(table.delete().where(table.c.run_id == run_id))

    def record_run_worker_heartbeat(self, run_id: str, timestamp: float) -> None:
        with self._write_one() as conn:
            conn.execute(
                runs.update().where(runs.c.run_id == run_id).values(worker_heartbeat_at=timestamp)
            )

    # -- event log ------------------------------------------------------------------------
    def store_events(self, events: Sequence[EventRecord]) -> list[int]:
        if not events:
            return []
        rows = [event_row(event) for event in events]
        _refuse_lifecycle_events(rows, "store_events")
        insert = insert_events_postgres if self._postgres else insert_events_sqlite

        def write() -> list[int]:
            if has_asset_events(rows):  # the catalog rows commit with the events
                with self._begin() as conn:
                    ids = insert(conn, rows)
                    index_asset_events(conn, rows, ids, [e.data for e in events])
                    return ids
            with self._write_one() as conn:
                return insert(conn, rows)

        def after_drop() -> list[int]:
            # Not written twice if the first try committed and only its answer was lost.
            landed = self._read(lambda conn: landed_event_ids(conn, rows))
            return write() if landed is None else landed

        return _again_if_dropped(write, after_drop)

    def append_run_event(
        self,
        event: EventRecord,
        to_status: RunStatus | None,
        from_statuses: Iterable[RunStatus],
        refusal: Callable[[RunStatus], EventRecord | None],
    ) -> RunEventOutcome:
        run_id = event.run_id
        row = event_row(event)
        allowed = frozenset(RunStatus(status) for status in from_statuses)
        moved_to = None if to_status is None else RunStatus(to_status)
        insert = insert_events_postgres if self._postgres else insert_events_sqlite
        # The refusal written for each status seen, so that a retry writes the same row
        # and after_drop can find it by content.
        refusals: dict[RunStatus, tuple[Any, ...] | None] = {}

        def write() -> RunEventOutcome:
            if self._postgres and moved_to is not None:
                moved = self._move_run_postgres(row, moved_to, allowed, event.timestamp)
                if moved is not None:
                    return moved  # else: not in an allowed status; the locked path says why
            with self._begin() as conn:
                # PostgreSQL: the row lock serializes appends to one run (and delete_run);
                # SQLite: the transaction already holds the database's write lock.
                status = _lock_run_status(conn, run_id)
                if status is None:
                    return RunEventOutcome(False, None, None)
                if status not in allowed:
                    if status not in refusals:
                        refused = refusal(status)
                        refusals[status] = None if refused is None else event_row(refused)
                    refused_row = refusals[status]
                    if refused_row is None:
                        return RunEventOutcome(False, status, None)
                    [refused_id] = insert(conn, [refused_row])
                    return RunEventOutcome(False, status, refused_id)
                if moved_to is not None:
                    _move_status(conn, run_id, moved_to, allowed, event.timestamp)
                [stored_id] = insert(conn, [row])
                # Wakes the daemon's run queue when this commits.
                if self._postgres and moved_to in _RUN_QUEUE_CHANGES:
                    conn.execute(_NOTIFY_RUN_QUEUE)
                return RunEventOutcome(True, moved_to or status, stored_id)

        def after_drop() -> RunEventOutcome:
            # The first try may have committed with its answer lost: its event (or its
            # refusal) is then found by content and not written twice.
            def find(conn: Connection) -> RunEventOutcome | None:
                landed = landed_event_ids(conn, [row])
                if landed is not None:
                    current = conn.execute(
                        sa.select(runs.c.status).where(runs.c.run_id == run_id)
                    ).scalar()
                    status = moved_to or (None if current is None else RunStatus(current))
                    return RunEventOutcome(True, status, landed[0])
                for status, refused in refusals.items():
                    if refused is None:
                        continue
                    landed = landed_event_ids(conn, [refused])
                    if landed is not None:
                        return RunEventOutcome(False, status, landed[0])
                return None

            found = self._read(find)
            return write() if found is None else found

        return _again_if_dropped(write, after_drop)

    def _move_run_postgres(
        self,
        row: tuple[Any, ...],
        to_status: RunStatus,
        allowed: frozenset[RunStatus],
        timestamp: float,
    ) -> RunEventOutcome | None:
        """`append_run_event`'s usual case in one statement (event_sql.PG_MOVE_RUN); None
        when the run is not in an allowed status (or does not exist)."""
        # A submit's move to QUEUED notifies after its commit (see after_commit_notify).
        deferred = to_status is RunStatus.QUEUED
        params = {
            **event_arrays([row]),
            "the_run": row[0],
            "to_status": to_status.value,
            "allowed": sorted(status.value for status in allowed),
            "now": time.time(),
            "at": timestamp,
            "set_started": to_status is RunStatus.STARTED,
            "set_ended": to_status in FINISHED_STATUSES,
            "wake_queue": to_status in _RUN_QUEUE_CHANGES and not deferred,
            "notify_now": not deferred,
        }
        with self._connect() as conn:
            stored_id = conn.execute(PG_MOVE_RUN, params).scalar()
        if stored_id is None:
            return None
        if deferred:
            self._after_commit.add(row[0])
        return RunEventOutcome(True, to_status, stored_id)

    def get_events(
        self,
        run_id: str,
        after_id: int | None = None,
        limit: int | None = None,
        event_types: Sequence[str] | None = None,
        step_key: str | None = None,
    ) -> list[EventRecord]:
        query = sa.select(event_logs).where(*_of_run(run_id))
        if after_id is not None:
            query = query.where(event_logs.c.id > after_id)
        if event_types is not None:
            query = query.where(event_logs.c.event_type.in_([enum_text(t) for t in event_types]))
        if step_key is not None:
            query = query.where(event_logs.c.step_key == step_key)
        query = query.order_by(event_logs.c.run_id, event_logs.c.id)
        if limit is not None:
            query = query.limit(limit)
        return self._read(lambda conn: [event_from_row(row) for row in conn.execute(query)])

    def last_event_id(self, run_id: str) -> int | None:
        query = (  # max(id), in the order of the (run_id, id) index (see _of_run)
            sa.select(event_logs.c.id)
            .where(*_of_run(run_id))
            .order_by(event_logs.c.run_id.desc(), event_logs.c.id.desc())
            .limit(1)
        )
        return self._read(lambda conn: conn.execute(query).scalar())

    def wait_for_events(
        self,
        run_id: str,
        after_id: int | None,
        timeout: float,
        event_types: Sequence[str] | None = None,
    ) -> list[EventRecord]:
        deadline = time.monotonic() + timeout

        def check() -> list[EventRecord]:
            return self.get_events(run_id, after_id, event_types=event_types)

        if self._postgres:
            try:
                return self._event_listener().wait(run_id, deadline, check)
            except NotifyUnavailable as exc:
                log.warning("waiting for events by polling: %s", exc)
        while True:
            found = check()
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            time.sleep(min(POLL_INTERVAL_S, remaining))

    def _event_listener(self) -> EventNotifyListener:
        self._after_fork()
        with self._listener_lock:
            if self._listener is None:
                self._listener = EventNotifyListener(lambda: dbapi_connect(self._engine))
            return self._listener

    # -- key-values, heartbeats, snapshots --------------------------------------------------
    def kv_set(self, key: str, value: str) -> None:
        with self._write_one() as conn:
            self._upsert(conn, kv, [{"key": key, "value": value}], ["key"])

    def kv_get(self, key: str) -> str | None:
        with self._connect() as conn:
            return conn.execute(sa.select(kv.c.value).where(kv.c.key == key)).scalar()

    def add_daemon_heartbeat(self, heartbeat: DaemonHeartbeat) -> None:
        row = {
            "daemon_type": heartbeat.daemon_type,
            "daemon_id": heartbeat.daemon_id,
            "timestamp": heartbeat.timestamp,
            "info": dumps(heartbeat.info),
        }
        with self._write_one() as conn:
            self._upsert(conn, daemon_heartbeats, [row], ["daemon_type"])

    def purge_daemon_heartbeats(self, before: float) -> int:
        with self._write_one() as conn:
            stale = daemon_heartbeats.delete().where(daemon_heartbeats.c.timestamp < before)
            return int(conn.execute(stale).rowcount)

    def get_daemon_heartbeats(self) -> dict[str, DaemonHeartbeat]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(daemon_heartbeats)).all()
        return {
            row.daemon_type: DaemonHeartbeat(
                daemon_type=row.daemon_type,
                daemon_id=row.daemon_id,
                timestamp=row.timestamp,
                info=json.loads(row.info),
            )
            for row in rows
        }

    def hold_session(self) -> HeldSession | None:
        if not self._postgres:
            return None
        self._after_fork()
        return HeldSession(lambda: dbapi_connect(self._engine))

    def open_sessions(self, tokens: Iterable[str]) -> set[str] | None:
        if not self._postgres:
            return None
        wanted = list(tokens)
        return self._read(lambda conn: open_tokens(conn, wanted)) if wanted else set()

    def acquire_lease(
        self, name: str, holder: str, host: str, pid: int, now: float, duration: float
    ) -> DaemonLease | None:
        with self._begin() as conn:
            return daemon_sql.acquire_lease(
                conn, self._postgres, name, holder, host, pid, now, duration
            )

    def release_lease(self, name: str, holder: str, now: float) -> None:
        with self._write_one() as conn:
            daemon_sql.release_lease(conn, name, holder, now)

    def get_lease(self, name: str) -> DaemonLease | None:
        with self._connect() as conn:
            return daemon_sql.get_lease(conn, name)

    def add_snapshot(self, snapshot_id: str, body: dict[str, Any]) -> None:
        """Store a snapshot once; snapshot ids name their content, so a repeat is a no-op."""
        insert = (postgresql.insert if self._postgres else sqlite.insert)(snapshots)
        stmt = insert.values(snapshot_id=snapshot_id, body=dumps(body))
        with self._write_one() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["snapshot_id"]))

    def get_snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        query = sa.select(snapshots.c.body).where(snapshots.c.snapshot_id == snapshot_id)
        with self._connect() as conn:
            body = conn.execute(query).scalar()
        return None if body is None else json.loads(body)

    # -- schedules and sensors --------------------------------------------------------------
    def upsert_instigator_state(self, state: InstigatorState) -> None:
        row = {
            "name": state.name,
            "instigator_type": enum_text(state.instigator_type),
            "status": enum_text(state.status),
            "data": dumps(state.data),
            "updated_at": state.updated_at or time.time(),
        }
        with self._write_one() as conn:
            self._upsert(conn, instigators, [row], ["name"])

    def get_instigator_state(self, name: str) -> InstigatorState | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(instigators).where(instigators.c.name == name)).first()
        return None if row is None else instigator_from_row(row)

    def get_instigator_states(self) -> list[InstigatorState]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(instigators).order_by(instigators.c.name)).all()
        return [instigator_from_row(row) for row in rows]

    def create_tick(self, tick: TickRecord) -> TickRecord:
        try:
            with self._write_one() as conn:
                result = conn.execute(ticks.insert().values(tick_values(tick)))
        except sa.exc.IntegrityError as exc:
            raise DuplicateTickKey(
                f"tick {tick.tick_key!r} of {tick.instigator_name!r} already exists"
            ) from exc
        assert result.inserted_primary_key is not None
        return replace(tick, tick_id=result.inserted_primary_key[0])

    def update_tick(self, tick: TickRecord) -> None:
        """Update the tick with `tick.tick_id` (or, without an id, with `tick.tick_key`)."""
        if tick.tick_id is None:
            match = ticks.c.tick_key == tick.tick_key
        else:
            match = ticks.c.id == tick.tick_id
        with self._write_one() as conn:
            conn.execute(ticks.update().where(match).values(tick_values(tick)))

    def get_ticks(self, instigator_name: str, limit: int | None = None) -> list[TickRecord]:
        query = (
            sa.select(ticks)
            .where(ticks.c.instigator_name == instigator_name)
            .order_by(ticks.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [tick_from_row(row) for row in rows]

    def get_tick(self, tick_key: str) -> TickRecord | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(ticks).where(ticks.c.tick_key == tick_key)).first()
        return None if row is None else tick_from_row(row)

    def purge_ticks(self, before: float) -> int:
        with self._write_one() as conn:
            return daemon_sql.delete_ticks_before(conn, before)

    # -- the daemon's run queue, retries and retention --------------------------------------
    def claim_queued_runs(
        self,
        claimant: str,
        now: float,
        choose: Callable[[list[RunRecord], list[RunRecord]], list[str]],
        claim_ttl: float,
    ) -> list[RunRecord]:
        with self._begin() as conn:
            return daemon_sql.claim_queued_runs(
                conn, self._postgres, claimant, now, choose, claim_ttl
            )

    def release_run_claims(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            with self._write_one() as conn:
                daemon_sql.release_run_claims(conn, run_ids)

    def wait_for_run_queue_change(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if self._postgres:
            try:
                return self._run_queue_listener().wait(timeout)
            except Exception as exc:  # psycopg2.Error, OSError: poll until it is back
                log.warning("waiting for the run queue by polling: %s", exc)
        while True:
            with self._connect() as conn:
                signature = daemon_sql.queue_signature(conn)
            changed = signature != self._queue_signature
            self._queue_signature = signature
            remaining = deadline - time.monotonic()
            if changed or remaining <= 0:
                return changed
            time.sleep(min(POLL_INTERVAL_S * 2, remaining))

    def _run_queue_listener(self) -> RunQueueListener:
        self._after_fork()
        if self._queue_listener is None:
            self._queue_listener = RunQueueListener(lambda: dbapi_connect(self._engine))
        return self._queue_listener

    def get_finished_runs(
        self, statuses: Iterable[RunStatus], ended_after: float, limit: int
    ) -> list[RunRecord]:
        with self._connect() as conn:
            return daemon_sql.finished_runs(conn, statuses, ended_after, limit)

    def get_run_status_changes(
        self, event_types: Sequence[str], after_id: int, limit: int
    ) -> list[EventRecord]:
        # The primary key's range from the cursor: a sensor reads only what came after it.
        query = (
            sa.select(event_logs)
            .where(
                event_logs.c.id > after_id,
                event_logs.c.event_type.in_([enum_text(t) for t in event_types]),
            )
            .order_by(event_logs.c.id)
            .limit(limit)
        )
        return self._read(lambda conn: [event_from_row(row) for row in conn.execute(query)])

    def newest_event_id(self) -> int:
        query = sa.select(sa.func.max(event_logs.c.id))
        return self._read(lambda conn: conn.execute(query).scalar()) or 0

    def purge_runs(self, ended_before: float, limit: int = 1000) -> int:
        with self._begin() as conn:
            run_ids = daemon_sql.finished_run_ids_before(
                conn, FINISHED_STATUSES, ended_before, limit
            )
            if run_ids:
                daemon_sql.delete_runs(conn, run_ids)
        return len(run_ids)

    # -- step attempts and outputs (Celery executor) -----------------------------------------
    def add_step_attempts(self, attempts: Sequence[StepAttempt]) -> None:
        if not attempts:
            return
        # SQLAlchemy sends a batch as one INSERT per `insertmanyvalues_page_size` rows: a
        # usual batch is one autocommitted statement; a bigger one needs a transaction.
        one_statement = len(attempts) <= self._engine.dialect.insertmanyvalues_page_size

        def insert() -> None:
            with self._write_one() if one_statement else self._begin() as conn:
                steps.insert_attempts(conn, attempts)

        def after_drop() -> None:
            try:
                insert()
            except sa.exc.IntegrityError:
                # One transaction: the first try landed whole (its answer was lost) or not.
                ids = [attempt.attempt_id for attempt in attempts]
                if len(self.get_step_attempts(attempt_ids=ids)) < len(ids):
                    raise

        try:
            _again_if_dropped(insert, after_drop)
        except sa.exc.IntegrityError as exc:
            raise StorageError(steps.duplicate_attempts_message(attempts)) from exc

    def claim_step_attempt(self, attempt_id: str, hostname: str, pid: int, now: float) -> bool:
        def claim() -> bool:
            with self._write_one() as conn:
                return steps.claim_attempt(conn, attempt_id, hostname, pid, now)

        def landed(attempt: StepAttempt) -> bool:
            mine = (StepAttemptStatus.RUNNING, hostname, pid, now)
            return (attempt.status, attempt.hostname, attempt.pid, attempt.started_at) == mine

        return self._move_attempt(claim, attempt_id, landed)

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
        with self._write_one() as conn:
            return steps.finish_attempt(conn, attempt_id, status, now, reason, from_statuses)

    def complete_step_attempt(
        self,
        attempt_id: str,
        status: StepAttemptStatus,
        now: float,
        events: Sequence[EventRecord],
        reason: str | None = None,
        outputs: Sequence[steps.OutputRow] = (),
    ) -> bool:
        rows = [event_row(event) for event in events]
        _refuse_lifecycle_events(rows, "complete_step_attempt")
        # PostgreSQL: one statement, which also indexes asset events (opgraph_storage.
        # assets_sql); a step that logged observations takes the transaction below.
        if (
            self._postgres
            and not has_observations(rows)
            # Partition status rows are written in the transaction below (no CTE yet).
            and not has_partitioned_materializations(rows)
        ):
            statement = (
                PG_COMPLETE_ATTEMPT_WITH_ASSETS if has_asset_events(rows) else PG_COMPLETE_ATTEMPT
            )
            params = event_arrays(rows)
            params.update(output_arrays(outputs))
            params.update(
                attempt_id=attempt_id,
                to_status=enum_text(status),
                now=now,
                why=reason,
            )

            def complete() -> bool:
                with self._connect() as conn:
                    return bool(conn.execute(statement, params).scalar_one())

            def landed(attempt: StepAttempt) -> bool:
                return (attempt.status, attempt.ended_at) == (status, now)

            return self._move_attempt(complete, attempt_id, landed)
        with self._begin() as conn:
            running = [StepAttemptStatus.RUNNING]
            if not steps.finish_attempt(conn, attempt_id, status, now, reason, running):
                return False
            if outputs:
                conn.execute(self._put_output, list(outputs))
            if rows:
                insert = insert_events_postgres if self._postgres else insert_events_sqlite
                ids = insert(conn, rows)
                index_asset_events(conn, rows, ids, [e.data for e in events])
            return True

    def heartbeat_step_attempts(self, attempt_ids: Sequence[str], now: float) -> None:
        if not attempt_ids:
            return
        with self._write_one() as conn:
            steps.heartbeat_attempts(conn, attempt_ids, now)

    def get_step_attempts(
        self,
        run_id: str | None = None,
        statuses: Iterable[StepAttemptStatus] | None = None,
        attempt_ids: Sequence[str] | None = None,
    ) -> list[StepAttempt]:
        return self._read(lambda conn: steps.select_attempts(conn, run_id, statuses, attempt_ids))

    def get_step_throughput(
        self, queues: Sequence[str], since: float, bucket_seconds: float, buckets: int
    ) -> dict[str, list[int]]:
        return self._read(
            lambda conn: steps.select_throughput(conn, queues, since, bucket_seconds, buckets)
        )

    def put_output(
        self, run_id: str, step_key: str, output_name: str, mapping_key: str | None, value: bytes
    ) -> None:
        row = steps.output_row(run_id, step_key, output_name, mapping_key, value, time.time())
        collected: list[steps.OutputRow] | None = getattr(self._collecting, "outputs", None)
        if collected is not None and len(value) <= COLLECTED_OUTPUT_MAX_BYTES:
            collected.append(row)
            return
        with self._write_one() as conn:
            conn.execute(self._put_output, row)

    @contextmanager
    def collect_outputs(self) -> Iterator[list[steps.OutputRow]]:
        """Within the block, outputs this thread puts are collected, not written, for
        complete_step_attempt to write with the step's outcome (one statement less per
        step); a large one is still written at once, outside the run's lock."""
        collected: list[steps.OutputRow] = []
        self._collecting.outputs = collected
        try:
            yield collected
        finally:
            self._collecting.outputs = None

    def get_output(
        self, run_id: str, step_key: str, output_name: str, mapping_key: str | None
    ) -> bytes | None:
        return self._read(
            lambda conn: steps.select_output(conn, run_id, step_key, output_name, mapping_key)
        )

    def get_outputs(self, keys: Sequence[steps.OutputKey]) -> dict[steps.OutputKey, bytes]:
        if not keys:
            return {}
        return self._read(lambda conn: steps.select_outputs(conn, keys))

    # -- dialect hooks ----------------------------------------------------------------------
    def _upsert(
        self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        insert = (postgresql.insert if self._postgres else sqlite.insert)(table).values(rows)
        updates = {c: insert.excluded[c] for c in rows[0] if c not in keys}
        conn.execute(insert.on_conflict_do_update(index_elements=keys, set_=updates))

    def _upsert_statement(self, table: sa.Table, keys: list[str]) -> sa.Insert:
        """Like `_upsert`, built once, for a row given when it is executed (a hot path's)."""
        insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
        updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
        return insert.on_conflict_do_update(index_elements=keys, set_=updates)


def _again_if_dropped(call: Callable[[], _T], again: Callable[[], _T]) -> _T:
    """`call()`; if its connection was dropped under it, `again()` (once)."""
    try:
        return call()
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return again()


# -- helpers: SQL ---------------------------------------------------------------------------
def _run_conditions(filters: RunsFilter | None) -> list[sa.ColumnElement[bool]]:
    if filters is None:
        return []
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.run_ids is not None:
        conditions.append(runs.c.run_id.in_(filters.run_ids))
    if filters.job_name is not None:
        conditions.append(runs.c.job_name == filters.job_name)
    if filters.statuses is not None:
        conditions.append(runs.c.status.in_([enum_text(s) for s in filters.statuses]))
    if filters.tags:
        # One subquery for every tag (not one per tag: 200 of those kept a PostgreSQL
        # backend busy for minutes): rows matching any (key, value) through the
        # (key, value) index, kept for runs that match all of them; (run_id, key) is
        # unique, so the count is the number of tags matched.
        wanted = [
            sa.and_(run_tags.c.key == key, run_tags.c.value == value)
            for key, value in filters.tags.items()
        ]
        tagged = (
            sa.select(run_tags.c.run_id)
            .where(sa.or_(*wanted))
            .group_by(run_tags.c.run_id)
            .having(sa.func.count() == len(wanted))
        )
        conditions.append(runs.c.run_id.in_(tagged))
    if filters.created_before is not None:
        conditions.append(runs.c.created_at < filters.created_before)
    if filters.created_after is not None:
        conditions.append(runs.c.created_at > filters.created_after)
    return conditions


def _tag_pairs(postgres: bool) -> sa.Label[Any]:
    """A run's tags as a JSON list of [key, value] (null or [] without tags), correlated
    with the `runs` row of the enclosing select: read through the (run_id, key) key."""
    if postgres:
        pairs = sa.func.json_agg(sa.func.json_build_array(run_tags.c.key, run_tags.c.value))
    else:
        pairs = sa.func.json_group_array(sa.func.json_array(run_tags.c.key, run_tags.c.value))
    return (
        sa.select(sa.type_coerce(pairs, sa.JSON))
        .where(run_tags.c.run_id == runs.c.run_id)
        .scalar_subquery()
        .label("tag_pairs")
    )


def _move_status(
    conn: Connection,
    run_id: str,
    to_status: RunStatus,
    from_statuses: Iterable[RunStatus],
    timestamp: float,
) -> bool:
    """Compare-and-set: one UPDATE that only matches while the run is in `from_statuses`."""
    values: dict[str, Any] = {"status": to_status.value, "updated_at": time.time()}
    if to_status is RunStatus.STARTED:
        values["started_at"] = timestamp
    if to_status in FINISHED_STATUSES:
        values["ended_at"] = timestamp
    stmt = (
        runs.update()
        .where(runs.c.run_id == run_id, runs.c.status.in_([enum_text(s) for s in from_statuses]))
        .values(values)
    )
    return conn.execute(stmt).rowcount == 1


def _refuse_lifecycle_events(rows: list[tuple[Any, ...]], method: str) -> None:
    lifecycle = [row for row in rows if row[1].startswith(_LIFECYCLE_PREFIX)]
    if lifecycle:
        run_id, event_type = lifecycle[0][:2]
        raise LifecycleEventError(
            f"{event_type} of run {run_id} was given to {method}, which stores no run "
            "lifecycle event: append it with append_run_event, which moves the run's "
            "status in the same transaction (nothing of this batch was stored)"
        )


def _lock_run_status(conn: Connection, run_id: str) -> RunStatus | None:
    """The run's status, its row locked until the transaction ends (FOR UPDATE on
    PostgreSQL; SQLite renders no FOR UPDATE: its write transaction locks the database)."""
    query = sa.select(runs.c.status).where(runs.c.run_id == run_id).with_for_update()
    status = conn.execute(query).scalar()
    return None if status is None else RunStatus(status)


def _of_run(run_id: str) -> tuple[Any, Any]:
    """A run's events, as a range on the run id. With `run_id = X`, PostgreSQL takes X as a
    constant, satisfies `ORDER BY id` (or `max(id)`) by walking the primary key and filters
    as it goes: the last page of a run with 1,000,000 events read every later event of
    other runs (110 ms past 200,000 of them; 400 ms for the first page of a run stored
    after a big one; 68 ms for its last event id). A range is not a constant, so the
    (run_id, id) index serves filter and order: under 1 ms for any page (EXPLAIN ANALYZE,
    1,200,000 events in two runs)."""
    return event_logs.c.run_id >= run_id, event_logs.c.run_id <= run_id

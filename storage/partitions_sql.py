"""SQL of dynamic partitions and backfills (mixed into SqlStorage)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from opgraph_storage.compiled_sql import CompiledStatement
from opgraph_storage.partitions_base import (
    FINISHED_BACKFILL_STATUSES,
    AssetPartitionStatus,
    BackfillAlreadyExists,
    BackfillPartition,
    BackfillPartitionStatus,
    BackfillRecord,
    BackfillStatus,
    PartitionStorage,
    check_partition_key_lengths,
)
from opgraph_storage.rows import run_values
from opgraph_storage.schema import (
    asset_partitions,
    backfill_partitions,
    backfills,
    dynamic_partitions,
    run_tags,
    runs,
)

# Rows per INSERT/UPDATE statement of a backfill's partitions: 10,000 rows in one
# statement would pass SQLite's limit of 32,766 bound parameters (six per row).
_CHUNK = 2000


def _backfill_from_row(row: Any) -> BackfillRecord:
    return BackfillRecord(
        backfill_id=row.backfill_id,
        status=BackfillStatus(row.status),
        job_name=row.job_name,
        location_name=row.location_name,
        max_runs_in_flight=row.max_runs_in_flight,
        num_partitions=row.num_partitions,
        data=json.loads(row.data),
        created_at=row.created_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
    )


def _chunks(rows: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


class PartitionSql(PartitionStorage):
    """Mixed into SqlStorage: uses its read and write transactions."""

    _read: Any
    _begin: Any

    # -- dynamic partitions -------------------------------------------------------------
    def add_dynamic_partitions(
        self, partitions_def_name: str, partition_keys: Sequence[str]
    ) -> int:
        check_partition_key_lengths(partition_keys, f"dynamic partition of {partitions_def_name!r}")
        keys = list(dict.fromkeys(partition_keys))  # first occurrence wins: order kept
        if not keys:
            return 0
        now = time.time()
        with self._begin() as conn:
            insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
                dynamic_partitions
            ).on_conflict_do_nothing()
            added = 0
            for chunk in _chunks(keys):
                result = conn.execute(
                    insert,
                    [
                        {
                            "partitions_def_name": partitions_def_name,
                            "partition_key": k,
                            "created_at": now,
                        }
                        for k in chunk
                    ],
                )
                added += max(result.rowcount, 0)
            return added

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        table = dynamic_partitions
        with self._begin() as conn:
            result = conn.execute(
                table.delete().where(
                    table.c.partitions_def_name == partitions_def_name,
                    table.c.partition_key == partition_key,
                )
            )
            return bool(result.rowcount)

    def get_dynamic_partitions(self, partitions_def_name: str) -> list[str]:
        table = dynamic_partitions
        query = (
            sa.select(table.c.partition_key)
            .where(table.c.partitions_def_name == partitions_def_name)
            .order_by(table.c.id)
        )
        return self._read(lambda conn: list(conn.execute(query).scalars()))

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        table = dynamic_partitions
        query = sa.select(sa.literal(1)).where(
            table.c.partitions_def_name == partitions_def_name,
            table.c.partition_key == partition_key,
        )
        return self._read(lambda conn: conn.execute(query).first() is not None)

    # -- asset partitions ----------------------------------------------------------------
    def get_asset_partition_statuses(
        self, asset_key: str, partition_keys: Sequence[str] | None = None
    ) -> dict[str, AssetPartitionStatus]:
        table = asset_partitions
        query = sa.select(table.c.partition_key, table.c.status).where(
            table.c.asset_key == asset_key
        )

        def read(conn: Connection) -> dict[str, AssetPartitionStatus]:
            if partition_keys is None:
                found = conn.execute(query).all()
            else:
                found = []
                keys = list(partition_keys)
                for start in range(0, len(keys), _CHUNK):
                    chunk = keys[start : start + _CHUNK]
                    found.extend(conn.execute(query.where(table.c.partition_key.in_(chunk))))
            statuses = {key: AssetPartitionStatus(status) for key, status in found}
            if AssetPartitionStatus.IN_PROGRESS in statuses.values():
                for key, status in _in_progress(conn, asset_key).items():
                    if key not in statuses:
                        continue
                    if status is None:
                        del statuses[key]
                    else:
                        statuses[key] = status
            return statuses

        return self._read(read)

    def count_asset_partitions(self, asset_key: str) -> dict[AssetPartitionStatus, int]:
        table = asset_partitions
        query = (
            sa.select(table.c.status, sa.func.count())
            .where(table.c.asset_key == asset_key)
            .group_by(table.c.status)
        )

        def read(conn: Connection) -> dict[AssetPartitionStatus, int]:
            counts = {AssetPartitionStatus(s): n for s, n in conn.execute(query)}
            if counts.pop(AssetPartitionStatus.IN_PROGRESS, None):
                for status in _in_progress(conn, asset_key).values():
                    if status is not None:
                        counts[status] = counts.get(status, 0) + 1
            return {status: n for status, n in counts.items() if n}

        return self._read(read)

    # -- backfills ----------------------------------------------------------------------
    def add_backfill_runs(self, records: Sequence[Any]) -> list[str]:
        if not records:
            return []
        now = time.time()
        stored: list[str] = []
        with self._begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            for chunk in _chunks(list(records)):
                values = [
                    run_values(replace(r, created_at=r.created_at or now, updated_at=now))
                    for r in chunk
                ]
                insert = dialect.insert(runs).on_conflict_do_nothing()
                new = set(conn.execute(insert.returning(runs.c.run_id), values).scalars())
                tags = [
                    {"run_id": r.run_id, "key": k, "value": v}
                    for r in chunk
                    if r.run_id in new
                    for k, v in r.tags.items()
                ]
                if tags:
                    conn.execute(run_tags.insert(), tags)
                stored.extend(r.run_id for r in chunk if r.run_id in new)
        return stored

    def add_backfill(
        self, backfill: BackfillRecord, partitions: Sequence[tuple[str, str]]
    ) -> BackfillRecord:
        check_partition_key_lengths((key for _, key in partitions), "backfill partition")
        rows = [
            {
                "backfill_id": backfill.backfill_id,
                "target": target,
                "partition_key": key,
                "status": BackfillPartitionStatus.PENDING.value,
                "run_id": None,
                "updated_at": backfill.created_at,
            }
            for target, key in dict.fromkeys(partitions)
        ]
        values = {
            "backfill_id": backfill.backfill_id,
            "status": backfill.status.value,
            "job_name": backfill.job_name,
            "location_name": backfill.location_name,
            "max_runs_in_flight": backfill.max_runs_in_flight,
            "num_partitions": len(rows),
            "data": json.dumps(backfill.data, sort_keys=True),
            "created_at": backfill.created_at,
            "updated_at": backfill.updated_at,
            "ended_at": backfill.ended_at,
        }
        with self._begin() as conn:
            exists = conn.execute(
                sa.select(backfills.c.backfill_id).where(
                    backfills.c.backfill_id == backfill.backfill_id
                )
            ).first()
            if exists is not None:
                raise BackfillAlreadyExists(f"a backfill with id {backfill.backfill_id!r} exists")
            conn.execute(backfills.insert(), [values])
            for chunk in _chunks(rows):
                conn.execute(backfill_partitions.insert(), list(chunk))
        return replace(backfill, num_partitions=len(rows))

    def get_backfill(self, backfill_id: str) -> BackfillRecord | None:
        query = sa.select(backfills).where(backfills.c.backfill_id == backfill_id)

        def read(conn: Connection) -> BackfillRecord | None:
            row = conn.execute(query).first()
            return _backfill_from_row(row) if row is not None else None

        return self._read(read)

    def get_backfills(
        self,
        statuses: Iterable[BackfillStatus] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> list[BackfillRecord]:
        query = sa.select(backfills).order_by(
            backfills.c.created_at.desc(), backfills.c.backfill_id.desc()
        )
        if statuses is not None:
            query = query.where(backfills.c.status.in_([s.value for s in statuses]))
        if cursor is not None:
            at = (
                sa.select(backfills.c.created_at)
                .where(backfills.c.backfill_id == cursor)
                .scalar_subquery()
            )
            query = query.where(
                sa.or_(
                    backfills.c.created_at < at,
                    sa.and_(backfills.c.created_at == at, backfills.c.backfill_id < cursor),
                )
            )
        if limit is not None:
            query = query.limit(limit)
        return self._read(lambda conn: [_backfill_from_row(r) for r in conn.execute(query)])

    def move_backfill(
        self,
        backfill_id: str,
        to_status: BackfillStatus,
        from_statuses: Iterable[BackfillStatus],
        now: float,
    ) -> bool:
        values: dict[str, Any] = {"status": to_status.value, "updated_at": now}
        if to_status in FINISHED_BACKFILL_STATUSES:
            values["ended_at"] = now
        statement = (
            backfills.update()
            .where(
                backfills.c.backfill_id == backfill_id,
                backfills.c.status.in_([s.value for s in from_statuses]),
            )
            .values(**values)
        )
        with self._begin() as conn:
            return bool(conn.execute(statement).rowcount)

    def get_backfill_partitions(
        self,
        backfill_id: str,
        statuses: Iterable[BackfillPartitionStatus] | None = None,
        limit: int | None = None,
    ) -> list[BackfillPartition]:
        table = backfill_partitions
        query = (
            sa.select(table)
            .where(table.c.backfill_id == backfill_id)
            .order_by(table.c.target, table.c.partition_key)
        )
        if statuses is not None:
            query = query.where(table.c.status.in_([s.value for s in statuses]))
        if limit is not None:
            query = query.limit(limit)

        def read(conn: Connection) -> list[BackfillPartition]:
            return [
                BackfillPartition(
                    backfill_id=r.backfill_id,
                    target=r.target,
                    partition_key=r.partition_key,
                    status=BackfillPartitionStatus(r.status),
                    run_id=r.run_id,
                    updated_at=r.updated_at,
                )
                for r in conn.execute(query)
            ]

        return self._read(read)

    def count_backfill_partitions(self, backfill_id: str) -> dict[BackfillPartitionStatus, int]:
        table = backfill_partitions
        query = (
            sa.select(table.c.status, sa.func.count())
            .where(table.c.backfill_id == backfill_id)
            .group_by(table.c.status)
        )
        return self._read(
            lambda conn: {BackfillPartitionStatus(s): n for s, n in conn.execute(query)}
        )

    def claim_backfill_partitions(
        self,
        backfill_id: str,
        limit: int,
        now: float,
        run_id_for: Callable[[str, str], str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> list[tuple[str, str]]:
        table = backfill_partitions
        pending = BackfillPartitionStatus.PENDING.value
        query = (
            sa.select(table.c.target, table.c.partition_key)
            .where(table.c.backfill_id == backfill_id, table.c.status == pending)
            .order_by(table.c.target, table.c.partition_key)
            .limit(limit)
        )
        if candidates is not None:
            return self._claim_candidates(backfill_id, list(candidates)[:limit], now, run_id_for)
        claim = (
            table.update()
            .where(
                table.c.backfill_id == backfill_id,
                table.c.target == sa.bindparam("b_target"),
                table.c.partition_key == sa.bindparam("b_key"),
                table.c.status == pending,
            )
            .values(
                status=BackfillPartitionStatus.SUBMITTED.value,
                run_id=sa.bindparam("b_run_id"),
                updated_at=now,
            )
        )
        with self._begin() as conn:
            if conn.dialect.name == "postgresql":
                # Another daemon's claim in flight holds its rows: take the next ones.
                query = query.with_for_update(skip_locked=True)
            rows = [(r.target, r.partition_key) for r in conn.execute(query)]
            if rows:
                conn.execute(
                    claim,
                    [
                        {"b_target": target, "b_key": key, "b_run_id": run_id_for(target, key)}
                        for target, key in rows
                    ],
                )
            return rows

    def _claim_candidates(
        self,
        backfill_id: str,
        candidates: list[tuple[str, str]],
        now: float,
        run_id_for: Callable[[str, str], str],
    ) -> list[tuple[str, str]]:
        table = backfill_partitions
        by_target: dict[str, list[str]] = {}
        for target, key in candidates:
            by_target.setdefault(target, []).append(key)
        with self._begin() as conn:
            found: set[tuple[str, str]] = set()
            for target, keys in by_target.items():
                for chunk in _chunks(keys):
                    query = sa.select(table.c.target, table.c.partition_key).where(
                        table.c.backfill_id == backfill_id,
                        table.c.target == target,
                        table.c.partition_key.in_(list(chunk)),
                        table.c.status == BackfillPartitionStatus.PENDING.value,
                    )
                    if conn.dialect.name == "postgresql":
                        query = query.with_for_update(skip_locked=True)
                    found.update((r.target, r.partition_key) for r in conn.execute(query))
            rows = [row for row in candidates if row in found]
            if rows:
                conn.execute(
                    table.update()
                    .where(
                        table.c.backfill_id == backfill_id,
                        table.c.target == sa.bindparam("b_target"),
                        table.c.partition_key == sa.bindparam("b_key"),
                    )
                    .values(
                        status=BackfillPartitionStatus.SUBMITTED.value,
                        run_id=sa.bindparam("b_run_id"),
                        updated_at=now,
                    ),
                    [
                        {"b_target": target, "b_key": key, "b_run_id": run_id_for(target, key)}
                        for target, key in rows
                    ],
                )
            return rows

    def move_backfill_partitions(
        self,
        backfill_id: str,
        rows: Sequence[tuple[str, str]],
        to_status: BackfillPartitionStatus,
        from_statuses: Iterable[BackfillPartitionStatus],
        now: float,
        run_id: str | None = None,
    ) -> int:
        table = backfill_partitions
        allowed = [s.value for s in from_statuses]
        values: dict[str, Any] = {"status": to_status.value, "updated_at": now}
        if run_id is not None:
            values["run_id"] = run_id
        moved = 0
        # Sorted: two writers lock one backfill's rows in one order, never crosswise.
        ordered = sorted(set(rows))
        with self._begin() as conn:
            for chunk in _chunks(ordered):
                result = conn.execute(
                    table.update()
                    .where(
                        table.c.backfill_id == backfill_id,
                        sa.tuple_(table.c.target, table.c.partition_key).in_(list(chunk)),
                        table.c.status.in_(allowed),
                    )
                    .values(**values)
                )
                moved += result.rowcount
        return moved


# -- asset partitions, written with the events (called by opgraph_storage.assets_sql) -------
def _in_progress(conn: Connection, asset_key: str) -> dict[str, AssetPartitionStatus | None]:
    """The IN_PROGRESS partitions of `asset_key` as their runs leave them: a run that ended
    without the step's STEP_FAILURE (its worker killed, the run canceled) failed them; a
    successful one that did not materialize them (an optional output) leaves them as they
    were before (MATERIALIZED if ever, else missing: None)."""
    table = asset_partitions
    query = (
        sa.select(table.c.partition_key, table.c.last_materialization_id, runs.c.status)
        .select_from(table.outerjoin(runs, runs.c.run_id == table.c.last_run_id))
        .where(
            table.c.asset_key == asset_key,
            table.c.status == AssetPartitionStatus.IN_PROGRESS.value,
        )
    )
    found: dict[str, AssetPartitionStatus | None] = {}
    for key, materialization_id, run_status in conn.execute(query):
        if run_status in _FAILED_RUN_STATUSES:
            found[key] = AssetPartitionStatus.FAILED
        elif run_status is None or run_status == "SUCCESS":
            found[key] = None if materialization_id is None else AssetPartitionStatus.MATERIALIZED
        else:
            found[key] = AssetPartitionStatus.IN_PROGRESS
    return found


_FAILED_RUN_STATUSES = frozenset({"FAILURE", "CANCELED"})

# Position of columns in an event row (opgraph_storage.rows.event_row).
_RUN_ID, _TYPE, _TIMESTAMP, _DATA = 0, 1, 6, 7
_MATERIALIZATION = "ASSET_MATERIALIZATION"
# A partitioned asset step's STEP_START / STEP_RESTARTED (IN_PROGRESS) and STEP_FAILURE
# (FAILED) carry the asset partitions it materializes as `asset_partitions`.
_STEP_STATUS = {
    "STEP_START": AssetPartitionStatus.IN_PROGRESS,
    "STEP_RESTARTED": AssetPartitionStatus.IN_PROGRESS,
    "STEP_FAILURE": AssetPartitionStatus.FAILED,
}


def _partitioned(row: tuple[Any, ...]) -> bool:
    # Without parsing: unpartitioned materializations carry `"partition":null`.
    data = row[_DATA]
    if row[_TYPE] in _STEP_STATUS:
        return '"asset_partitions"' in data
    return (
        row[_TYPE] == _MATERIALIZATION
        and '"partition"' in data
        and '"partition":null' not in data
        and '"partition": null' not in data
    )


def has_partitioned_materializations(rows: Sequence[tuple[Any, ...]]) -> bool:
    """Rows that move a partition's status: partitioned materializations, and partitioned
    asset steps' starts and failures."""
    return any(_partitioned(row) for row in rows)


def _partition_news(row: tuple[Any, ...]) -> list[tuple[str, str, AssetPartitionStatus]]:
    data = json.loads(row[_DATA])
    if row[_TYPE] == _MATERIALIZATION:
        partition = data.get("partition")
        if partition is None:
            return []
        return [("/".join(data["asset_key"]), str(partition), AssetPartitionStatus.MATERIALIZED)]
    status = _STEP_STATUS[row[_TYPE]]
    return [
        ("/".join(pair["asset_key"]), str(pair["partition"]), status)
        for pair in data.get("asset_partitions") or ()
    ]


_PARTITION_COLUMNS = (
    "asset_key",
    "partition_key",
    "status",
    "last_event_id",
    "last_materialization_id",
    "last_run_id",
    "updated_at",
)
_PARTITION_UPSERTS: dict[str, CompiledStatement] = {}


def _partition_upsert(dialect: Any) -> CompiledStatement:
    """Insert a partition's row, or move it to the given event if that event is newer (a
    larger id) and is not a failure over what the same run materialized. Built once per
    dialect: it is on every partitioned asset step's path."""
    found = _PARTITION_UPSERTS.get(dialect.name)
    if found is not None:
        return found
    failed, materialized = AssetPartitionStatus.FAILED, AssetPartitionStatus.MATERIALIZED
    insert = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(
        asset_partitions
    )
    table, excluded = asset_partitions, insert.excluded
    newer = sa.and_(
        sa.or_(table.c.last_event_id.is_(None), table.c.last_event_id < excluded.last_event_id),
        sa.not_(
            sa.and_(
                excluded.status == failed.value,
                table.c.status == materialized.value,
                table.c.last_run_id == excluded.last_run_id,
            )
        ),
    )
    set_ = {
        c: sa.case((newer, excluded[c]), else_=table.c[c])
        for c in ("status", "last_event_id", "last_run_id", "updated_at")
    }
    set_["last_materialization_id"] = sa.case(
        (
            sa.and_(newer, excluded.last_materialization_id.is_not(None)),
            excluded.last_materialization_id,
        ),
        else_=table.c.last_materialization_id,
    )
    statement = insert.on_conflict_do_update(
        index_elements=["asset_key", "partition_key"], set_=set_
    )
    found = _PARTITION_UPSERTS[dialect.name] = CompiledStatement(
        statement, _PARTITION_COLUMNS, dialect
    )
    return found


def index_asset_partitions(
    conn: Connection, rows: Sequence[tuple[Any, ...]], ids: Sequence[int]
) -> None:
    """Move the partitions `rows` (stored with `ids`) give news of, in the caller's
    transaction: a materialization makes its partition MATERIALIZED, a partitioned asset
    step's start IN_PROGRESS and its failure FAILED (never over what the same run
    materialized: a multi-asset step that failed after one output). A row only moves to a
    newer event (a larger id), so two writers of one partition in either order leave the
    newest."""
    failed = AssetPartitionStatus.FAILED
    materialized = AssetPartitionStatus.MATERIALIZED
    # (key, partition) -> a row in the order of _PARTITION_COLUMNS
    values: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row, event_id in zip(rows, ids, strict=True):
        if not _partitioned(row):
            continue
        for key, partition, status in _partition_news(row):
            before = values.get((key, partition))
            if (
                status is failed
                and before is not None
                and before[2] == materialized.value
                and before[5] == row[_RUN_ID]
            ):
                continue
            values[(key, partition)] = (
                key,
                partition,
                status.value,
                event_id,
                event_id if status is materialized else None,
                row[_RUN_ID],
                row[_TIMESTAMP],
            )
    if not values:
        return
    # Sorted by key: two writers lock rows in one order, never crosswise.
    _partition_upsert(conn.dialect).execute(conn, [values[k] for k in sorted(values)])

"""SQL of the asset catalog: indexing asset events as they are stored, and reading it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from opgraph_storage.assets_base import (
    ASSET_CHECK_EVALUATION,
    ASSET_EVENT_TYPES,
    ASSET_MATERIALIZATION,
    ASSET_OBSERVATION,
    AssetCatalogRecord,
    AssetCatalogStorage,
    AssetCheckExecutionRecord,
)
from opgraph_storage.compiled_sql import CompiledStatement
from opgraph_storage.event_sql import PG_COMPLETE_ATTEMPT
from opgraph_storage.partitions_sql import (
    has_partitioned_materializations,
    index_asset_partitions,
)
from opgraph_storage.records import EventRecord
from opgraph_storage.rows import event_from_row
from opgraph_storage.schema import asset_check_executions, asset_events, event_logs
from opgraph_storage.schema import asset_keys as catalog

# Position of columns in an event row (opgraph_storage.rows.event_row).
_RUN_ID, _TYPE, _TIMESTAMP, _DATA = 0, 1, 6, 7


def has_asset_events(rows: Sequence[tuple[Any, ...]]) -> bool:
    """Rows whose indexes commit with them: asset events, and partitioned asset steps'
    starts and failures (the partition status table)."""
    return any(row[_TYPE] in ASSET_EVENT_TYPES for row in rows) or (
        has_partitioned_materializations(rows)
    )


def _key_text(data: Mapping[str, Any]) -> str:
    return "/".join(data["asset_key"])


_MATERIALIZATION_COLUMNS = (
    "last_materialization_id",
    "last_materialization_at",
    "last_materialization_run_id",
    "last_materialization_data",
)
_OBSERVATION_COLUMNS = ("last_observation_id", "last_observation_at")


def _moving_upsert(dialect: str, columns: tuple[str, ...]) -> Any:
    """Insert a key's row, or move its `columns` to the given event if that event is
    newer (a larger id) than the one they hold; add to the count either way. Built once:
    a step's catalog write is on every asset step's path (benchmarks/assets.py)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(catalog)
    first = columns[0]  # the event id column decides
    newer = sa.or_(catalog.c[first].is_(None), catalog.c[first] < insert.excluded[first])
    updates: dict[str, Any] = {
        name: sa.case((newer, insert.excluded[name]), else_=catalog.c[name]) for name in columns
    }
    updates["materialization_count"] = (
        catalog.c.materialization_count + insert.excluded.materialization_count
    )
    return insert.on_conflict_do_update(index_elements=["asset_key"], set_=updates)


_EVENT_INDEX_COLUMNS = ("event_id", "asset_key", "run_id", "event_type", "timestamp")
_CHECK_COLUMNS = (
    "event_id",
    "asset_key",
    "run_id",
    "check_name",
    "timestamp",
    "passed",
    "severity",
    "data",
)
# A catalog row of each kind: the key, what it adds to the count, its event's columns.
_LATEST = ("asset_key", "materialization_count")
_LATEST_COLUMNS = {
    ASSET_MATERIALIZATION: (*_LATEST, *_MATERIALIZATION_COLUMNS),
    ASSET_OBSERVATION: (*_LATEST, *_OBSERVATION_COLUMNS),
}


# Compiled once per dialect: a step's catalog write (two statements) on SQLite is then two
# driver calls (1,000-asset fan-out, benchmarks/assets.py).
_COMPILED: dict[str, dict[str, CompiledStatement]] = {}


def _statements(dialect: Any) -> dict[str, CompiledStatement]:
    found = _COMPILED.get(dialect.name)
    if found is None:
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        found = _COMPILED[dialect.name] = {
            "events": CompiledStatement(
                insert(asset_events).on_conflict_do_nothing(), _EVENT_INDEX_COLUMNS, dialect
            ),
            "checks": CompiledStatement(
                insert(asset_check_executions).on_conflict_do_nothing(), _CHECK_COLUMNS, dialect
            ),
            **{
                kind: CompiledStatement(
                    _moving_upsert(dialect.name, columns[len(_LATEST) :]), columns, dialect
                )
                for kind, columns in _LATEST_COLUMNS.items()
            },
        }
    return found


def index_asset_events(
    conn: Connection,
    rows: Sequence[tuple[Any, ...]],
    ids: Sequence[int],
    datas: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Update the catalog for the asset events among `rows` (stored with `ids`), in the
    caller's transaction. `datas`, when given, are the rows' data already parsed (the
    events' own dicts), so they are not parsed again. A key's row only moves forward (a
    larger event id wins), so two writers of one key in either order leave its latest
    materialization."""
    statements = _statements(conn.dialect)
    indexed: list[tuple[Any, ...]] = []
    checks: list[tuple[Any, ...]] = []
    latest: dict[str, dict[str, tuple[Any, ...]]] = {
        ASSET_MATERIALIZATION: {},
        ASSET_OBSERVATION: {},
    }
    for position, (row, event_id) in enumerate(zip(rows, ids, strict=True)):
        kind = row[_TYPE]
        if kind not in ASSET_EVENT_TYPES:
            continue
        data = json.loads(row[_DATA]) if datas is None else datas[position]
        key = _key_text(data)
        run_id, timestamp = row[_RUN_ID], row[_TIMESTAMP]
        indexed.append((event_id, key, run_id, kind, timestamp))
        if kind == ASSET_CHECK_EVALUATION:
            passed, severity = bool(data["passed"]), data.get("severity") or "ERROR"
            checks.append(
                (event_id, key, run_id, data["check_name"], timestamp, passed, severity, row[_DATA])
            )
        elif kind == ASSET_MATERIALIZATION:
            before = latest[kind].get(key)
            count = 1 + (before[1] if before is not None else 0)
            latest[kind][key] = (key, count, event_id, timestamp, run_id, row[_DATA])
        else:
            latest[kind][key] = (key, 0, event_id, timestamp)
    if indexed:
        statements["events"].execute(conn, indexed)
    if checks:
        statements["checks"].execute(conn, checks)
    for kind, newest in latest.items():
        if newest:
            # Sorted by key: two writers lock a batch's rows in one order, never crosswise.
            statements[kind].execute(conn, [newest[key] for key in sorted(newest)])
    index_asset_partitions(conn, rows, ids)


def _catalog_record(row: Any) -> AssetCatalogRecord:
    return AssetCatalogRecord(
        asset_key=row.asset_key,
        last_materialization_id=row.last_materialization_id,
        last_materialization_at=row.last_materialization_at,
        last_materialization_run_id=row.last_materialization_run_id,
        last_materialization_data=json.loads(row.last_materialization_data or "{}"),
        last_observation_id=row.last_observation_id,
        last_observation_at=row.last_observation_at,
        materialization_count=row.materialization_count,
    )


def _like_prefix(prefix: str) -> str:
    escaped = prefix.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"


class AssetCatalogSql(AssetCatalogStorage):
    """Mixed into SqlStorage: reads of the catalog on its engine."""

    # Provided by SqlStorage: a read with a retry on a dropped connection, and a write
    # transaction.
    _read: Any
    _begin: Any

    def get_asset_records(
        self,
        asset_keys: Sequence[str] | None = None,
        prefix: str | None = None,
        after_key: str | None = None,
        limit: int | None = None,
    ) -> list[AssetCatalogRecord]:
        query = sa.select(catalog).order_by(catalog.c.asset_key)
        if asset_keys is not None:
            query = query.where(catalog.c.asset_key.in_(list(asset_keys)))
        if prefix:
            query = query.where(catalog.c.asset_key.like(_like_prefix(prefix), escape="\\"))
        if after_key is not None:
            query = query.where(catalog.c.asset_key > after_key)
        if limit is not None:
            query = query.limit(limit)
        return self._read(lambda conn: [_catalog_record(r) for r in conn.execute(query)])

    def get_asset_events(
        self,
        asset_key: str,
        event_type: str = ASSET_MATERIALIZATION,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[EventRecord]:
        ids = (
            sa.select(asset_events.c.event_id)
            .where(asset_events.c.asset_key == asset_key, asset_events.c.event_type == event_type)
            .order_by(asset_events.c.event_id.desc())
            .limit(limit)
        )
        if before_id is not None:
            ids = ids.where(asset_events.c.event_id < before_id)
        query = (
            sa.select(event_logs)
            .where(event_logs.c.id.in_(ids.scalar_subquery()))
            .order_by(event_logs.c.id.desc())
        )
        return self._read(lambda conn: [event_from_row(r) for r in conn.execute(query)])

    def get_asset_check_executions(
        self,
        asset_key: str,
        check_name: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
        latest_only: bool = False,
    ) -> list[AssetCheckExecutionRecord]:
        table = asset_check_executions
        query = sa.select(table).where(table.c.asset_key == asset_key)
        if check_name is not None:
            query = query.where(table.c.check_name == check_name)
        if before_id is not None:
            query = query.where(table.c.event_id < before_id)
        if latest_only:
            newest = (
                sa.select(sa.func.max(table.c.event_id))
                .where(table.c.asset_key == asset_key)
                .group_by(table.c.check_name)
            )
            query = query.where(table.c.event_id.in_(newest.scalar_subquery()))
        query = query.order_by(table.c.event_id.desc()).limit(limit)

        def read(conn: Connection) -> list[AssetCheckExecutionRecord]:
            return [
                AssetCheckExecutionRecord(
                    event_id=r.event_id,
                    asset_key=r.asset_key,
                    check_name=r.check_name,
                    run_id=r.run_id,
                    timestamp=r.timestamp,
                    passed=bool(r.passed),
                    severity=r.severity,
                    data=json.loads(r.data),
                )
                for r in conn.execute(query)
            ]

        return self._read(read)

    def wipe_assets(self, asset_keys: Sequence[str]) -> int:
        keys = list(asset_keys)
        if not keys:
            return 0
        with self._begin() as conn:
            ids = sa.select(asset_events.c.event_id).where(asset_events.c.asset_key.in_(keys))
            conn.execute(event_logs.delete().where(event_logs.c.id.in_(ids.scalar_subquery())))
            conn.execute(asset_events.delete().where(asset_events.c.asset_key.in_(keys)))
            conn.execute(
                asset_check_executions.delete().where(asset_check_executions.c.asset_key.in_(keys))
            )
            return conn.execute(catalog.delete().where(catalog.c.asset_key.in_(keys))).rowcount


__all__ = ["ASSET_OBSERVATION", "AssetCatalogSql", "has_asset_events", "index_asset_events"]


# PostgreSQL: a Celery step's completion with asset events stays one statement (as
# PG_COMPLETE_ATTEMPT): the events' insert hands its rows to CTEs that index them. A
# transaction of separate statements cost 1.6x the op's step on the fleet's fan-out
# (benchmarks/assets.py --suite assets_celery). Observations take the transaction
# (both upserts would touch one key's row twice in one statement).
_KEY_OF_DATA = "array_to_string(ARRAY(SELECT json_array_elements_text(CAST(data AS json) -> 'asset_key')), '/')"


def _pg_moving_conflict() -> str:
    """The ON CONFLICT clause of the PostgreSQL moving upsert, as SQL text: the one-statement
    completion below moves a key's row by the same rule as store_events."""
    upsert = _moving_upsert("postgresql", _MATERIALIZATION_COLUMNS)
    compiled = str(upsert.compile(dialect=postgresql.dialect()))
    return compiled[compiled.index("ON CONFLICT") :]


_ASSET_CTES = f"""
    asset_rows AS (
        SELECT id, event_type, run_id, timestamp, data, {_KEY_OF_DATA} AS asset_key
        FROM inserted
        WHERE event_type IN ('{ASSET_MATERIALIZATION}', '{ASSET_CHECK_EVALUATION}')
    ),
    indexed AS (
        INSERT INTO asset_events (event_id, asset_key, event_type, run_id, timestamp)
        SELECT id, asset_key, event_type, run_id, timestamp FROM asset_rows
        ON CONFLICT DO NOTHING
    ),
    checked AS (
        INSERT INTO asset_check_executions
            (event_id, asset_key, check_name, run_id, timestamp, passed, severity, data)
        SELECT id, asset_key, CAST(data AS json) ->> 'check_name', run_id, timestamp,
            CAST(CAST(data AS json) ->> 'passed' AS boolean),
            COALESCE(CAST(data AS json) ->> 'severity', 'ERROR'), data
        FROM asset_rows WHERE event_type = '{ASSET_CHECK_EVALUATION}'
        ON CONFLICT DO NOTHING
    ),
    newest AS (
        SELECT DISTINCT ON (asset_key) asset_key, id, timestamp, run_id, data,
            count(*) OVER (PARTITION BY asset_key) AS added
        FROM asset_rows WHERE event_type = '{ASSET_MATERIALIZATION}'
        ORDER BY asset_key, id DESC
    ),
    cataloged AS (
        INSERT INTO asset_keys (asset_key, last_materialization_id, last_materialization_at,
            last_materialization_run_id, last_materialization_data, materialization_count)
        SELECT asset_key, id, timestamp, run_id, data, added FROM newest ORDER BY asset_key
        {_pg_moving_conflict()}
    )"""


def _with_asset_ctes(statement: str) -> str:
    marker = "        RETURNING id\n    )\n"
    if statement.count(marker) != 1:
        raise RuntimeError("PG_COMPLETE_ATTEMPT changed: update opgraph_storage.assets_sql")
    returning = "        RETURNING id, event_type, run_id, timestamp, data\n    ),"
    return statement.replace(marker, returning + _ASSET_CTES + "\n")


PG_COMPLETE_ATTEMPT_WITH_ASSETS = sa.text(_with_asset_ctes(PG_COMPLETE_ATTEMPT.text))


def has_observations(rows: Sequence[tuple[Any, ...]]) -> bool:
    return any(row[_TYPE] == ASSET_OBSERVATION for row in rows)

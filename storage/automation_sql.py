"""SQL of declarative automation (mixed into SqlStorage)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from opgraph_storage.automation_base import (
    AutomationEvaluationRecord,
    AutomationStorage,
    AutomationTick,
    AutomationTickExists,
)
from opgraph_storage.schema import (
    asset_partitions,
    automation_asset_states,
    automation_evaluations,
    automation_ticks,
)

_CHUNK = 1000  # rows per statement (SQLite's bound-parameter limit)


def _tick(row: Any) -> AutomationTick:
    return AutomationTick(
        evaluation_id=row.evaluation_id,
        status=row.status,
        timestamp=row.timestamp,
        num_evaluated=row.num_evaluated,
        num_requested=row.num_requested,
        data=json.loads(row.data),
        updated_at=row.updated_at,
    )


class AutomationSql(AutomationStorage):
    """Mixed into SqlStorage: uses its read and write transactions."""

    _read: Any
    _begin: Any

    def commit_automation_tick(
        self,
        tick: AutomationTick,
        states: Mapping[str, dict[str, Any]],
        evaluations: Sequence[AutomationEvaluationRecord],
    ) -> None:
        try:
            with self._begin() as conn:
                conn.execute(
                    automation_ticks.insert().values(
                        evaluation_id=tick.evaluation_id,
                        status=tick.status,
                        timestamp=tick.timestamp,
                        num_evaluated=tick.num_evaluated,
                        num_requested=tick.num_requested,
                        data=json.dumps(tick.data),
                        updated_at=tick.updated_at or tick.timestamp,
                    )
                )
                self._upsert_states(conn, tick.evaluation_id, states)
                rows = [
                    {
                        "evaluation_id": e.evaluation_id,
                        "asset_key": e.asset_key,
                        "timestamp": e.timestamp,
                        "num_requested": e.num_requested,
                        "data": json.dumps(e.data),
                    }
                    for e in evaluations
                ]
                for start in range(0, len(rows), _CHUNK):
                    conn.execute(automation_evaluations.insert(), rows[start : start + _CHUNK])
        except sa.exc.IntegrityError as exc:
            raise AutomationTickExists(
                f"automation evaluation {tick.evaluation_id} was committed by another daemon"
            ) from exc

    @staticmethod
    def _upsert_states(
        conn: Connection, evaluation_id: int, states: Mapping[str, dict[str, Any]]
    ) -> None:
        if not states:
            return
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
            automation_asset_states
        )
        statement = insert.on_conflict_do_update(
            index_elements=["asset_key"],
            set_={"evaluation_id": insert.excluded.evaluation_id, "data": insert.excluded.data},
        )
        rows = [
            {"asset_key": key, "evaluation_id": evaluation_id, "data": json.dumps(state)}
            for key, state in sorted(states.items())  # one lock order for every writer
        ]
        for start in range(0, len(rows), _CHUNK):
            conn.execute(statement, rows[start : start + _CHUNK])

    def update_automation_tick(
        self, evaluation_id: int, status: str, data: dict[str, Any], now: float
    ) -> None:
        with self._begin() as conn:
            conn.execute(
                automation_ticks.update()
                .where(automation_ticks.c.evaluation_id == evaluation_id)
                .values(status=status, data=json.dumps(data), updated_at=now)
            )

    def get_automation_ticks(
        self, limit: int = 20, before_id: int | None = None
    ) -> list[AutomationTick]:
        query = sa.select(automation_ticks).order_by(automation_ticks.c.evaluation_id.desc())
        if before_id is not None:
            query = query.where(automation_ticks.c.evaluation_id < before_id)
        query = query.limit(limit)
        return self._read(lambda conn: [_tick(row) for row in conn.execute(query)])

    def get_automation_states(self) -> dict[str, dict[str, Any]]:
        query = sa.select(automation_asset_states.c.asset_key, automation_asset_states.c.data)
        return self._read(lambda conn: {k: json.loads(d) for k, d in conn.execute(query)})

    def get_automation_evaluations(
        self, asset_key: str, limit: int = 20, before_id: int | None = None
    ) -> list[AutomationEvaluationRecord]:
        table = automation_evaluations
        query = sa.select(table).where(table.c.asset_key == asset_key)
        if before_id is not None:
            query = query.where(table.c.id < before_id)
        query = query.order_by(table.c.id.desc()).limit(limit)

        def read(conn: Connection) -> list[AutomationEvaluationRecord]:
            return [
                AutomationEvaluationRecord(
                    id=row.id,
                    evaluation_id=row.evaluation_id,
                    asset_key=row.asset_key,
                    timestamp=row.timestamp,
                    num_requested=row.num_requested,
                    data=json.loads(row.data),
                )
                for row in conn.execute(query)
            ]

        return self._read(read)

    def purge_automation_records(self, before: float) -> int:
        with self._begin() as conn:
            newest = conn.execute(sa.select(sa.func.max(automation_ticks.c.evaluation_id))).scalar()
            evaluations = conn.execute(
                automation_evaluations.delete().where(automation_evaluations.c.timestamp < before)
            ).rowcount
            ticks = conn.execute(
                automation_ticks.delete().where(
                    automation_ticks.c.timestamp < before,
                    automation_ticks.c.evaluation_id != (newest or -1),
                    automation_ticks.c.status != "STARTED",
                )
            ).rowcount
            return int(evaluations or 0) + int(ticks or 0)

    def get_materialized_partitions(
        self, asset_key: str
    ) -> dict[str, tuple[int, float, str | None]]:
        table = asset_partitions
        query = sa.select(
            table.c.partition_key,
            table.c.last_materialization_id,
            table.c.updated_at,
            table.c.last_run_id,
        ).where(table.c.asset_key == asset_key, table.c.last_materialization_id.is_not(None))
        return self._read(
            lambda conn: {key: (i, at, run) for key, i, at, run in conn.execute(query)}
        )

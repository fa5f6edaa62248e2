"""SQL that writes events: the batched event inserts of both dialects and PostgreSQL's
one-statement completion of a step attempt (status, outputs and events together)."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opgraph_storage.daemon_notify import RUN_QUEUE_CHANNEL
from opgraph_storage.pg_notify import CHANNEL
from opgraph_storage.schema import event_logs
from opgraph_storage.steps import OutputRow

_EVENT_COLUMNS = "run_id, event_type, step_key, attempt, level, message, timestamp, data"
_OUTPUT_COLUMNS = "run_id, step_key, output_name, mapping_key, value, created_at"

# executemany; ids come from last_insert_rowid() (see insert_events_sqlite).
_SQLITE_INSERT_EVENTS = f"INSERT INTO event_logs ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

# The fragments both PostgreSQL statements share: lock the batch's runs (sorted, so two
# writers never wait on each other crosswise) and insert the events from column arrays.
_LOCK_RUNS = """SELECT pg_advisory_xact_lock(hashtext('opgraph_run:' || run_id))
        FROM (SELECT DISTINCT run_id FROM unnest(CAST(:notify AS text[])) AS run_id
              ORDER BY run_id) AS runs_to_lock"""
_INSERT_EVENT_ARRAYS = f"""INSERT INTO event_logs ({_EVENT_COLUMNS})
        SELECT {_EVENT_COLUMNS}
        FROM unnest(
            CAST(:run_id AS text[]), CAST(:event_type AS text[]), CAST(:step_key AS text[]),
            CAST(:attempt AS integer[]), CAST(:level AS text[]), CAST(:message AS text[]),
            CAST(:timestamp AS double precision[]), CAST(:data AS text[])
        ) WITH ORDINALITY AS batch({_EVENT_COLUMNS}, position)"""

# One statement, one round trip, the same text for any batch size: rows travel as one
# array per column, are inserted in batch order (so ids increase in batch order), and
# each distinct run id is notified once; notifications go out when the insert commits.
# Writers of one run first take a transaction-level advisory lock on it (in sorted order,
# as an InitPlan, so before any id is drawn): ids of a run's events then increase in
# commit order, and a reader following a run by id never skips an event that a slower
# concurrent transaction committed later with a smaller id.
_PG_INSERT_EVENTS = sa.text(
    f"""
    WITH locked AS (
        {_LOCK_RUNS}
    ),
    inserted AS (
        {_INSERT_EVENT_ARRAYS}
        WHERE (SELECT count(*) FROM locked) >= 0
        ORDER BY position
        RETURNING id
    )
    SELECT inserted.id FROM inserted
    CROSS JOIN (
        SELECT count(pg_notify('{CHANNEL}', run_id)) FROM unnest(CAST(:notify AS text[])) AS run_id
    ) AS notified
    ORDER BY inserted.id
    """
)


# The events of a compare-and-set statement whose CTE `moved` has a row only if it moved:
# lock the runs and insert the events as _PG_INSERT_EVENTS does, only then.
_IF_MOVED_LOCK_AND_INSERT = f"""locked AS (
        {_LOCK_RUNS}
        WHERE EXISTS (SELECT 1 FROM moved)
    ),
    inserted AS (
        {_INSERT_EVENT_ARRAYS}
        WHERE (SELECT count(*) FROM locked) >= 0 AND EXISTS (SELECT 1 FROM moved)
        ORDER BY position
        RETURNING id
    )"""

# One autocommitted statement: finish a RUNNING attempt (compare-and-set) and, only if it
# moved, store its outputs and lock the run and insert the events as _PG_INSERT_EVENTS
# does. It returns whether the attempt moved.
PG_COMPLETE_ATTEMPT = sa.text(
    f"""
    WITH moved AS (
        UPDATE step_attempts SET status = :to_status, ended_at = :now, reason = :why
        WHERE attempt_id = :attempt_id AND status = 'RUNNING' RETURNING attempt_id
    ),
    stored AS (
        INSERT INTO step_outputs ({_OUTPUT_COLUMNS})
        SELECT {_OUTPUT_COLUMNS}
        FROM unnest(
            CAST(:out_run_id AS text[]), CAST(:out_step_key AS text[]),
            CAST(:out_output_name AS text[]), CAST(:out_mapping_key AS text[]),
            CAST(:out_value AS bytea[]), CAST(:out_created_at AS double precision[])
        ) AS output({_OUTPUT_COLUMNS})
        WHERE EXISTS (SELECT 1 FROM moved)
        ON CONFLICT (run_id, step_key, output_name, mapping_key)
        DO UPDATE SET value = EXCLUDED.value, created_at = EXCLUDED.created_at
    ),
    {_IF_MOVED_LOCK_AND_INSERT}
    SELECT (SELECT count(*) FROM moved)
        + 0 * (SELECT count(*) FROM inserted)
        + 0 * (SELECT count(pg_notify('{CHANNEL}', run_id))
               FROM unnest(CAST(:notify AS text[])) AS run_id
               WHERE EXISTS (SELECT 1 FROM moved))
    """
)


# One autocommitted statement for a run lifecycle event that moves the run: the
# compare-and-set of its status (whose row lock serializes appends to one run, as the
# FOR UPDATE of the transactional path does) and, only if it moved, the event inserted as
# _PG_INSERT_EVENTS does, the run notified, and the run queue woken when `:wake_queue`.
# One round trip instead of five (lock, update, insert, notify, commit): each run makes
# four such moves (queued, starting, started, finished). Returns the event's id, or no
# row when the run was not in an allowed status (the caller then takes the locked path,
# which tells why). `:notify_now` false (with `:wake_queue` false): no NOTIFY at all, the
# caller sends them after the commit (opgraph_storage.after_commit_notify).
PG_MOVE_RUN = sa.text(
    f"""
    WITH moved AS (
        UPDATE runs SET status = :to_status, updated_at = :now,
            started_at = CASE WHEN :set_started THEN :at ELSE started_at END,
            ended_at = CASE WHEN :set_ended THEN :at ELSE ended_at END
        WHERE run_id = :the_run AND status = ANY(CAST(:allowed AS text[]))
        RETURNING run_id
    ),
    {_IF_MOVED_LOCK_AND_INSERT}
    SELECT inserted.id,
        (SELECT count(pg_notify('{CHANNEL}', run_id))
         FROM unnest(CAST(:notify AS text[])) AS run_id WHERE CAST(:notify_now AS boolean)),
        (SELECT count(pg_notify('{RUN_QUEUE_CHANNEL}', '')) WHERE CAST(:wake_queue AS boolean))
    FROM inserted
    """
)


def output_arrays(outputs: Sequence[OutputRow]) -> dict[str, Any]:
    """Outputs as one array per column, for the unnest() in PG_COMPLETE_ATTEMPT."""
    return {
        f"out_{column}": [output[column] for output in outputs]
        for column in _OUTPUT_COLUMNS.split(", ")
    }


def event_arrays(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Events as one array per column (and the runs to notify), for the unnest() inserts."""
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [[]] * 8
    params: dict[str, Any] = dict(zip(_EVENT_COLUMNS.split(", "), map(list, columns), strict=True))
    params["notify"] = list(dict.fromkeys(columns[0]))
    return params


def insert_events_sqlite(conn: Connection, rows: list[tuple[Any, ...]]) -> list[int]:
    conn.exec_driver_sql(_SQLITE_INSERT_EVENTS, rows)
    last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    # The transaction holds SQLite's only write lock, so the batch got consecutive ids.
    return list(range(last - len(rows) + 1, last + 1))


def insert_events_postgres(conn: Connection, rows: list[tuple[Any, ...]]) -> list[int]:
    return list(conn.execute(_PG_INSERT_EVENTS, event_arrays(rows)).scalars())


def landed_event_ids(conn: Connection, rows: list[tuple[Any, ...]]) -> list[int] | None:
    """The ids of a batch whose insert may have committed with its answer lost, or None if
    it is not stored. A batch is one statement or transaction, so it landed whole or not
    at all; each row is matched to the next stored event with the same content (the
    timestamps tell one event from another)."""
    timestamps = [row[6] for row in rows]
    found = conn.execute(
        sa.select(event_logs.c.id, *(event_logs.c[name] for name in _EVENT_COLUMNS.split(", ")))
        .where(
            event_logs.c.run_id.in_({row[0] for row in rows}),
            event_logs.c.timestamp.between(min(timestamps), max(timestamps)),
        )
        .order_by(event_logs.c.id)
    )
    ids_by_content: dict[tuple[Any, ...], deque[int]] = defaultdict(deque)
    for stored in found:
        ids_by_content[tuple(stored[1:])].append(stored[0])
    ids = []
    for row in rows:
        matches = ids_by_content.get(row)
        if not matches:
            return None
        ids.append(matches.popleft())
    return ids

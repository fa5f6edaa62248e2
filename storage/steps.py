"""SQL for the step tables: attempts (the claim) and outputs. The Celery executor writes them.

Why these tables stay in the core's schema and migration history, though the Celery
executor is a plugin: they are not Celery's. A step attempt is "one try of one step in
another process" (any remote executor claims, heartbeats and completes one); the core
reads them too: run monitoring stops a dead run's live attempts before resuming it
(opgraph.daemon.remote_steps), retention deletes them with their run, `/metrics` counts
them, and outputs held in the database belong to the IO manager, not to Celery. Moving
them into a migration branch of the plugin would split one Alembic history into two that
must be upgraded in step on every deployment (and every old database already has them,
from migration 0002), for no change in who may read them.

Each function runs on a connection SqlStorage chose for it; the writes are one statement
each, so on PostgreSQL they are one autocommitted round trip (see `SqlStorage._write_one`).
A compare-and-set is one `UPDATE ... WHERE attempt_id = :id AND status IN (...)`: the
database serializes racing updates of a row, and only the first still matches.

The hot statements are built once, with bound parameters: building a Core statement per
call cost more than the statement itself (about 0.2 ms of 0.6 ms for a claim on a local
PostgreSQL, 0.14 of 0.22 ms on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opgraph_storage.records import StepAttempt, StepAttemptStatus
from opgraph_storage.rows import attempt_from_row, attempt_values, enum_text
from opgraph_storage.schema import step_attempts, step_outputs

# An output without a mapping key is stored under '' (mapping keys are never empty): the
# key columns must be NOT NULL for the unique key to hold on both dialects.
NO_MAPPING_KEY = ""
OUTPUT_KEY = ["run_id", "step_key", "output_name", "mapping_key"]
OutputRow = dict[str, Any]  # a step_outputs row, as output_row() makes it

_attempt = step_attempts.c
_output = step_outputs.c

# Parameter names differ from the column names: SQLAlchemy reserves those for SET values.
_CLAIM = (
    step_attempts.update()
    .where(
        _attempt.attempt_id == sa.bindparam("id"), _attempt.status == StepAttemptStatus.QUEUED.value
    )
    .values(
        status=StepAttemptStatus.RUNNING.value,
        hostname=sa.bindparam("by_hostname"),
        pid=sa.bindparam("by_pid"),
        started_at=sa.bindparam("now"),
        heartbeat_at=sa.bindparam("now"),
    )
)
_FINISH = (
    step_attempts.update()
    .where(
        _attempt.attempt_id == sa.bindparam("id"),
        _attempt.status.in_(sa.bindparam("from_statuses", expanding=True)),
    )
    .values(
        status=sa.bindparam("to_status"), ended_at=sa.bindparam("now"), reason=sa.bindparam("why")
    )
)
_HEARTBEAT = (
    step_attempts.update()
    .where(
        _attempt.attempt_id.in_(sa.bindparam("ids", expanding=True)),
        _attempt.status == StepAttemptStatus.RUNNING.value,
    )
    .values(heartbeat_at=sa.bindparam("now"))
)
_GET_OUTPUT = sa.select(_output.value).where(
    *(step_outputs.c[key] == sa.bindparam(key) for key in OUTPUT_KEY)
)


def insert_attempts(conn: Connection, attempts: Sequence[StepAttempt]) -> None:
    conn.execute(step_attempts.insert(), [attempt_values(attempt) for attempt in attempts])


def duplicate_attempts_message(attempts: Sequence[StepAttempt]) -> str:
    shown = ", ".join(repr(a.attempt_id) for a in attempts[:5])
    more = f" and {len(attempts) - 5} more" if len(attempts) > 5 else ""
    return (
        f"a step attempt with one of the ids {shown}{more} already exists, so none of "
        "them was added: every attempt needs a new id (its Celery task id)"
    )


def claim_attempt(conn: Connection, attempt_id: str, hostname: str, pid: int, now: float) -> bool:
    params = {"id": attempt_id, "by_hostname": hostname, "by_pid": pid, "now": now}
    return conn.execute(_CLAIM, params).rowcount == 1


def finish_attempt(
    conn: Connection,
    attempt_id: str,
    status: StepAttemptStatus,
    now: float,
    reason: str | None,
    from_statuses: Iterable[StepAttemptStatus],
) -> bool:
    params = {
        "id": attempt_id,
        "from_statuses": [enum_text(s) for s in from_statuses],
        "to_status": enum_text(status),
        "now": now,
        "why": reason,
    }
    return conn.execute(_FINISH, params).rowcount == 1


def heartbeat_attempts(conn: Connection, attempt_ids: Sequence[str], now: float) -> None:
    conn.execute(_HEARTBEAT, {"ids": list(attempt_ids), "now": now})


def attempts_query(
    run_id: str | None,
    statuses: Iterable[StepAttemptStatus] | None,
    attempt_ids: Sequence[str] | None,
) -> sa.Select[Any]:
    """A run's attempts in some statuses (the run page's queued and running steps, once a
    second while it is open) is a range scan of ix_step_attempts_run_id_status."""
    query = sa.select(step_attempts)
    if run_id is not None:
        query = query.where(_attempt.run_id == run_id)
    if statuses is not None:
        query = query.where(_attempt.status.in_([enum_text(s) for s in statuses]))
    if attempt_ids is not None:
        query = query.where(_attempt.attempt_id.in_(attempt_ids))
    # Attempt ids are Celery task ids (random): they only make the order total.
    return query.order_by(_attempt.queued_at, _attempt.attempt_id)


def select_attempts(
    conn: Connection,
    run_id: str | None,
    statuses: Iterable[StepAttemptStatus] | None,
    attempt_ids: Sequence[str] | None,
) -> list[StepAttempt]:
    query = attempts_query(run_id, statuses, attempt_ids)
    return [attempt_from_row(row) for row in conn.execute(query)]


def throughput_query(
    queues: Sequence[str], since: float, bucket_seconds: float, buckets: int
) -> sa.Select[Any]:
    """queue, then per window the count of attempts ended before the window's end."""
    ends = [since + bucket_seconds * (i + 1) for i in range(buckets)]
    before = [sa.func.sum(sa.case((_attempt.ended_at < end, 1), else_=0)) for end in ends]
    return (
        sa.select(_attempt.queue, *before)
        .where(
            _attempt.queue.in_(list(queues)),
            _attempt.ended_at >= since,
            _attempt.ended_at < ends[-1],
        )
        .group_by(_attempt.queue)
    )


def select_throughput(
    conn: Connection, queues: Sequence[str], since: float, bucket_seconds: float, buckets: int
) -> dict[str, list[int]]:
    """Ended attempts per queue and window (see StepAttemptStorage.get_step_throughput).

    Each window is a conditional count of "ended before its end", as the `/metrics`
    histograms count (storage/stats.py): the same SQL on both dialects, where a bucket
    number from arithmetic would not be (PostgreSQL rounds a float cast to an integer,
    SQLite truncates it). `queue IN (...) AND ended_at` in range is a few range scans of
    ix_step_attempts_queue_ended_at: the cost follows the attempts in the window, not the
    table's history."""
    found = {queue: [0] * buckets for queue in queues}
    if not queues or buckets < 1:
        return found
    for queue, *cumulative in conn.execute(
        throughput_query(queues, since, bucket_seconds, buckets)
    ):
        counts = [int(n or 0) for n in cumulative]
        found[queue] = [n - (counts[i - 1] if i else 0) for i, n in enumerate(counts)]
    return found


def output_row(
    run_id: str,
    step_key: str,
    output_name: str,
    mapping_key: str | None,
    value: bytes,
    now: float,
) -> OutputRow:
    return {
        "run_id": run_id,
        "step_key": step_key,
        "output_name": output_name,
        "mapping_key": NO_MAPPING_KEY if mapping_key is None else mapping_key,
        "value": value,
        "created_at": now,
    }


def select_output(
    conn: Connection, run_id: str, step_key: str, output_name: str, mapping_key: str | None
) -> bytes | None:
    params = {
        "run_id": run_id,
        "step_key": step_key,
        "output_name": output_name,
        "mapping_key": NO_MAPPING_KEY if mapping_key is None else mapping_key,
    }
    value = conn.execute(_GET_OUTPUT, params).scalar()
    return None if value is None else bytes(value)


OutputKey = tuple[str, str, str, str | None]  # run id, step key, output name, mapping key
_OUTPUTS_PER_QUERY = 500


def select_outputs(conn: Connection, keys: Sequence[OutputKey]) -> dict[OutputKey, bytes]:
    """The stored values of `keys` (those that exist), a few hundred per query."""
    columns = [step_outputs.c[key] for key in OUTPUT_KEY]
    found: dict[OutputKey, bytes] = {}
    for start in range(0, len(keys), _OUTPUTS_PER_QUERY):
        chunk = [
            (run_id, step_key, name, NO_MAPPING_KEY if mapping_key is None else mapping_key)
            for run_id, step_key, name, mapping_key in keys[start : start + _OUTPUTS_PER_QUERY]
        ]
        query = sa.select(*columns, _output.value).where(sa.tuple_(*columns).in_(chunk))
        for row in conn.execute(query):
            mapping_key = None if row.mapping_key == NO_MAPPING_KEY else row.mapping_key
            found[(row.run_id, row.step_key, row.output_name, mapping_key)] = bytes(row.value)
    return found

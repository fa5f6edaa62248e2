"""SQL for the daemon: its lease, claims on queued runs, finished runs, and retention.

Each function runs on a connection SqlStorage chose for it (a write transaction where
it writes more than one statement). Dialect differences are the `postgres` flag:
`SELECT ... FOR UPDATE [SKIP LOCKED]` and an advisory lock exist only on PostgreSQL;
on SQLite a write transaction (`BEGIN IMMEDIATE`) already excludes every other writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opgraph_storage.records import DaemonLease, RunRecord, RunStatus
from opgraph_storage.rows import enum_text, run_from_row
from opgraph_storage.schema import (
    daemon_leases,
    event_logs,
    run_claims,
    run_tags,
    runs,
    step_attempts,
    step_outputs,
    ticks,
)

# Any constant: it only has to be the same in every opgraph process.
_PG_QUEUE_LOCK_KEY = 0x6F70_7175_6575_65
IN_PROGRESS = (RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING)
_IN_CHUNK = 500

ChooseRuns = Callable[[list[RunRecord], list[RunRecord]], list[str]]


# -- the lease ------------------------------------------------------------------------------
def acquire_lease(
    conn: Connection,
    postgres: bool,
    name: str,
    holder: str,
    host: str,
    pid: int,
    now: float,
    duration: float,
) -> DaemonLease | None:
    """Take or renew the lease; None while another holder's lease has not expired."""
    query = sa.select(daemon_leases).where(daemon_leases.c.name == name)
    if postgres:
        query = query.with_for_update()  # two standbys racing for an expired lease queue here
    row = conn.execute(query).first()
    if row is None:
        lease = DaemonLease(name, holder, host, pid, now, now, now + duration, 1)
        conn.execute(daemon_leases.insert().values(_lease_values(lease)))
        return lease
    current = _lease_from_row(row)
    if current.holder == holder:
        lease = DaemonLease(
            name, holder, host, pid, current.acquired_at, now, now + duration, current.generation
        )
    elif current.expires_at <= now:
        lease = DaemonLease(
            name, holder, host, pid, now, now, now + duration, current.generation + 1
        )
    else:
        return None
    conn.execute(
        daemon_leases.update().where(daemon_leases.c.name == name).values(_lease_values(lease))
    )
    return lease


def release_lease(conn: Connection, name: str, holder: str, now: float) -> None:
    """Expire the lease now if `holder` has it: a standby takes over at its next try."""
    conn.execute(
        daemon_leases.update()
        .where(daemon_leases.c.name == name, daemon_leases.c.holder == holder)
        .values(expires_at=now)
    )


def get_lease(conn: Connection, name: str) -> DaemonLease | None:
    row = conn.execute(sa.select(daemon_leases).where(daemon_leases.c.name == name)).first()
    return None if row is None else _lease_from_row(row)


def _lease_values(lease: DaemonLease) -> dict[str, Any]:
    return {
        "name": lease.name,
        "holder": lease.holder,
        "host": lease.host,
        "pid": lease.pid,
        "acquired_at": lease.acquired_at,
        "renewed_at": lease.renewed_at,
        "expires_at": lease.expires_at,
        "generation": lease.generation,
    }


def _lease_from_row(row: Any) -> DaemonLease:
    return DaemonLease(
        row.name,
        row.holder,
        row.host,
        row.pid,
        row.acquired_at,
        row.renewed_at,
        row.expires_at,
        row.generation,
    )


# -- the run queue --------------------------------------------------------------------------
def claim_queued_runs(
    conn: Connection,
    postgres: bool,
    claimant: str,
    now: float,
    choose: ChooseRuns,
    claim_ttl: float,
) -> list[RunRecord]:
    """In one write transaction: read the runs in progress (claimed ones included) and the
    unclaimed QUEUED ones, let `choose` pick, and claim the picked runs.

    PostgreSQL: an advisory lock makes dequeuers take turns, so two of them never both
    count the same free slot; `FOR UPDATE SKIP LOCKED` passes over queued rows another
    transaction is changing (e.g. a cancel) instead of waiting for it."""
    if postgres:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_QUEUE_LOCK_KEY})
    live_claims = sa.select(run_claims.c.run_id).where(run_claims.c.claimed_at > now - claim_ttl)
    queued_status = RunStatus.QUEUED.value
    busy_query = sa.select(runs).where(
        sa.or_(
            runs.c.status.in_([s.value for s in IN_PROGRESS]),
            sa.and_(runs.c.status == queued_status, runs.c.run_id.in_(live_claims)),
        )
    )
    queued_query = (
        sa.select(runs)
        .where(runs.c.status == queued_status, runs.c.run_id.not_in(live_claims))
        .order_by(runs.c.id)
    )
    if postgres:
        queued_query = queued_query.with_for_update(of=runs, skip_locked=True)
    busy = _with_tags(conn, conn.execute(busy_query).all())
    queued = _with_tags(conn, conn.execute(queued_query).all())
    chosen_ids = choose(queued, busy)
    if not chosen_ids:
        return []
    by_id = {run.run_id: run for run in queued}
    chosen = [by_id[run_id] for run_id in chosen_ids]
    conn.execute(run_claims.delete().where(run_claims.c.run_id.in_(chosen_ids)))  # void ones
    conn.execute(
        run_claims.insert(),
        [{"run_id": r, "claimed_by": claimant, "claimed_at": now} for r in chosen_ids],
    )
    return chosen


def release_run_claims(conn: Connection, run_ids: Sequence[str]) -> None:
    conn.execute(run_claims.delete().where(run_claims.c.run_id.in_(list(run_ids))))


def queue_signature(conn: Connection) -> tuple[Any, ...]:
    """Changes whenever a run is queued, starts or finishes (SQLite has no NOTIFY)."""
    watched = [RunStatus.QUEUED.value, *(s.value for s in IN_PROGRESS)]
    query = (
        sa.select(runs.c.status, sa.func.count(), sa.func.max(runs.c.id))
        .where(runs.c.status.in_(watched))
        .group_by(runs.c.status)
        .order_by(runs.c.status)
    )
    return tuple(tuple(row) for row in conn.execute(query))


def _with_tags(conn: Connection, rows: Sequence[Any]) -> list[RunRecord]:
    tags: dict[str, dict[str, str]] = {}
    run_ids = [row.run_id for row in rows]
    for start in range(0, len(run_ids), _IN_CHUNK):
        query = sa.select(run_tags.c.run_id, run_tags.c.key, run_tags.c.value).where(
            run_tags.c.run_id.in_(run_ids[start : start + _IN_CHUNK])
        )
        for run_id, key, value in conn.execute(query):
            tags.setdefault(run_id, {})[key] = value
    return [run_from_row(row, tags.get(row.run_id, {})) for row in rows]


# -- finished runs and retention ------------------------------------------------------------
def finished_runs(
    conn: Connection, statuses: Iterable[RunStatus], ended_after: float, limit: int
) -> list[RunRecord]:
    query = (
        sa.select(runs)
        .where(runs.c.status.in_([enum_text(s) for s in statuses]), runs.c.ended_at > ended_after)
        .order_by(runs.c.ended_at, runs.c.id)
        .limit(limit)
    )
    return _with_tags(conn, conn.execute(query).all())


def finished_run_ids_before(
    conn: Connection, statuses: Iterable[RunStatus], ended_before: float, limit: int
) -> list[str]:
    query = (
        sa.select(runs.c.run_id)
        .where(runs.c.status.in_([enum_text(s) for s in statuses]), runs.c.ended_at < ended_before)
        .order_by(runs.c.ended_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def delete_runs(conn: Connection, run_ids: Sequence[str]) -> None:
    # The runs' rows first: they are the lock append_run_event takes (see SqlStorage).
    for table in (runs, run_tags, event_logs, step_attempts, step_outputs, run_claims):
        conn.execute(table.delete().where(table.c.run_id.in_(list(run_ids))))


def delete_ticks_before(conn: Connection, before: float) -> int:
    return conn.execute(ticks.delete().where(ticks.c.timestamp < before)).rowcount

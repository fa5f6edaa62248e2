"""The storage contract for the Celery executor's step attempts and database-held outputs:
every test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import Any

import pytest

from opgraph_storage import (
    FINISHED_ATTEMPT_STATUSES,
    RunRecord,
    StepAttempt,
    StepAttemptStatus,
    Storage,
    StorageError,
)

A = StepAttemptStatus


def attempt(attempt_id: str, run_id: str = "r1", **kwargs: Any) -> StepAttempt:
    kwargs.setdefault("step_key", f"step_{attempt_id}")
    kwargs.setdefault("attempt_number", 1)
    kwargs.setdefault("queued_at", 100.0)
    return StepAttempt(attempt_id=attempt_id, run_id=run_id, **kwargs)


def attempt_of(storage: Storage, attempt_id: str) -> StepAttempt:
    [found] = storage.get_step_attempts(attempt_ids=[attempt_id])
    return found


def ids(attempts: list[StepAttempt]) -> list[str]:
    return [a.attempt_id for a in attempts]


# -- step attempts ------------------------------------------------------------------------------
def test_added_attempts_round_trip_every_field(storage: Storage) -> None:
    full = attempt(
        "a1",
        step_key="load[part_7]",
        attempt_number=3,
        queue="gpu",
        priority=-5,
        queued_at=1700000000.123456,
        reason="héllo ✓",
    )
    plain = attempt("a2", queued_at=1700000001.0)
    storage.add_step_attempts([full, plain])
    storage.add_step_attempts([])
    assert storage.get_step_attempts() == [full, plain]
    assert attempt_of(storage, "a1").status is A.QUEUED


def test_adding_an_existing_attempt_id_adds_nothing_of_the_batch(storage: Storage) -> None:
    storage.add_step_attempts([attempt("a1")])
    with pytest.raises(StorageError, match="a1"):
        storage.add_step_attempts([attempt("a2"), attempt("a1", step_key="other")])
    # A batch too big for one statement is one transaction.
    with pytest.raises(StorageError, match="and 1496 more"):
        storage.add_step_attempts([*(attempt(f"b{i}") for i in range(1500)), attempt("a1")])
    assert ids(storage.get_step_attempts()) == ["a1"]
    assert attempt_of(storage, "a1").step_key == "step_a1"


def test_claim_is_compare_and_set(storage: Storage) -> None:
    storage.add_step_attempts([attempt("a1")])
    assert storage.claim_step_attempt("a1", "worker-1", 4242, now=200.5) is True
    claimed = attempt_of(storage, "a1")
    assert claimed == replace(
        attempt("a1"),
        status=A.RUNNING,
        hostname="worker-1",
        pid=4242,
        started_at=200.5,
        heartbeat_at=200.5,
    )
    # A redelivered or duplicate message finds it claimed: dropped, nothing changes.
    assert storage.claim_step_attempt("a1", "worker-2", 7, now=201.0) is False
    assert attempt_of(storage, "a1") == claimed
    assert storage.claim_step_attempt("missing", "worker-1", 1, now=202.0) is False
    assert storage.get_step_attempts(attempt_ids=["missing"]) == []


def test_finish_is_compare_and_set_from_the_given_statuses(storage: Storage) -> None:
    storage.add_step_attempts([attempt("ok"), attempt("never_claimed"), attempt("queued")])
    storage.claim_step_attempt("ok", "w", 1, now=200.0)

    assert storage.finish_step_attempt("ok", A.SUCCESS, now=210.0) is True
    done = attempt_of(storage, "ok")
    assert (done.status, done.ended_at, done.reason) == (A.SUCCESS, 210.0, None)
    assert (done.hostname, done.pid, done.started_at) == ("w", 1, 200.0)  # kept
    # Finished is final: neither a late failure, a sweeper nor a duplicate message moves it.
    assert storage.finish_step_attempt("ok", A.FAILURE, now=211.0, reason="late") is False
    assert storage.claim_step_attempt("ok", "w2", 2, now=212.0) is False
    assert attempt_of(storage, "ok") == done

    # No worker ever took it: lost straight from QUEUED, and then no longer claimable.
    lost = storage.finish_step_attempt("never_claimed", A.LOST, now=220.0, reason="no worker")
    assert lost is True
    found = attempt_of(storage, "never_claimed")
    assert (found.status, found.ended_at, found.reason) == (A.LOST, 220.0, "no worker")
    assert storage.claim_step_attempt("never_claimed", "w", 1, now=221.0) is False

    # A sweep for stale running attempts leaves a queued one alone.
    assert (
        storage.finish_step_attempt("queued", A.LOST, now=230.0, from_statuses=[A.RUNNING]) is False
    )
    assert attempt_of(storage, "queued").status is A.QUEUED
    assert storage.finish_step_attempt("missing", A.CANCELED, now=231.0) is False


def test_heartbeat_touches_only_running_attempts(storage: Storage) -> None:
    storage.add_step_attempts([attempt(i) for i in ("run1", "run2", "other", "queued", "done")])
    for attempt_id in ("run1", "run2", "other", "done"):
        storage.claim_step_attempt(attempt_id, "w", 1, now=200.0)
    storage.finish_step_attempt("done", A.SUCCESS, now=201.0)

    storage.heartbeat_step_attempts(["run1", "run2", "queued", "done", "missing"], now=300.0)
    storage.heartbeat_step_attempts([], now=400.0)
    beats = {a.attempt_id: a.heartbeat_at for a in storage.get_step_attempts()}
    assert beats == {"run1": 300.0, "run2": 300.0, "other": 200.0, "queued": None, "done": 200.0}


def test_get_step_attempts_filters_all_apply_oldest_first(storage: Storage) -> None:
    storage.add_step_attempts(
        [
            attempt("c", run_id="r1", queued_at=30.0),
            attempt("a", run_id="r1", queued_at=10.0),
            attempt("b", run_id="r2", queued_at=20.0),
            attempt("d", run_id="r1", queued_at=30.0),  # same time as c: ordered by id
        ]
    )
    storage.claim_step_attempt("a", "w", 1, now=40.0)
    storage.claim_step_attempt("b", "w", 1, now=40.0)
    storage.finish_step_attempt("d", A.CANCELED, now=50.0)

    def got(**filters: Any) -> list[str]:
        return ids(storage.get_step_attempts(**filters))

    assert got() == ["a", "b", "c", "d"]
    assert got(run_id="r1") == ["a", "c", "d"]
    assert got(run_id="nope") == []
    assert got(statuses=[A.RUNNING]) == ["a", "b"]
    assert got(statuses=FINISHED_ATTEMPT_STATUSES) == ["d"]
    assert got(statuses=iter([A.QUEUED, A.RUNNING]), run_id="r1") == ["a", "c"]
    assert got(attempt_ids=["d", "b", "zz"]) == ["b", "d"]
    assert got(attempt_ids=["a", "b", "c"], run_id="r1", statuses=[A.QUEUED]) == ["c"]
    assert got(statuses=[]) == []
    assert got(attempt_ids=[]) == []


def test_throughput_counts_ended_attempts_per_queue_and_window(storage: Storage) -> None:
    ended = {  # attempt id: (queue, status it ends in, when)
        "a1": ("fast", A.SUCCESS, 1000.0),  # first window, at its start
        "a2": ("fast", A.FAILURE, 1059.9),  # first window, at its end
        "a3": ("fast", A.SUCCESS, 1060.0),  # second window
        "a4": ("fast", A.LOST, 1179.0),  # third window
        "b1": ("slow", A.SUCCESS, 1100.0),
        "x1": ("fast", A.SUCCESS, 999.9),  # before the windows
        "x2": ("fast", A.SUCCESS, 1180.0),  # after them
        "x3": ("other", A.SUCCESS, 1010.0),  # a queue not asked for
    }
    live = {"q1": "fast", "r1": "fast"}  # still queued, still running: not counted
    storage.add_step_attempts(
        [attempt(i, queue=q) for i, (q, _, _) in ended.items()]
        + [attempt(i, queue=q) for i, q in live.items()]
    )
    storage.claim_step_attempt("r1", "w", 1, now=1001.0)
    for attempt_id, (_, status, when) in ended.items():
        storage.claim_step_attempt(attempt_id, "w", 1, now=when - 1)
        assert storage.finish_step_attempt(attempt_id, status, now=when)

    found = storage.get_step_throughput(["fast", "slow", "idle"], 1000.0, 60.0, 3)
    assert found == {"fast": [2, 1, 1], "slow": [0, 1, 0], "idle": [0, 0, 0]}
    assert storage.get_step_throughput([], 1000.0, 60.0, 3) == {}
    assert storage.get_step_throughput(["fast"], 1000.0, 1.0, 1) == {"fast": [1]}


def test_throughput_reads_the_queue_index(storage: Storage) -> None:
    """Bounded by the window's attempts: the plan is a range scan of the (queue, ended_at)
    index, not a scan of every attempt ever made (the table is small here, so the
    planner is told to prefer an index where it can use one)."""
    from opgraph_storage.steps import throughput_query

    engine = storage.engine  # type: ignore[attr-defined]
    query = throughput_query(["fast", "slow"], 1000.0, 60.0, 60)
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
        else:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            plan = "\n".join(str(row[-1]) for row in rows)
    assert "ix_step_attempts_queue_ended_at" in plan, plan


def test_a_runs_live_attempts_are_read_in_one_indexed_query(storage: Storage) -> None:
    """The run page asks for a run's QUEUED and RUNNING attempts once a second: they come
    with their queue, queue time and claimer, other runs' and ended attempts left out, and
    the plan is a range scan of the (run_id, status) index, not of every attempt."""
    from opgraph_storage.steps import attempts_query

    storage.add_step_attempts(
        [
            attempt("waits", step_key="b", queue="gpu", queued_at=20.0),
            attempt("runs", step_key="a", queue="cpu", queued_at=10.0),
            attempt("ended", step_key="c", queue="cpu", queued_at=5.0),
            attempt("other", run_id="r2", step_key="b", queue="gpu", queued_at=1.0),
        ]
    )
    assert storage.claim_step_attempt("runs", "host-1", 42, now=11.0)
    assert storage.claim_step_attempt("ended", "host-1", 42, now=6.0)
    assert storage.finish_step_attempt("ended", A.SUCCESS, now=7.0)

    live = storage.get_step_attempts(run_id="r1", statuses=[A.QUEUED, A.RUNNING])
    assert [(a.step_key, a.status, a.queue, a.queued_at) for a in live] == [
        ("a", A.RUNNING, "cpu", 10.0),
        ("b", A.QUEUED, "gpu", 20.0),
    ]
    assert (live[0].hostname, live[0].started_at) == ("host-1", 11.0)
    assert (live[1].hostname, live[1].started_at) == (None, None)

    engine = storage.engine  # type: ignore[attr-defined]
    query = attempts_query("r1", [A.QUEUED, A.RUNNING], None)
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
        else:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            plan = "\n".join(str(row[-1]) for row in rows)
    assert "ix_step_attempts_run_id_status" in plan, plan


def test_racing_claims_and_cancels_have_exactly_one_winner(storage: Storage) -> None:
    attempt_ids = [f"a{i}" for i in range(20)]
    storage.add_step_attempts([attempt(a) for a in attempt_ids])
    claimers, cancelers = 6, 2
    barrier = threading.Barrier(claimers + cancelers)
    wins: list[tuple[str, str]] = []  # (attempt id, winner)
    errors: list[BaseException] = []

    def race(name: str) -> None:
        try:
            barrier.wait()
            for attempt_id in attempt_ids:
                if name.startswith("cancel"):  # e.g. the run worker, before any worker took it
                    won = storage.finish_step_attempt(
                        attempt_id, A.CANCELED, now=300.0, from_statuses=[A.QUEUED]
                    )
                else:
                    won = storage.claim_step_attempt(attempt_id, name, os.getpid(), now=300.0)
                if won:
                    wins.append((attempt_id, name))
        except BaseException as exc:
            errors.append(exc)

    names = [f"claim{i}" for i in range(claimers)] + [f"cancel{i}" for i in range(cancelers)]
    threads = [threading.Thread(target=race, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(attempt_id for attempt_id, _ in wins) == sorted(attempt_ids)  # one each
    for attempt_id, winner in wins:
        found = attempt_of(storage, attempt_id)
        if winner.startswith("cancel"):
            assert (found.status, found.hostname) == (A.CANCELED, None)
        else:
            assert (found.status, found.hostname) == (A.RUNNING, winner)


# -- outputs ------------------------------------------------------------------------------------
def test_outputs_are_upserted_and_keyed_by_every_part(storage: Storage) -> None:
    assert storage.get_output("r1", "s", "result", None) is None
    storage.put_output("r1", "s", "result", None, b"first")
    storage.put_output("r1", "s", "result", None, b"second")  # a retry replaces the value
    storage.put_output("r1", "s", "result", "k1", b"mapped k1")
    storage.put_output("r1", "s", "result", "k2", b"mapped k2")
    storage.put_output("r1", "s", "other", None, b"other output")
    storage.put_output("r1", "t", "result", None, b"other step")
    storage.put_output("r2", "s", "result", None, b"other run")

    assert storage.get_output("r1", "s", "result", None) == b"second"
    assert storage.get_output("r1", "s", "result", "k1") == b"mapped k1"
    assert storage.get_output("r1", "s", "result", "k2") == b"mapped k2"
    assert storage.get_output("r1", "s", "result", "k3") is None
    assert storage.get_output("r1", "s", "other", None) == b"other output"
    assert storage.get_output("r1", "s", "other", "k1") is None
    assert storage.get_output("r1", "t", "result", None) == b"other step"
    assert storage.get_output("r2", "s", "result", None) == b"other run"


def test_output_values_are_any_bytes(storage: Storage) -> None:
    values = {
        "empty": b"",
        "binary": bytes(range(256)) * 3,
        "large": os.urandom(4 * 1024 * 1024),
    }
    for name, value in values.items():
        storage.put_output("r1", "s", name, None, value)
    for name, value in values.items():
        got = storage.get_output("r1", "s", name, None)
        assert type(got) is bytes and got == value, name


def test_delete_run_removes_its_attempts_and_outputs(storage: Storage) -> None:
    for run_id in ("gone", "kept"):
        storage.add_run(RunRecord(run_id=run_id, job_name="etl"))
        storage.add_step_attempts([attempt(f"{run_id}-1", run_id), attempt(f"{run_id}-2", run_id)])
        storage.put_output(run_id, "s", "result", None, b"v")
        storage.put_output(run_id, "s", "result", "k", b"v")
    storage.delete_run("gone")
    assert ids(storage.get_step_attempts()) == ["kept-1", "kept-2"]
    assert storage.get_output("gone", "s", "result", None) is None
    assert storage.get_output("gone", "s", "result", "k") is None
    assert storage.get_output("kept", "s", "result", "k") == b"v"
    # Ids are free again.
    storage.add_step_attempts([attempt("gone-1", "gone")])
    assert ids(storage.get_step_attempts(run_id="gone")) == ["gone-1"]


def _outcome(run_id: str, step_key: str) -> list[Any]:
    from opgraph_storage.records import EventRecord

    return [
        EventRecord(run_id, "STEP_OUTPUT", 1.0, step_key, 1, data={"output_name": "result"}),
        EventRecord(run_id, "STEP_SUCCESS", 2.0, step_key, 1),
    ]


def test_complete_stores_the_outcome_only_for_a_running_attempt(storage: Storage) -> None:
    storage.add_run(RunRecord(run_id="r1", job_name="job"))
    storage.add_step_attempts([attempt("a1"), attempt("a2")])
    outcome = _outcome("r1", "step_a1")
    assert not storage.complete_step_attempt("a1", A.SUCCESS, 5.0, outcome)  # not claimed
    assert storage.get_events("r1") == []

    assert storage.claim_step_attempt("a1", "w1@host", 10, 3.0)
    assert storage.complete_step_attempt("a1", A.SUCCESS, 5.0, outcome)
    assert [e.event_type for e in storage.get_events("r1")] == ["STEP_OUTPUT", "STEP_SUCCESS"]
    assert attempt_of(storage, "a1").status is A.SUCCESS
    # A second completion (a redelivered copy) stores nothing.
    assert not storage.complete_step_attempt("a1", A.SUCCESS, 6.0, outcome)
    assert len(storage.get_events("r1")) == 2

    # An attempt given up while it ran keeps its outcome out of the log.
    assert storage.claim_step_attempt("a2", "w2@host", 11, 3.0)
    assert storage.finish_step_attempt("a2", A.LOST, 4.0, "silent", [A.RUNNING])
    assert not storage.complete_step_attempt("a2", A.SUCCESS, 5.0, _outcome("r1", "step_a2"))
    assert len(storage.get_events("r1")) == 2
    assert attempt_of(storage, "a2").status is A.LOST


def test_racing_completions_store_one_success(storage: Storage) -> None:
    storage.add_run(RunRecord(run_id="r1", job_name="job"))
    storage.add_step_attempts([attempt("a1")])
    assert storage.claim_step_attempt("a1", "w1@host", 10, 3.0)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def complete() -> None:
        barrier.wait()
        results.append(storage.complete_step_attempt("a1", A.SUCCESS, 5.0, _outcome("r1", "s")))

    threads = [threading.Thread(target=complete) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert [e.event_type for e in storage.get_events("r1")].count("STEP_SUCCESS") == 1


def test_collected_outputs_are_stored_with_the_completion_only(storage: Storage) -> None:
    from opgraph_storage.sql import COLLECTED_OUTPUT_MAX_BYTES

    storage.add_run(RunRecord(run_id="r1", job_name="job"))
    storage.add_step_attempts([attempt("a1"), attempt("a2")])
    storage.put_output("r1", "step_a1", "result", None, b"an earlier attempt's")
    big = b"x" * (COLLECTED_OUTPUT_MAX_BYTES + 1)
    assert storage.claim_step_attempt("a1", "w1@host", 10, 3.0)
    with storage.collect_outputs() as outputs:
        storage.put_output("r1", "step_a1", "result", None, b"new value")
        storage.put_output("r1", "step_a1", "result", "k1", b"mapped")
        storage.put_output("r1", "step_a1", "big", None, big)  # too big to hold back
    assert len(outputs) == 2
    assert storage.get_output("r1", "step_a1", "result", None) == b"an earlier attempt's"
    assert storage.get_output("r1", "step_a1", "result", "k1") is None
    assert storage.get_output("r1", "step_a1", "big", None) == big
    storage.put_output("r1", "other", "result", None, b"outside the block: written at once")
    assert storage.get_output("r1", "other", "result", None) is not None

    assert storage.complete_step_attempt(
        "a1", A.SUCCESS, 5.0, _outcome("r1", "step_a1"), outputs=outputs
    )
    assert storage.get_output("r1", "step_a1", "result", None) == b"new value"
    assert storage.get_output("r1", "step_a1", "result", "k1") == b"mapped"

    # An attempt given up while it ran stores neither its outcome nor its outputs.
    assert storage.claim_step_attempt("a2", "w2@host", 11, 3.0)
    with storage.collect_outputs() as outputs:
        storage.put_output("r1", "step_a2", "result", None, b"late")
    assert storage.finish_step_attempt("a2", A.LOST, 4.0, "silent", [A.RUNNING])
    assert not storage.complete_step_attempt(
        "a2", A.SUCCESS, 5.0, _outcome("r1", "step_a2"), outputs=outputs
    )
    assert storage.get_output("r1", "step_a2", "result", None) is None

"""The partitions storage contract, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from opgraph_storage import (
    EventRecord,
    RunRecord,
    RunStatus,
    StepAttempt,
    StepAttemptStatus,
    Storage,
)
from opgraph_storage.partitions_base import (
    AssetPartitionStatus,
    BackfillAlreadyExists,
    BackfillPartitionStatus,
    BackfillRecord,
    BackfillStatus,
)

MATERIALIZED = AssetPartitionStatus.MATERIALIZED
PENDING = BackfillPartitionStatus.PENDING
SUBMITTED = BackfillPartitionStatus.SUBMITTED


def test_dynamic_partitions_keep_the_order_they_were_added(storage: Storage) -> None:
    assert storage.get_dynamic_partitions("customers") == []
    assert storage.add_dynamic_partitions("customers", ["globex", "acme", "globex"]) == 2
    assert storage.add_dynamic_partitions("customers", ["acme", "initech"]) == 1
    assert storage.add_dynamic_partitions("regions", ["eu"]) == 1
    assert storage.get_dynamic_partitions("customers") == ["globex", "acme", "initech"]
    assert storage.has_dynamic_partition("customers", "acme")
    assert not storage.has_dynamic_partition("regions", "acme")
    assert storage.delete_dynamic_partition("customers", "acme")
    assert not storage.delete_dynamic_partition("customers", "acme")
    assert storage.get_dynamic_partitions("customers") == ["globex", "initech"]
    # A deleted key added again goes to the end.
    storage.add_dynamic_partitions("customers", ["acme"])
    assert storage.get_dynamic_partitions("customers") == ["globex", "initech", "acme"]


def test_a_bad_dynamic_key_names_itself(storage: Storage) -> None:
    with pytest.raises(
        ValueError, match="dynamic partition of 'customers' '' is not a partition key"
    ):
        storage.add_dynamic_partitions("customers", ["ok", ""])
    with pytest.raises(ValueError, match="1 to 255 characters"):
        storage.add_dynamic_partitions("customers", ["x" * 256])
    assert storage.get_dynamic_partitions("customers") == []


def test_concurrent_adds_of_one_key_store_it_once(storage: Storage) -> None:
    errors: list[BaseException] = []

    def add() -> None:
        try:
            storage.add_dynamic_partitions("files", [f"f{i}" for i in range(50)])
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert storage.get_dynamic_partitions("files") == [f"f{i}" for i in range(50)]


def _backfill(backfill_id: str, created_at: float, **kwargs: object) -> BackfillRecord:
    return BackfillRecord(
        backfill_id=backfill_id,
        status=BackfillStatus.REQUESTED,
        num_partitions=0,
        created_at=created_at,
        updated_at=created_at,
        data={"selection": ["daily_orders"], "partitions": {"range": ["a", "b"]}},
        **kwargs,  # type: ignore[arg-type]
    )


def test_backfill_rows_are_unique_and_move_by_compare_and_set(storage: Storage) -> None:
    keys = [f"2024-01-{d:02d}" for d in range(1, 32)]
    rows = [(target, key) for target in ("orders", "orders_daily") for key in keys]
    stored = storage.add_backfill(_backfill("bf1", 1.0, max_runs_in_flight=4), rows + rows[:5])
    assert stored.num_partitions == 62  # the repeated rows are one row each
    with pytest.raises(BackfillAlreadyExists, match="'bf1'"):
        storage.add_backfill(_backfill("bf1", 2.0), rows)
    got = storage.get_backfill("bf1")
    assert got is not None and got.max_runs_in_flight == 4 and got.num_partitions == 62
    assert got.data["partitions"] == {"range": ["a", "b"]}
    assert storage.count_backfill_partitions("bf1") == {PENDING: 62}

    first = [("orders", keys[0]), ("orders", keys[1])]
    assert (
        storage.move_backfill_partitions("bf1", first, SUBMITTED, [PENDING], 5.0, run_id="r1") == 2
    )
    # A second daemon racing for the same rows moves none of them.
    assert (
        storage.move_backfill_partitions("bf1", first, SUBMITTED, [PENDING], 5.0, run_id="r2") == 0
    )
    submitted = storage.get_backfill_partitions("bf1", statuses=[SUBMITTED])
    assert [(p.partition_key, p.run_id) for p in submitted] == [(keys[0], "r1"), (keys[1], "r1")]
    assert storage.count_backfill_partitions("bf1") == {PENDING: 60, SUBMITTED: 2}
    assert len(storage.get_backfill_partitions("bf1", statuses=[PENDING], limit=7)) == 7

    assert storage.move_backfill("bf1", BackfillStatus.CANCELING, [BackfillStatus.REQUESTED], 6.0)
    assert not storage.move_backfill(
        "bf1", BackfillStatus.CANCELING, [BackfillStatus.REQUESTED], 6.0
    )
    assert storage.move_backfill("bf1", BackfillStatus.CANCELED, [BackfillStatus.CANCELING], 7.0)
    ended = storage.get_backfill("bf1")
    assert ended is not None and ended.status is BackfillStatus.CANCELED and ended.ended_at == 7.0


def test_backfills_list_newest_first_with_a_cursor(storage: Storage) -> None:
    for i in range(5):
        storage.add_backfill(_backfill(f"bf{i}", float(i)), [("job", "k")])
    storage.move_backfill("bf3", BackfillStatus.COMPLETED, [BackfillStatus.REQUESTED], 9.0)
    assert [b.backfill_id for b in storage.get_backfills()] == ["bf4", "bf3", "bf2", "bf1", "bf0"]
    assert [b.backfill_id for b in storage.get_backfills(cursor="bf3", limit=2)] == ["bf2", "bf1"]
    requested = storage.get_backfills(statuses=[BackfillStatus.REQUESTED])
    assert [b.backfill_id for b in requested] == ["bf4", "bf2", "bf1", "bf0"]


def test_ten_thousand_partitions_store_in_one_call(storage: Storage) -> None:
    rows = [("orders", f"p{i:05d}") for i in range(10_000)]
    started = time.perf_counter()
    storage.add_backfill(_backfill("big", 1.0), rows)
    took = time.perf_counter() - started
    assert storage.count_backfill_partitions("big") == {PENDING: 10_000}
    # Reported, not asserted (benchmarks/ measures speed).
    print(f"10,000 backfill rows stored in {took * 1000:.0f} ms on {storage!r}")


def _materialization(run_id: str, key: list[str], partition: str | None) -> EventRecord:
    return EventRecord(
        run_id=run_id,
        event_type="ASSET_MATERIALIZATION",
        timestamp=time.time(),
        step_key="s",
        data={"asset_key": key, "partition": partition, "metadata": {}},
    )


def test_materialized_partitions_are_indexed_with_their_events(storage: Storage) -> None:
    storage.add_run(RunRecord(run_id="r1", job_name="j", status=RunStatus.STARTED))
    storage.store_events(
        [
            _materialization("r1", ["daily"], "2024-01-01"),
            _materialization("r1", ["daily"], "2024-01-02"),
            _materialization("r1", ["daily"], None),  # an unpartitioned run: no row
            _materialization("r1", ["other"], "x"),
        ]
    )
    assert storage.get_asset_partition_statuses("daily") == {
        "2024-01-01": MATERIALIZED,
        "2024-01-02": MATERIALIZED,
    }
    assert storage.get_asset_partition_statuses("daily", ["2024-01-02", "2024-01-09"]) == {
        "2024-01-02": MATERIALIZED
    }
    assert storage.count_asset_partitions("daily") == {MATERIALIZED: 2}
    # A Celery step's completion (one statement on PostgreSQL without partitions) too.
    now = time.time()
    storage.add_step_attempts(
        [StepAttempt(attempt_id="a1", run_id="r1", step_key="s", attempt_number=0)]
    )
    assert storage.claim_step_attempt("a1", "host", 1, now)
    events = [
        _materialization("r1", ["daily"], "2024-01-03"),
        EventRecord("r1", "STEP_SUCCESS", now, step_key="s"),
    ]
    assert storage.complete_step_attempt("a1", StepAttemptStatus.SUCCESS, now, events)
    assert storage.count_asset_partitions("daily") == {MATERIALIZED: 3}
    assert storage.get_asset_records(["daily"])[0].materialization_count == 4


def _step(run_id: str, kind: str, key: str, partitions: list[str]) -> EventRecord:
    pairs = [{"asset_key": [key], "partition": p} for p in partitions]
    return EventRecord(run_id, kind, time.time(), step_key="s", data={"asset_partitions": pairs})


def test_step_starts_and_failures_move_partitions_with_their_events(storage: Storage) -> None:
    failed, in_progress = AssetPartitionStatus.FAILED, AssetPartitionStatus.IN_PROGRESS
    for run_id in ("r1", "r2", "r3"):
        storage.add_run(RunRecord(run_id=run_id, job_name="j", status=RunStatus.STARTED))
    storage.store_events([_step("r1", "STEP_START", "daily", ["d1", "d2", "d3"])])
    assert storage.count_asset_partitions("daily") == {in_progress: 3}
    storage.store_events(
        [
            _materialization("r1", ["daily"], "d1"),
            # A failure after the same run materialized d1 leaves d1 materialized.
            _step("r1", "STEP_FAILURE", "daily", ["d1", "d2"]),
        ]
    )
    assert storage.get_asset_partition_statuses("daily") == {
        "d1": MATERIALIZED,
        "d2": failed,
        "d3": in_progress,
    }
    # Across batches too: r2's failure after its materialization leaves it; r3's later
    # start and failure (a newer run) make the partition FAILED.
    storage.store_events([_step("r2", "STEP_START", "daily", ["d2"])])
    storage.store_events([_materialization("r2", ["daily"], "d2")])
    storage.store_events([_step("r2", "STEP_FAILURE", "daily", ["d2"])])
    assert storage.get_asset_partition_statuses("daily", ["d2"]) == {"d2": MATERIALIZED}
    storage.store_events([_step("r3", "STEP_START", "daily", ["d2"])])
    storage.store_events([_step("r3", "STEP_FAILURE", "daily", ["d2"])])
    assert storage.get_asset_partition_statuses("daily", ["d2"]) == {"d2": failed}
    # r1 ends without d3's STEP_FAILURE (its worker killed): d3 reads FAILED.
    storage.append_run_event(
        EventRecord("r1", "RUN_FAILURE", time.time()),
        RunStatus.FAILURE,
        [RunStatus.STARTED],
        lambda _status: None,
    )
    assert storage.get_asset_partition_statuses("daily")["d3"] is failed
    assert storage.count_asset_partitions("daily") == {MATERIALIZED: 1, failed: 2}
    # A Celery step's completion with a failure, in its transaction (PostgreSQL too).
    now = time.time()
    storage.add_step_attempts(
        [StepAttempt(attempt_id="a9", run_id="r3", step_key="s", attempt_number=0)]
    )
    assert storage.claim_step_attempt("a9", "host", 1, now)
    storage.store_events([_step("r3", "STEP_START", "daily", ["d4"])])
    events = [_step("r3", "STEP_FAILURE", "daily", ["d4"])]
    assert storage.complete_step_attempt("a9", StepAttemptStatus.FAILURE, now, events)
    assert storage.get_asset_partition_statuses("daily", ["d4"]) == {"d4": failed}


def test_concurrent_claims_never_take_one_partition_twice(storage: Storage) -> None:
    rows = [("job", f"p{i:04d}") for i in range(400)]
    storage.add_backfill(_backfill("race", 1.0), rows)
    claimed: list[list[tuple[str, str]]] = []
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            while got := storage.claim_backfill_partitions(
                "race", 25, 2.0, lambda t, k: f"run-{k}"
            ):
                claimed.append(got)
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [row for batch in claimed for row in batch]
    assert sorted(every) == rows  # each partition once, none left out
    submitted = storage.get_backfill_partitions("race", statuses=[SUBMITTED], limit=3)
    assert [p.run_id for p in submitted] == ["run-p0000", "run-p0001", "run-p0002"]


def test_backfill_runs_store_in_one_call_skipping_taken_ids_and_keys(storage: Storage) -> None:
    def run(run_id: str, key: str) -> RunRecord:
        return RunRecord(
            run_id=run_id,
            job_name="j",
            status=RunStatus.NOT_STARTED,
            tags={"dagster/partition": key},
            run_key=f"backfill/b/j/{key}",
        )

    storage.add_run(run("r1", "d1"))
    stored = storage.add_backfill_runs([run("r1", "d1"), run("r2", "d2"), run("r3", "d1")])
    assert stored == ["r2"]  # r1's id and r3's run key were taken
    assert storage.get_run("r2").tags == {"dagster/partition": "d2"}  # type: ignore[union-attr]
    assert storage.get_run("r3") is None

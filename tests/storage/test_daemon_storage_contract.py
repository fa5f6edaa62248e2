"""The daemon's storage contract (lease, queue claims, retention): SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

from opgraph_storage import (
    DaemonHeartbeat,
    DaemonLease,
    EventRecord,
    RunRecord,
    RunStatus,
    Storage,
    TickRecord,
    TickStatus,
    create_storage,
)

S = RunStatus


def add_run(storage: Storage, run_id: str, status: RunStatus = S.QUEUED, **kw: Any) -> RunRecord:
    return storage.add_run(RunRecord(run_id=run_id, job_name="etl", status=status, **kw))


def take_all(queued: list[RunRecord], busy: list[RunRecord]) -> list[str]:
    return [run.run_id for run in queued]


# -- the lease ------------------------------------------------------------------------------
def test_lease_is_held_by_one_until_it_expires(storage: Storage) -> None:
    assert storage.get_lease("daemon") is None
    first = storage.acquire_lease("daemon", "a", "host-a", 11, now=100.0, duration=10.0)
    assert first == DaemonLease("daemon", "a", "host-a", 11, 100.0, 100.0, 110.0, 1)
    assert storage.acquire_lease("daemon", "b", "host-b", 22, now=105.0, duration=10.0) is None
    renewed = storage.acquire_lease("daemon", "a", "host-a", 11, now=108.0, duration=10.0)
    assert renewed is not None and renewed.expires_at == 118.0 and renewed.acquired_at == 100.0
    assert storage.acquire_lease("daemon", "b", "host-b", 22, now=117.9, duration=10.0) is None
    taken = storage.acquire_lease("daemon", "b", "host-b", 22, now=118.0, duration=10.0)
    assert taken == DaemonLease("daemon", "b", "host-b", 22, 118.0, 118.0, 128.0, 2)
    # The old holder cannot renew a lease that was taken over.
    assert storage.acquire_lease("daemon", "a", "host-a", 11, now=119.0, duration=10.0) is None
    assert storage.get_lease("daemon") == taken


def test_released_lease_is_free_at_once(storage: Storage) -> None:
    storage.acquire_lease("daemon", "a", "h", 1, now=100.0, duration=60.0)
    storage.release_lease("daemon", "b", now=101.0)  # not b's: no effect
    assert storage.acquire_lease("daemon", "b", "h", 2, now=102.0, duration=60.0) is None
    storage.release_lease("daemon", "a", now=103.0)
    lease = storage.acquire_lease("daemon", "b", "h", 2, now=103.5, duration=60.0)
    assert lease is not None and lease.holder == "b" and lease.generation == 2


def test_racing_standbys_get_the_lease_once(storage_url: str) -> None:
    storages = [create_storage(storage_url) for _ in range(4)]
    try:
        storages[0].acquire_lease("daemon", "dead", "h", 1, now=0.0, duration=1.0)
        winners: list[str] = []
        barrier = threading.Barrier(len(storages))

        def race(index: int, storage: Storage) -> None:
            barrier.wait()
            if storage.acquire_lease("daemon", f"s{index}", "h", index, 50.0, 10.0):
                winners.append(f"s{index}")

        threads = [threading.Thread(target=race, args=item) for item in enumerate(storages)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 1
        lease = storages[0].get_lease("daemon")
        assert lease is not None and lease.holder == winners[0] and lease.generation == 2
    finally:
        for storage in storages:
            storage.dispose()


# -- claims ----------------------------------------------------------------------------------
def test_claims_show_queued_and_busy_runs_and_hold_claimed_ones(storage: Storage) -> None:
    for run_id in ("q1", "q2", "q3"):
        add_run(storage, run_id, tags={"team": run_id})
    add_run(storage, "running", S.STARTED, tags={"team": "x"})
    add_run(storage, "done", S.SUCCESS)
    seen: list[tuple[list[str], list[str]]] = []

    def first(queued: list[RunRecord], busy: list[RunRecord]) -> list[str]:
        seen.append(([r.run_id for r in queued], sorted(r.run_id for r in busy)))
        assert all(r.tags == {"team": r.run_id} for r in queued)  # tags come along
        return [queued[1].run_id]

    claimed = storage.claim_queued_runs("d1", 100.0, first, claim_ttl=30.0)
    assert [run.run_id for run in claimed] == ["q2"]
    assert claimed[0].tags == {"team": "q2"}
    assert seen == [(["q1", "q2", "q3"], ["running"])]
    # q2 is claimed: it counts as busy and is not offered again while the claim lives.
    again = storage.claim_queued_runs("d1", 110.0, first, claim_ttl=30.0)
    assert [run.run_id for run in again] == ["q3"]
    assert seen[1] == (["q1", "q3"], ["q2", "running"])
    # Past its TTL the claims of a daemon that died are void.
    assert [r.run_id for r in storage.claim_queued_runs("d2", 200.0, take_all, 30.0)] == [
        "q1",
        "q2",
        "q3",
    ]
    storage.release_run_claims(["q1", "q2", "q3"])
    assert len(storage.claim_queued_runs("d2", 201.0, take_all, 30.0)) == 3


def test_concurrent_dequeuers_never_exceed_a_limit(storage_url: str) -> None:
    limit = 5
    storages = [create_storage(storage_url) for _ in range(3)]
    try:
        for index in range(40):
            add_run(storages[0], f"r{index:02d}")
        claimed: list[str] = []
        lock = threading.Lock()

        def choose(queued: list[RunRecord], busy: list[RunRecord]) -> list[str]:
            room = max(0, limit - len(busy))
            return [run.run_id for run in queued[:room]]

        def dequeue(storage: Storage) -> None:
            for _ in range(10):
                runs = storage.claim_queued_runs("d", time.time(), choose, 60.0)
                with lock:
                    claimed.extend(run.run_id for run in runs)

        threads = [threading.Thread(target=dequeue, args=(s,)) for s in storages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed) == [f"r{i:02d}" for i in range(limit)]
    finally:
        for storage in storages:
            storage.dispose()


def test_queue_change_wakes_a_waiter(storage_url: str) -> None:
    waiter, writer = create_storage(storage_url), create_storage(storage_url)
    try:
        add_run(writer, "r1", S.NOT_STARTED)
        assert waiter.wait_for_run_queue_change(0.1) is True  # first call: state unknown
        started = time.monotonic()
        assert waiter.wait_for_run_queue_change(0.3) is False
        assert time.monotonic() - started >= 0.25

        def enqueue() -> None:
            time.sleep(0.2)
            enqueued = EventRecord("r1", "RUN_ENQUEUED", time.time())
            writer.append_run_event(enqueued, S.QUEUED, [S.NOT_STARTED], lambda _: enqueued)

        thread = threading.Thread(target=enqueue)
        thread.start()
        assert waiter.wait_for_run_queue_change(60.0) is True
        thread.join()
    finally:
        waiter.dispose()
        writer.dispose()


# -- finished runs, retention, ticks -----------------------------------------------------------
def test_finished_runs_in_the_order_they_ended(storage: Storage) -> None:
    for run_id, status, ended in [
        ("a", S.FAILURE, 30.0),
        ("b", S.FAILURE, 10.0),
        ("c", S.SUCCESS, 20.0),
        ("d", S.FAILURE, 5.0),
        ("e", S.STARTED, None),
    ]:
        add_run(storage, run_id, status, ended_at=ended, tags={"k": run_id})
    found = storage.get_finished_runs([S.FAILURE], ended_after=5.0, limit=10)
    assert [r.run_id for r in found] == ["b", "a"]
    assert found[0].tags == {"k": "b"}
    assert [r.run_id for r in storage.get_finished_runs([S.FAILURE], 0.0, limit=1)] == ["d"]


def test_purge_runs_deletes_old_finished_runs_and_all_they_own(storage: Storage) -> None:
    add_run(storage, "old", S.SUCCESS, ended_at=10.0, tags={"k": "v"})
    add_run(storage, "new", S.FAILURE, ended_at=500.0)
    add_run(storage, "live", S.STARTED)
    storage.store_events([EventRecord("old", "LOG", 1.0), EventRecord("new", "LOG", 1.0)])
    storage.put_output("old", "s", "result", None, b"x")
    assert storage.purge_runs(ended_before=100.0) == 1
    assert storage.get_run("old") is None and storage.get_events("old") == []
    assert storage.get_output("old", "s", "result", None) is None
    assert {r.run_id for r in storage.get_runs()} == {"new", "live"}
    assert storage.purge_runs(ended_before=1000.0, limit=5) == 1  # never a live run
    assert [r.run_id for r in storage.get_runs()] == ["live"]


def test_purge_daemon_heartbeats_deletes_only_those_not_renewed(storage: Storage) -> None:
    storage.add_daemon_heartbeat(DaemonHeartbeat("celery_worker:old@h", "old@h", 10.0))
    storage.add_daemon_heartbeat(DaemonHeartbeat("SCHEDULER", "daemon-1", 10.0))
    storage.add_daemon_heartbeat(DaemonHeartbeat("SCHEDULER", "daemon-1", 30.0))  # renewed
    storage.add_daemon_heartbeat(DaemonHeartbeat("celery_worker:new@h", "new@h", 20.0))
    assert storage.purge_daemon_heartbeats(before=15.0) == 1
    assert set(storage.get_daemon_heartbeats()) == {"SCHEDULER", "celery_worker:new@h"}
    assert storage.purge_daemon_heartbeats(before=15.0) == 0


def test_get_tick_and_purge_ticks(storage: Storage) -> None:
    storage.create_tick(TickRecord("loc:s", "s@1", TickStatus.SUCCESS, 10.0, run_ids=["r"]))
    storage.create_tick(TickRecord("loc:s", "s@2", TickStatus.SKIPPED, 20.0))
    tick = storage.get_tick("s@1")
    assert tick is not None and tick.run_ids == ["r"] and tick.status is TickStatus.SUCCESS
    assert storage.get_tick("s@9") is None
    assert storage.purge_ticks(before=15.0) == 1
    assert [t.tick_key for t in storage.get_ticks("loc:s")] == ["s@2"]

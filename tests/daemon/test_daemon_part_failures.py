"""Real daemon processes on PostgreSQL whose parts fail: a database cut under the daemon
(the run queue's ticks and NOTIFY wait raise), a part thread that dies once (restarted),
and one that keeps dying (the daemon hands its lease to the standby and exits 1)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from daemon_procs import IN_PROCESS, DaemonProcess, make_home, wait_for

from opgraph.daemon.controller import LEASE_NAME, STANDBY_HEARTBEAT
from opgraph.daemon.supervision import MAX_RESTARTS
from opgraph.instance import OpgraphInstance
from opgraph_storage.records import InstigatorState, InstigatorStatus, InstigatorType, RunStatus
from opgraph_storage.urls import normalize_url
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow
CRASHING = str(Path(__file__).with_name("part_crash_daemon.py"))


@pytest.fixture
def procs() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for process in started:
        process.stop()


def observer(home: Path, storage_url: str) -> OpgraphInstance:
    """An instance on the daemon's database, straight (not through the daemon's proxy),
    with the job file's every-two-seconds schedule stopped: only the test's runs exist."""
    own = make_home(home, storage_url)
    instance = OpgraphInstance.get(own)
    instance.storage.upsert_instigator_state(
        InstigatorState(
            "procs:every_two_seconds", InstigatorType.SCHEDULE, InstigatorStatus.STOPPED
        )
    )
    return instance


def run_tiny(instance: OpgraphInstance, home: Path) -> str:
    pointer = {"python_file": str(home / "jobs.py"), "working_directory": str(home)}
    run = instance.create_run("tiny", run_config=IN_PROCESS, code_pointer=pointer)
    instance.submit_run(run.run_id)
    return run.run_id


def succeeded(instance: OpgraphInstance, run_id: str, daemon: DaemonProcess) -> None:
    wait_for(
        lambda: instance.get_run(run_id).status in (RunStatus.SUCCESS, RunStatus.FAILURE),
        120,
        f"run {run_id} to be launched and finish",
    )
    assert instance.get_run(run_id).status is RunStatus.SUCCESS, daemon.output()


def part_beat(instance: OpgraphInstance, name: str) -> Any:
    return instance.storage.get_daemon_heartbeats().get(name)


def test_a_database_cut_under_the_daemon_does_not_stop_the_run_queue(
    tmp_path: Path, pg_storage_url: str, procs: list[DaemonProcess]
) -> None:
    server = sa.make_url(normalize_url(pg_storage_url))
    proxies = [TcpProxy("127.0.0.1", 0, target_port=server.port or 5432)]
    proxies[0].start()
    port = proxies[0].port
    # The daemon reaches PostgreSQL only through the proxy. Its lease (60 s) outlasts the
    # cut, so it stays active and its parts meet the outage (calls fail after 2 s).
    home = make_home(
        tmp_path / "home",
        server.set(port=port).render_as_string(False),
        storage={"reconnect_timeout_seconds": 2},
        daemon={"lease_seconds": 60},
    )
    instance = observer(tmp_path / "observer", pg_storage_url)
    try:
        daemon = DaemonProcess(home, "cut")
        procs.append(daemon)
        wait_for(lambda: part_beat(instance, "RUN_QUEUE"), 60, "the run queue's first beat")
        lease = instance.storage.get_lease(LEASE_NAME)
        assert lease is not None and lease.pid == daemon.pid
        proxies[0].cut()
        wait_for(
            lambda: daemon.output().count("daemon part RUN_QUEUE failed") >= 2,
            120,
            "the run queue to fail twice on the cut database",
        )
        proxies.append(TcpProxy("127.0.0.1", port, target_port=server.port or 5432))
        proxies[-1].start()
        restored = time.time()
        run_id = run_tiny(instance, home)  # submitted after the cut
        succeeded(instance, run_id, daemon)
        assert daemon.process.poll() is None
        after = instance.storage.get_lease(LEASE_NAME)
        assert after is not None and after.pid == daemon.pid  # no takeover was needed
        beat = wait_for(
            lambda: (b := part_beat(instance, "RUN_QUEUE")) and b.timestamp > restored and b,
            60,
            "a run queue beat after the cut",
        )
        assert beat.info["restarts"] == 0  # the thread never died
        assert "thread ended" not in daemon.output()
    finally:
        instance.dispose()
        for proxy in proxies:
            proxy.stop()


def test_a_part_whose_thread_dies_is_restarted(
    tmp_path: Path, pg_storage_url: str, procs: list[DaemonProcess]
) -> None:
    home = make_home(tmp_path / "home", pg_storage_url)
    marker = tmp_path / "crash"
    marker.touch()
    instance = observer(tmp_path / "observer", pg_storage_url)
    try:
        daemon = DaemonProcess(
            home,
            "crash-once",
            argv=[sys.executable, CRASHING],
            PART_CRASH_MARKER=str(marker),
            PART_CRASH_ONCE="1",
        )
        procs.append(daemon)
        beat = wait_for(
            lambda: (b := part_beat(instance, "RUN_QUEUE")) and b.info.get("restarts") == 1 and b,
            60,
            "the run queue to be restarted",
        )
        assert not marker.exists()  # it did die
        assert "injected crash of the run queue part" in daemon.output()
        assert beat.daemon_id == instance.storage.get_lease(LEASE_NAME).holder  # type: ignore[union-attr]
        succeeded(instance, run_tiny(instance, home), daemon)
        assert daemon.process.poll() is None
    finally:
        instance.dispose()


def test_a_part_that_keeps_dying_hands_over_to_the_standby(
    tmp_path: Path, pg_storage_url: str, procs: list[DaemonProcess]
) -> None:
    # A 60 s lease: the standby can only take over this soon because the lease is released.
    home = make_home(tmp_path / "home", pg_storage_url, daemon={"lease_seconds": 60})
    marker = tmp_path / "crash"
    instance = observer(tmp_path / "observer", pg_storage_url)
    storage = instance.storage
    try:
        failing = DaemonProcess(
            home, "failing", argv=[sys.executable, CRASHING], PART_CRASH_MARKER=str(marker)
        )
        procs.append(failing)
        lease = wait_for(
            lambda: (x := storage.get_lease(LEASE_NAME)) and x.pid == failing.pid and x,
            60,
            "the first daemon's lease",
        )
        standby = DaemonProcess(home, "standby")
        procs.append(standby)
        wait_for(
            lambda: (b := part_beat(instance, STANDBY_HEARTBEAT)) and b.info["pid"] == standby.pid,
            60,
            "the standby's heartbeat",
        )
        marker.touch()  # from now on the run queue part dies at every tick
        held = storage.get_lease(LEASE_NAME)
        assert held is not None and held.pid == failing.pid
        assert failing.process.wait(120) == 1, failing.output()
        output = failing.output()
        assert (
            f"died again (SystemExit: injected crash of the run queue part) after {MAX_RESTARTS} restarts"
            in output
        )
        assert "It gave up its lease so that a standby takes over" in output
        taken = wait_for(
            lambda: (x := storage.get_lease(LEASE_NAME)) and x.pid == standby.pid and x,
            60,
            "the standby to take the lease",
        )
        assert taken.generation == lease.generation + 1
        assert taken.acquired_at < held.expires_at  # released, not waited out
        succeeded(instance, run_tiny(instance, home), standby)
    finally:
        instance.dispose()

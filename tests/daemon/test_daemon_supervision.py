"""Parts that cannot die silently: a failing wait, a dead thread, a stuck tick (in-process
daemons; the real-process versions are in test_daemon_part_failures.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from daemon_env import MakeEnv

from opgraph.daemon import Daemon, DaemonPart, TickReport
from opgraph.daemon.controller import DAEMON_HEARTBEAT, LEASE_NAME, DaemonPartFailure
from opgraph.daemon.supervision import MAX_BACKOFF_SECONDS, MAX_RESTARTS, backoff_seconds


def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """The condition's first true value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    return value


class DiesAtFirst(DaemonPart):
    """Its thread ends (SystemExit) on the first `dies` ticks, then it works."""

    name = "DIES"
    interval_seconds = 0.02

    def __init__(self, dies: int) -> None:
        self.dies = dies
        self.ticks = 0
        self.closed = 0

    def tick(self, now: float) -> TickReport:
        self.ticks += 1
        if self.ticks <= self.dies:
            raise SystemExit(f"died at tick {self.ticks}")
        return TickReport(info={"ticks": self.ticks})

    def close(self) -> None:
        self.closed += 1


class WaitFails(DaemonPart):
    name = "WAIT_FAILS"
    interval_seconds = 0.01

    def __init__(self) -> None:
        self.ticks = 0

    def tick(self, now: float) -> TickReport:
        self.ticks += 1
        return TickReport()

    def wait(self, timeout: float, halt: threading.Event) -> None:
        raise ConnectionError("server closed the connection unexpectedly")


class TickFails(DaemonPart):
    name = "TICK_FAILS"
    interval_seconds = 0.01

    def tick(self, now: float) -> TickReport:
        raise ConnectionError("could not connect to server")


class Stuck(DaemonPart):
    name = "STUCK"
    interval_seconds = 0.01

    def __init__(self) -> None:
        self.release = threading.Event()

    def tick(self, now: float) -> TickReport:
        self.release.wait(60)  # as a call that never returns
        return TickReport()


def run_in_thread(daemon: Daemon) -> tuple[threading.Thread, threading.Event, list[BaseException]]:
    stop = threading.Event()
    raised: list[BaseException] = []

    def target() -> None:
        try:
            daemon.run(stop)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, stop, raised


def test_backoff_doubles_from_the_interval_up_to_a_cap() -> None:
    assert backoff_seconds(1.0, 0) == 1.0
    assert [backoff_seconds(1.0, n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert backoff_seconds(1.0, 50) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(3600.0, 5) == 3600.0  # never shorter than the part's own interval


def test_a_part_whose_thread_dies_is_restarted(make_env: MakeEnv) -> None:
    env = make_env()
    part = DiesAtFirst(dies=1)
    daemon = Daemon(env.instance, [part], "restarts", lease_seconds=2)
    thread, stop, raised = run_in_thread(daemon)
    try:
        wait_for(lambda: part.ticks > 5)
        storage = env.instance.storage
        wait_for(lambda: storage.get_daemon_heartbeats()["DIES"].info.get("ticks", 0) > 5)
        beat = storage.get_daemon_heartbeats()["DIES"]
        assert beat.info["restarts"] == 1 and beat.info["state"] == "running"
        assert part.closed >= 1  # closed before the restart
        assert daemon.active.is_set() and not raised
    finally:
        stop.set()
        thread.join(30)
    assert not raised


def test_a_part_that_keeps_dying_makes_the_daemon_hand_over(make_env: MakeEnv) -> None:
    first_env, second_env = make_env(), make_env()
    dying = DiesAtFirst(dies=10_000)
    first = Daemon(first_env.instance, [dying], "first", lease_seconds=30)
    standby_part = DiesAtFirst(dies=0)
    second = Daemon(second_env.instance, [standby_part], "second", lease_seconds=30)
    thread, _stop, raised = run_in_thread(first)
    wait_for(first.active.is_set)
    standby_thread, standby_stop, _ = run_in_thread(second)
    try:
        thread.join(60)
        assert not thread.is_alive()
        [failure] = raised
        assert isinstance(failure, DaemonPartFailure)
        assert f"after {MAX_RESTARTS} restarts" in str(failure) and "DIES" in str(failure)
        assert dying.ticks == MAX_RESTARTS + 1
        # It released the lease: the standby takes over at its next try, not after 30 s.
        wait_for(second.active.is_set, timeout=10)
        wait_for(lambda: standby_part.ticks > 0)
        lease = second_env.instance.storage.get_lease(LEASE_NAME)
        assert lease is not None and lease.holder == "second"
    finally:
        standby_stop.set()
        standby_thread.join(30)


def test_a_failing_wait_does_not_end_the_part(make_env: MakeEnv) -> None:
    env = make_env()
    part = WaitFails()
    daemon = Daemon(env.instance, [part], "waits", lease_seconds=2)
    thread, stop, raised = run_in_thread(daemon)
    try:
        wait_for(lambda: part.ticks >= 3)
        storage = env.instance.storage
        wait_for(lambda: storage.get_daemon_heartbeats()["WAIT_FAILS"].info["errors"])
        beat = storage.get_daemon_heartbeats()["WAIT_FAILS"]
        assert beat.info["errors"][0].startswith("waiting: ConnectionError: server closed")
        ticks = part.ticks
        wait_for(lambda: part.ticks > ticks)  # it goes on ticking
        assert not raised and daemon.active.is_set()
    finally:
        stop.set()
        thread.join(30)


def test_a_stuck_part_makes_the_daemon_hand_over(make_env: MakeEnv) -> None:
    env = make_env()
    part = Stuck()
    daemon = Daemon(
        env.instance, [part], "stuck", lease_seconds=30, grace_seconds=0.5, stuck_after_seconds=1
    )
    thread, _stop, raised = run_in_thread(daemon)
    try:
        thread.join(60)
        assert not thread.is_alive()
        [failure] = raised
        assert isinstance(failure, DaemonPartFailure) and "STUCK is stuck" in str(failure)
        storage = env.instance.storage
        lease = storage.get_lease(LEASE_NAME)
        assert lease is not None and lease.expires_at <= time.time()  # released
        beat = storage.get_daemon_heartbeats()[DAEMON_HEARTBEAT]
        assert beat.info["state"] == "failed" and "STUCK" in beat.info["errors"][0]
    finally:
        part.release.set()


@pytest.mark.parametrize("failures", [0, 3])
def test_heartbeat_says_when_it_becomes_stale(make_env: MakeEnv, failures: int) -> None:
    env = make_env()
    part = TickFails() if failures else DiesAtFirst(dies=0)
    daemon = Daemon(env.instance, [part], "stale", lease_seconds=2, grace_seconds=7)
    thread, stop, _ = run_in_thread(daemon)
    try:
        storage = env.instance.storage
        wait_for(lambda: part.name in storage.get_daemon_heartbeats())
        wait_for(
            lambda: (
                storage.get_daemon_heartbeats()[part.name].info["consecutive_failures"] >= failures
            )
        )
        info = storage.get_daemon_heartbeats()[part.name].info
        expected = backoff_seconds(part.interval_seconds, info["consecutive_failures"]) + 7
        assert info["stale_after_seconds"] == pytest.approx(expected)
    finally:
        stop.set()
        thread.join(30)


def test_daemon_status_shows_each_part_state(make_env: MakeEnv) -> None:
    """`opgraph daemon status` over what a real daemon wrote: a part restarted after its
    thread died, a part whose ticks fail (its last error), a part silent past its own
    deadline (stale), and no Celery worker beat among the parts."""
    import json

    from opgraph_app import create_app
    from opgraph_celery.fleet import HEARTBEAT_PREFIX
    from opgraph_storage.records import DaemonHeartbeat

    env = make_env()
    storage = env.instance.storage
    silent = {"errors": [], "state": "running", "interval_seconds": 1.0, "stale_after_seconds": 5}
    storage.add_daemon_heartbeat(DaemonHeartbeat("SILENT", "old", time.time() - 30, silent))
    storage.add_daemon_heartbeat(
        DaemonHeartbeat(f"{HEARTBEAT_PREFIX}w1@h", "w1@h", time.time(), {})
    )
    dies, fails = DiesAtFirst(dies=1), TickFails()
    # Alone, with a long lease: a loaded machine must not make it hand over mid-test.
    daemon = Daemon(env.instance, [dies, fails], "shown", lease_seconds=30)
    # Made before the daemon's threads start: CPython 3.11.7's ast.parse (Werkzeug's
    # routes here, the traceback carets of a failing part's log there) raises
    # "AST constructor recursion depth mismatch" when two threads parse at once.
    cli = create_app(env.instance, env.workspace).test_cli_runner()
    thread, stop, raised = run_in_thread(daemon)
    try:

        def parts() -> dict[str, dict]:
            shown = cli.invoke(args=["daemon", "status", "--json"])
            return {b["daemon_type"]: b for b in json.loads(shown.output)["heartbeats"]}

        def settled() -> dict[str, dict] | None:
            """Once DIES beat again after its restart (its first beat says "restarting")."""
            shown = parts()
            dies, fails = shown.get("DIES", {}), shown.get("TICK_FAILS", {})
            ready = dies.get("restarts") == 1 and dies.get("state") == "running"
            return shown if ready and fails.get("consecutive_failures", 0) >= 2 else None

        by_part = wait_for(settled)
        assert f"{HEARTBEAT_PREFIX}w1@h" not in by_part
        assert by_part["DIES"]["state"] == "running" and by_part["DIES"]["healthy"]
        assert by_part["TICK_FAILS"]["state"] == "failing"
        assert by_part["TICK_FAILS"]["errors"] == ["ConnectionError: could not connect to server"]
        assert by_part["SILENT"]["state"] == "stale" and not by_part["SILENT"]["healthy"]
        table = cli.invoke(args=["daemon", "status"])
        assert table.exit_code == 0, table.output
        lines = {line.split()[0]: line for line in table.output.splitlines()[1:] if line.strip()}
        assert "PART" in lines and "LAST ERROR" in lines["PART"]
        assert " running " in lines["DIES"] and lines["DIES"].split()[-2:] == ["1", "-"]
        assert " failing (" in lines["TICK_FAILS"]
        assert lines["TICK_FAILS"].endswith("ConnectionError: could not connect to server")
        assert " stale " in lines["SILENT"] and "(due within 5s)" in lines["SILENT"]
    finally:
        stop.set()
        thread.join(30)
    assert not raised

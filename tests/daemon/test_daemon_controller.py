"""The controller: one active daemon behind the lease, parts in threads, heartbeats."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from daemon_env import MakeEnv

from opgraph.daemon import Daemon, DaemonPart, TickReport
from opgraph.daemon.controller import DAEMON_HEARTBEAT, LEASE_NAME, STANDBY_HEARTBEAT


class Counting(DaemonPart):
    name = "COUNTING"
    interval_seconds = 0.02

    def __init__(self) -> None:
        self.ticks = 0

    def tick(self, now: float) -> TickReport:
        self.ticks += 1
        return TickReport(info={"ticks": self.ticks})


class Failing(DaemonPart):
    name = "FAILING"
    interval_seconds = 0.02

    def tick(self, now: float) -> TickReport:
        raise RuntimeError("this part always fails")


LONG_LEASE = 120.0


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def running() -> Iterator[Callable[[Daemon], threading.Event]]:
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(daemon: Daemon) -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
        thread.start()
        started.append((thread, stop))
        return stop

    yield start
    for thread, stop in started:
        stop.set()
        thread.join(10)


def test_one_daemon_is_active_and_the_standby_takes_over(
    make_env: MakeEnv, running: Callable[[Daemon], threading.Event]
) -> None:
    first_env, second_env = make_env(), make_env()
    first_part, second_part = Counting(), Counting()
    # A lease far longer than the waits below: the standby taking over at all shows that
    # the clean stop released the lease, not that it ran out (a fact, whatever the load).
    first = Daemon(first_env.instance, [first_part, Failing()], "first", lease_seconds=LONG_LEASE)
    second = Daemon(second_env.instance, [second_part], "second", lease_seconds=LONG_LEASE)
    stop_first = running(first)
    wait_for(first.active.is_set)
    running(second)
    wait_for(lambda: first_part.ticks > 5)
    time.sleep(0.5)
    assert not second.active.is_set() and second_part.ticks == 0
    storage = first_env.instance.storage
    beats = storage.get_daemon_heartbeats()
    assert beats["COUNTING"].daemon_id == "first" and beats["COUNTING"].info["ticks"] > 0
    assert beats["FAILING"].info["errors"] == ["RuntimeError: this part always fails"]
    assert beats[DAEMON_HEARTBEAT].daemon_id == "first"
    assert beats[STANDBY_HEARTBEAT].daemon_id == "second"
    held = storage.get_lease(LEASE_NAME)
    assert held is not None and held.expires_at > time.time() + LONG_LEASE / 2
    stop_first.set()  # a clean stop releases the lease: the standby need not wait it out
    wait_for(second.active.is_set, timeout=LONG_LEASE / 2)
    wait_for(lambda: second_part.ticks > 0)
    ticks_when_stopped = first_part.ticks
    time.sleep(0.2)
    assert first_part.ticks == ticks_when_stopped  # its parts really stopped
    lease = storage.get_lease(LEASE_NAME)
    assert lease is not None and lease.holder == "second" and lease.generation == 2


def test_a_daemon_that_loses_its_lease_stops_its_parts(
    make_env: MakeEnv, running: Callable[[Daemon], threading.Event]
) -> None:
    env = make_env()
    part = Counting()
    daemon = Daemon(env.instance, [part], "paused", lease_seconds=1)
    running(daemon)
    wait_for(daemon.active.is_set)
    # Another daemon takes the lease (as after this one was paused past its expiry).
    storage = env.instance.storage
    wait_for(
        lambda: (
            storage.acquire_lease(LEASE_NAME, "usurper", "h", 1, time.time() + 5, 60) is not None
        )
    )
    wait_for(lambda: not daemon.active.is_set(), timeout=3)
    ticks = part.ticks
    time.sleep(0.2)
    assert part.ticks == ticks

"""Chaos: real workers killed, run workers killed, brokers restarted, on each broker.

Each case runs `jobs.chaos_job` (a 40-op fan-out and an 8-op chain, 50 steps) with a run
worker process and Celery workers over PostgreSQL, injects its fault as the run goes, and
asserts the guarantee (harness.Chaos.check). Run with `-s` to see the duplicates.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from opgraph_celery.lost_messages import waiting_messages
from opgraph_celery.settings import is_redis
from opgraph_storage.records import StepAttemptStatus
from tests.celery_fleet import BROKERS, Fleet, make_fleet
from tests.chaos.harness import LIVENESS, Chaos
from tests.tcp_proxy import TcpProxy

KILLS = 8
SPREAD = 4  # kill k waits for 4k steps to have succeeded: faults all through the run
# An op of 0.4 s writes its side effect 0.2 s in: a kill later than this comes after it.
EFFECT_LANDED = 0.3


@pytest.fixture(scope="module", params=BROKERS)
def chaos_fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    home = tmp_path_factory.mktemp("chaos_home")
    with make_fleet(request, home, request.param, worker=False, extra_config=LIVENESS) as fleet:
        yield fleet


@pytest.fixture
def chaos(chaos_fleet: Fleet, tmp_path: Path) -> Iterator[Chaos]:
    case = Chaos(chaos_fleet, tmp_path)
    try:
        yield case
    finally:
        case.stop_everything()


def finish(chaos: Chaos, run_id: str, case: str) -> None:
    chaos.stop_everything()
    chaos.check(run_id, case)
    chaos.assert_nothing_left()


def successes_so_far(chaos: Chaos, run_id: str) -> int:
    return len(chaos.storage.get_events(run_id, event_types=["STEP_SUCCESS"]))


def test_whole_workers_killed_in_a_loop(chaos: Chaos) -> None:
    """A worker's main process and pool SIGKILLed while it runs a step, again and again,
    a replacement started each time: nothing is stranded, not even a message the dead
    worker had taken and not yet claimed."""
    chaos.start_worker()
    chaos.start_worker()
    run_id = chaos.start_run()

    def kill_a_busy_worker() -> None:
        if chaos.kills >= KILLS or successes_so_far(chaos, run_id) < chaos.kills * SPREAD:
            return
        # Every other kill lands after the op's side effect (halfway through it).
        past_effect = chaos.kills % 2 == 1
        for attempt in chaos.running(run_id):
            name = chaos.worker_of(attempt.hostname)
            if past_effect and time.time() - (attempt.started_at or 0) < EFFECT_LANDED:
                continue
            if name is not None:
                chaos.kill_worker(name)
                chaos.start_worker(wait=False)
                return

    chaos.wait_for_end(run_id, kill_a_busy_worker)
    assert chaos.kills == KILLS
    finish(chaos, run_id, "whole workers SIGKILLed")
    assert_lost_steps_published_one_level_up(chaos, run_id)


def assert_lost_steps_published_one_level_up(chaos: Chaos, run_id: str) -> None:
    """The attempt published after a lost one goes one priority level above the step's own
    (its first attempt's), so it does not wait behind the steps published while its
    predecessor was stranded."""
    by_step: dict[str, list[Any]] = {}
    for attempt in sorted(chaos.storage.get_step_attempts(run_id), key=lambda a: a.queued_at):
        by_step.setdefault(attempt.step_key, []).append(attempt)
    pairs = [
        (tries[0].priority, after.priority)
        for tries in by_step.values()
        for lost, after in itertools.pairwise(tries)
        if lost.status is StepAttemptStatus.LOST
    ]
    assert pairs, "no attempt was lost: the case injected no fault"
    assert all(after == first + 1 for first, after in pairs), pairs


def test_pool_children_killed(chaos: Chaos) -> None:
    chaos.start_worker()
    chaos.start_worker()
    run_id = chaos.start_run()
    killed: set[str] = set()

    def kill_a_pool_process() -> None:
        if len(killed) >= KILLS or successes_so_far(chaos, run_id) < len(killed) * SPREAD:
            return
        past_effect = len(killed) % 2 == 1
        for attempt in chaos.running(run_id):
            if past_effect and time.time() - (attempt.started_at or 0) < EFFECT_LANDED:
                continue
            if attempt.attempt_id not in killed and attempt.pid:
                killed.add(attempt.attempt_id)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(attempt.pid, signal.SIGKILL)
                return

    chaos.wait_for_end(run_id, kill_a_pool_process)
    assert len(killed) == KILLS
    outcome = chaos.check(run_id, "pool children SIGKILLed")
    assert outcome.infra_retries >= 1
    chaos.stop_everything()
    chaos.assert_nothing_left()


def test_a_frozen_pool_process_is_slow_not_lost(chaos: Chaos) -> None:
    """A pool process SIGSTOPped mid-op writes no heartbeat, but its worker's main process
    still answers that it runs the attempt: the run worker leaves it running past the
    heartbeat timeout (and says so), and once the process goes on, the op ran once."""
    chaos.start_worker()
    run_id = chaos.start_run(op_seconds=1.0)
    frozen: dict[str, Any] = {}

    def freeze_one() -> None:
        if frozen:
            return
        for attempt in chaos.running(run_id):
            if attempt.pid and attempt.step_key.startswith("branch_"):
                os.kill(attempt.pid, signal.SIGSTOP)
                frozen.update(pid=attempt.pid, attempt=attempt)
                return

    def left_running() -> bool:
        freeze_one()
        if not frozen:
            return False
        events = chaos.storage.get_events(run_id, event_types=["ENGINE_EVENT"])
        return any(
            "is slow, not lost" in e.message and e.step_key == frozen["attempt"].step_key
            for e in events
        )

    try:
        deadline = time.monotonic() + 120
        while not left_running():
            assert time.monotonic() < deadline, (
                f"the run worker never said it left {frozen} running: "
                f"{chaos.storage.get_step_attempts(run_id)} {chaos._diagnosis(run_id)}"
            )
            time.sleep(0.05)
    finally:
        if frozen:
            os.kill(frozen["pid"], signal.SIGCONT)
    chaos.wait_for_end(run_id)
    outcome = chaos.check(run_id, "a pool process frozen past the heartbeat timeout")
    assert outcome.infra_retries == 0 and outcome.duplicates == {}
    [attempt] = chaos.storage.get_step_attempts(attempt_ids=[frozen["attempt"].attempt_id])
    assert attempt.status is StepAttemptStatus.SUCCESS
    chaos.stop_everything()
    chaos.assert_nothing_left()


def held_by_a_worker(app: Any, queue: str, queued: list[str]) -> list[str]:
    """Which of the `queued` attempts' messages a worker took off `queue` and has not
    acknowledged: on Redis, those in kombu's `unacked` hash; on RabbitMQ, which cannot list
    them, all of them once the queue is empty. (Not merely "not waiting": an attempt is
    stored QUEUED a moment before its message is published.)"""
    if not is_redis(app.conf.broker_url):
        return list(queued) if waiting_messages(app, [queue])[queue] == set() else []
    with app.connection_for_read() as connection:
        unacked = connection.default_channel.client.hvals("unacked")
    taken = {json.loads(raw)[0]["headers"]["id"] for raw in unacked}
    return [attempt_id for attempt_id in queued if attempt_id in taken]


def test_a_worker_killed_right_after_taking_a_message(chaos: Chaos) -> None:
    """The victim's pool takes 5 s to load the job's code, so it holds the first message
    unclaimed that long; it is killed then. Redis keeps the message among the dead
    worker's unacknowledged ones (for the visibility timeout): the run worker gives the
    attempt up after `step_unclaimed_timeout_seconds` and publishes a new one. RabbitMQ
    gives the message back at once and the same attempt runs elsewhere."""
    victim = chaos.start_worker(import_seconds=5)
    run_id = chaos.start_run()
    app, queue = chaos.fleet.app, chaos.fleet.queue
    taken: list[str] = []

    def kill_the_taker() -> None:
        if taken:
            return
        queued = chaos.storage.get_step_attempts(run_id, [StepAttemptStatus.QUEUED])
        if not queued:
            return
        held = held_by_a_worker(app, queue, [a.attempt_id for a in queued])
        if held:
            chaos.kill_worker(victim)
            taken.extend(held)
            chaos.start_worker(wait=False)

    chaos.wait_for_end(run_id, kill_the_taker)
    assert taken
    outcome = chaos.check(run_id, "worker killed after taking a message")
    attempts = {a.attempt_id: a for a in chaos.storage.get_step_attempts(run_id)}
    first = attempts[taken[0]]
    assert first.step_key == "origin"
    if chaos.fleet.broker == "redis":
        assert first.status is StepAttemptStatus.LOST and first.started_at is None
        # Found by asking the fleet (no live worker holds it), or by the unclaimed bound.
        reason = first.reason or ""
        assert "no worker that answered holds it" in reason or "no worker claimed it" in reason
    else:  # RabbitMQ gave the message back: the attempt itself ran
        assert first.status is StepAttemptStatus.SUCCESS, first.reason
    assert outcome.duplicates == {}
    chaos.stop_everything()
    chaos.assert_nothing_left()


def test_the_run_worker_killed_and_resumed(chaos: Chaos) -> None:
    """The resumed run worker adopts what its predecessor published: no op runs twice."""
    chaos.start_worker()
    chaos.start_worker()
    run_id = chaos.start_run(op_seconds=1.0)
    state = {"killed": False}

    def kill_then_resume() -> None:
        if state["killed"] or successes_so_far(chaos, run_id) < 5 or not chaos.running(run_id):
            return
        first = chaos.run_workers[0]
        first.send_signal(signal.SIGKILL)
        first.wait()
        state["killed"] = True
        chaos.start_run_worker(run_id, resume=True)

    chaos.wait_for_end(run_id, kill_then_resume)
    assert state["killed"]
    outcome = chaos.check(run_id, "run worker SIGKILLed, resumed")
    assert outcome.duplicates == {}
    chaos.stop_everything()
    chaos.assert_nothing_left()


def test_the_run_worker_killed_without_resume(chaos: Chaos, tmp_path: Path) -> None:
    """A real daemon process's run monitoring, with no resume allowed, fails the run of a
    dead run worker and stops its steps on the fleet: the run ends, no step succeeded
    twice, nothing keeps running."""
    from opgraph_storage.records import RunStatus

    chaos.start_worker()
    chaos.start_worker()
    daemon = start_daemon(chaos, tmp_path / "daemon_home", max_resume_run_attempts=0)
    try:
        run_id = chaos.start_run(op_seconds=1.0)
        state = {"killed": False}

        def kill_the_run_worker() -> None:
            if state["killed"] or successes_so_far(chaos, run_id) < 5 or not chaos.running(run_id):
                return
            chaos.run_workers[0].send_signal(signal.SIGKILL)
            chaos.run_workers[0].wait()
            state["killed"] = True

        status = chaos.wait_for_end(run_id, kill_the_run_worker)
        assert state["killed"]
        assert status is RunStatus.FAILURE, daemon.output()[-3000:]
        failure = chaos.storage.get_events(run_id, event_types=["RUN_FAILURE"])
        assert failure and failure[-1].message.startswith("Run worker "), failure
        outcome = chaos.outcome(run_id)
        print(
            f"\n[chaos] run worker SIGKILLed, not resumed, on {chaos.fleet.broker}: "
            f"{sum(outcome.successes.values())} steps succeeded, duplicates={outcome.duplicates}"
        )
        assert set(outcome.successes.values()) <= {1}
        assert set(outcome.successes) <= set(outcome.effects)
        # The daemon gave up what the dead run worker had in flight: nothing stays live.
        live = chaos.storage.get_step_attempts(
            run_id, [StepAttemptStatus.QUEUED, StepAttemptStatus.RUNNING]
        )
        assert live == [], live
    finally:
        daemon.stop()
    chaos.stop_everything()
    chaos.assert_nothing_left()


def start_daemon(chaos: Chaos, home: Path, max_resume_run_attempts: int) -> Any:
    """`opgraph daemon run` on the case's storage and broker, its run monitoring polling
    every half second (the liveness grace is the chaos fleet's: 3 s)."""
    from tests.daemon.daemon_procs import DaemonProcess

    home.mkdir()
    config = yaml.safe_load((chaos.fleet.home / "instance.yaml").read_text())
    config["run_monitoring"] = {
        "poll_interval_seconds": 0.5,
        "max_resume_run_attempts": max_resume_run_attempts,
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    return DaemonProcess(home, "chaos")


# -- the broker goes away ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own (no persistence: a restart loses every message,
    the harshest case) that can be restarted on the same port."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@contextlib.contextmanager
def restartable_broker(
    request: pytest.FixtureRequest, home: Path, broker: str
) -> Iterator[tuple[Fleet, object]]:
    """A fleet whose broker can go away: Redis, a private redis-server restarted for real;
    RabbitMQ, behind a TCP proxy that is cut and brought back (a real restart of the
    shared server takes tens of seconds and would disturb other test sessions)."""
    if broker == "redis":
        redis = PrivateRedis(home)
        redis.start()
        try:
            url = f"redis://127.0.0.1:{redis.port}/0"
            with make_fleet(request, home, broker, False, LIVENESS, through=lambda _: url) as fleet:
                yield fleet, redis
        finally:
            redis.stop()
        return
    proxy = ProxiedBroker()
    try:

        def through(url: str) -> str:
            parts = urlsplit(url)
            user = parts.netloc.rpartition("@")[0]
            return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{proxy.port}"))

        with make_fleet(request, home, broker, False, LIVENESS, through=through) as fleet:
            yield fleet, proxy
    finally:
        proxy.stop()


class ProxiedBroker:
    def __init__(self) -> None:
        self.proxy = TcpProxy("127.0.0.1", 0, target_port=5672)
        self.port = self.proxy.port
        self.proxy.start()

    def stop(self) -> None:
        self.proxy.cut()

    def start(self) -> None:
        self.proxy = TcpProxy("127.0.0.1", self.port, target_port=5672)
        self.proxy.start()


@pytest.mark.parametrize("broker", BROKERS)
def test_the_broker_restarted(request: pytest.FixtureRequest, tmp_path: Path, broker: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with restartable_broker(request, home, broker) as (fleet, server):
        chaos = Chaos(fleet, tmp_path / "markers")
        try:
            chaos.start_worker()
            chaos.start_worker()
            run_id = chaos.start_run()
            state = {"restarted": False}

            def restart() -> None:
                if state["restarted"] or successes_so_far(chaos, run_id) < 10:
                    return
                server.stop()  # type: ignore[attr-defined]
                time.sleep(2)  # the outage itself: two seconds without a broker
                server.start()  # type: ignore[attr-defined]
                state["restarted"] = True

            chaos.wait_for_end(run_id, restart)
            assert state["restarted"]
            finish(chaos, run_id, "broker restarted")
        finally:
            chaos.stop_everything()

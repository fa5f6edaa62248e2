"""A real Celery worker whose pool process has connected to PostgreSQL (it warms up when it
starts) when the database goes away (cut through a TCP proxy): a step message waits out
the outage within `storage.reconnect_timeout_seconds`, saying so in the worker's log, or
is rejected back to its queue; either way the step runs once, in its first attempt
(attempt 0: no infrastructure retry), once the database is back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from daemon_procs import wait_for

from opgraph.instance import OpgraphInstance
from opgraph_storage.records import FINISHED_STATUSES, RunStatus, StepAttemptStatus
from opgraph_storage.urls import normalize_url
from tests.celery_fleet import Fleet
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow
JOBS = Path(__file__).with_name("held_jobs.py")


@dataclass
class Setup:
    """A one-worker fleet that reaches PostgreSQL only through `proxy`'s port, and an
    instance (the test's and the run worker's) that reaches it straight."""

    fleet: Fleet
    instance: OpgraphInstance
    proxy: TcpProxy
    target_port: int
    markers: Path

    def submit(self) -> str:
        run = self.instance.create_run(
            "one_counted",
            run_config={"execution": {"config": {"celery": {}}}},
            tags={"test/marker_dir": str(self.markers)},
            code_pointer={"python_file": str(JOBS), "working_directory": str(self.markers.parent)},
        )
        self.instance.submit_run(run.run_id)
        return run.run_id

    def worker_logged(self, text: str) -> bool:
        return text in self.fleet.local.log("w1")

    def restore(self) -> TcpProxy:
        """A new proxy on the same port: the database is back."""
        proxy = TcpProxy("127.0.0.1", self.proxy.port, target_port=self.target_port)
        proxy.start()
        return proxy

    def assert_ran_once_in_its_first_attempt(self, run_id: str) -> None:
        wait_for(
            lambda: self.instance.get_run(run_id).status in FINISHED_STATUSES,
            180,
            "the run to finish once the database is back",
        )
        worker_log: Any = self.fleet.local.log("w1")
        assert self.instance.get_run(run_id).status is RunStatus.SUCCESS, worker_log[-3000:]
        [attempt] = self.instance.storage.get_step_attempts(run_id=run_id)
        assert attempt.attempt_number == 0 and attempt.status is StepAttemptStatus.SUCCESS
        assert (self.markers / "counted.runs").read_text().count("\n") == 1


@pytest.fixture
def make_setup(
    tmp_path: Path, pg_storage_url: str, redis_url: str
) -> Iterator[Callable[[float], Setup]]:
    made: list[Setup] = []
    proxies: list[TcpProxy] = []

    def make(patience: float) -> Setup:
        server = sa.make_url(normalize_url(pg_storage_url))
        target = server.port or 5432
        proxy = TcpProxy("127.0.0.1", 0, target_port=target)
        proxies.append(proxy)
        queue = f"opgraph-outage-{uuid.uuid4().hex[:8]}"
        celery = {"broker_url": redis_url, "default_queue": queue}
        worker_home = tmp_path / "worker"
        worker_home.mkdir()
        fleet = Fleet(worker_home, pg_storage_url, redis_url, queue)  # writes its instance.yaml
        proxied = server.set(port=proxy.port).render_as_string(False)
        storage = {"url": proxied, "reconnect_timeout_seconds": patience}
        (worker_home / "instance.yaml").write_text(
            yaml.safe_dump({"storage": storage, "celery": celery})
        )
        home = tmp_path / "home"
        home.mkdir()
        (home / "instance.yaml").write_text(
            yaml.safe_dump({"storage": {"url": pg_storage_url}, "celery": celery})
        )
        markers = tmp_path / "markers"
        markers.mkdir()
        setup = Setup(fleet, OpgraphInstance.get(home), proxy, target, markers)
        made.append(setup)
        return setup

    yield make
    for setup in made:
        setup.fleet.stop_all()
        setup.fleet.purge()
        setup.instance.dispose()
    for proxy in proxies:
        proxy.stop()


@pytest.mark.parametrize(
    ("patience", "logged"),
    [(300, "Trying again for up to 300s"), (1, "rejected back to the queue")],
    ids=["waits", "rejects"],
)
def test_a_step_outlasts_a_database_cut_before_it_is_claimed(
    make_setup: Callable[[float], Setup], patience: float, logged: str
) -> None:
    setup = make_setup(patience)
    setup.proxy.start()
    node = setup.fleet.node("w1")
    setup.fleet.start_worker("w1", concurrency=1)  # its main process beats through the proxy
    wait_for(
        lambda: any(
            beat.daemon_id.startswith(node) or node in beat.daemon_type
            for beat in setup.instance.storage.get_daemon_heartbeats().values()
        ),
        60,
        "the worker's first heartbeat",
    )
    setup.proxy.cut()  # drops the pool process's connection too
    run_id = setup.submit()
    wait_for(
        lambda: setup.worker_logged("cannot connect to the storage database"),
        120,
        "the worker's pool process to meet the outage",
    )
    wait_for(lambda: setup.worker_logged(logged), 120, f"the worker to log {logged!r}")
    restored = setup.restore()
    try:
        setup.assert_ran_once_in_its_first_attempt(run_id)
    finally:
        restored.stop()


def test_a_pool_process_that_never_connected_waits_for_the_database(
    make_setup: Callable[[float], Setup],
) -> None:
    """The worker starts during the outage: its pool process cannot warm up, so the engine
    has no patience for it (it never reached the database: a wrong URL would look the
    same); the step task itself waits the outage out before its claim."""
    setup = make_setup(300)  # its proxy never starts: the port refuses connections
    setup.proxy.stop()
    setup.fleet.start_worker("w1", concurrency=1)
    wait_for(
        lambda: setup.worker_logged("could not open storage in this pool process"),
        60,
        "the pool process to fail to open storage as it starts",
    )
    run_id = setup.submit()
    wait_for(
        lambda: setup.worker_logged("before attempt") and setup.worker_logged("trying again in"),
        120,
        "the step task to wait for the database",
    )
    restored = setup.restore()
    try:
        setup.assert_ran_once_in_its_first_attempt(run_id)
    finally:
        restored.stop()

"""Real `celery worker` processes for tests: a fleet sharing one PostgreSQL and Redis.

Each test module gets its own database, queue names and OPGRAPH_HOME, so fleets of
different modules (or sessions) never take each other's messages.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


class Fleet:
    def __init__(self, home: Path, storage_url: str, broker_url: str, queue: str):
        self.home = home
        self.storage_url = storage_url
        self.broker_url = broker_url
        self.queue = queue
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self._instance: Any = None
        self._app: Any = None
        (home / "instance.yaml").write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": storage_url},
                    "celery": {"broker_url": broker_url, "default_queue": queue},
                }
            )
        )

    @property
    def instance(self) -> Any:
        from opgraph import OpgraphInstance

        if self._instance is None:
            self._instance = OpgraphInstance.get(self.home)
        return self._instance

    @property
    def app(self) -> Any:
        if self._app is None:
            from celery_executor.celery_app import instance_celery_config, make_celery_app

            self._app = make_celery_app(instance_celery_config(self.home))
        return self._app

    def node(self, name: str) -> str:
        """Node names carry the fleet's suffix: control broadcasts reach every worker on
        the broker, so two test sessions must never share a node name."""
        return f"{name}-{self.suffix}@{socket.gethostname()}"

    @property
    def suffix(self) -> str:
        return self.queue.rsplit("-", 1)[-1]

    def start_worker(
        self, name: str, queues: list[str] | None = None, concurrency: int = 2, wait: bool = True
    ) -> subprocess.Popen[bytes]:
        log = open(self.home / f"worker-{name}.log", "ab")  # noqa: SIM115 - lives with the worker
        env = {
            **os.environ,
            "OPGRAPH_HOME": str(self.home),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_executor",
                "worker",
                "-Q",
                ",".join(queues or [self.queue]),
                "--concurrency",
                str(concurrency),
                "-n",
                self.node(name),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
        )
        log.close()
        self.workers[name] = process
        if wait:
            self.wait_ready(name)
        return process

    def wait_ready(self, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.workers[name].poll() is not None:
                raise RuntimeError(f"worker {name} exited: {self.log(name)[-2000:]}")
            if self.app.control.ping(destination=[self.node(name)], timeout=0.5):
                return
        raise RuntimeError(f"worker {name} not ready after {timeout}s: {self.log(name)[-2000:]}")

    def log(self, name: str) -> str:
        return (self.home / f"worker-{name}.log").read_text(errors="replace")

    def stop_worker(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        process = self.workers.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name, signal.SIGTERM, timeout=10)
        if self._instance is not None:
            self._instance.dispose()

    def purge(self) -> None:
        import redis

        client = redis.Redis.from_url(self.broker_url)
        try:
            for key in client.scan_iter(f"{self.queue}*"):
                client.delete(key)
        finally:
            client.close()


@pytest.fixture(scope="module")
def celery_fleet(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Fleet]:
    """A PostgreSQL-backed home with one worker (`w1`, concurrency 2) already running."""
    from tests.conftest import _create_database, _drop_database

    database = _create_database("opgraph_celery")
    home = tmp_path_factory.mktemp("celery_home")
    fleet = Fleet(home, database, redis_url, f"opgraph-test-{uuid.uuid4().hex[:8]}")
    try:
        _ = fleet.instance.storage  # create the schema before workers race to
        fleet.start_worker("w1")
        yield fleet
    finally:
        fleet.stop_all()
        fleet.purge()
        _drop_database(database)

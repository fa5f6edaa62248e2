"""Real `celery worker` processes for tests: a fleet sharing one PostgreSQL and Redis.

Each test module gets its own database, queue names and OPGRAPH_HOME, so fleets of
different modules (or sessions) never take each other's messages.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import pytest
import yaml

from opgraph_celery.local_workers import LocalWorkers


class Fleet:
    """A home (instance.yaml) with its storage, broker, queue and local workers."""

    def __init__(self, home: Path, storage_url: str, broker_url: str, queue: str):
        self.home = home
        self.storage_url = storage_url
        self.broker_url = broker_url
        self.queue = queue
        self._instance: Any = None
        (home / "instance.yaml").write_text(
            yaml.safe_dump(
                {
                    "storage": {"url": storage_url},
                    "celery": {"broker_url": broker_url, "default_queue": queue},
                }
            )
        )
        from opgraph_celery.celery_app import instance_celery_config, make_celery_app

        self.app = make_celery_app(instance_celery_config(home))
        # Control broadcasts reach every worker on the broker: node names carry a suffix
        # so that two test sessions never answer for each other.
        self.local = LocalWorkers(home, self.app, queue, name_suffix=queue.rsplit("-", 1)[-1])

    @property
    def instance(self) -> Any:
        from opgraph import OpgraphInstance

        if self._instance is None:
            self._instance = OpgraphInstance.get(self.home)
        return self._instance

    @property
    def workers(self) -> dict[str, Any]:
        return self.local.processes

    def node(self, name: str) -> str:
        return self.local.node(name)

    def start_worker(
        self, name: str, queues: list[str] | None = None, concurrency: int = 2, wait: bool = True
    ) -> Any:
        return self.local.start(name, queues, concurrency, wait)

    def stop_worker(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        self.local.stop(name, sig, timeout)

    def stop_all(self) -> None:
        self.local.stop_all()
        # No broker connections may outlive the fleet: kombu's after-fork hook would try to
        # close them in a child forked later by another test, and can block there.
        self.app.close()
        kombu.pools.reset()
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

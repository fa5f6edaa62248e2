"""Real `celery worker` processes for tests: a fleet sharing one PostgreSQL and a broker.

Each test module gets its own database, queue names and OPGRAPH_HOME, so fleets of
different modules (or sessions) never take each other's messages. The broker is Redis
unless a test asks for RabbitMQ: `@pytest.mark.parametrize("celery_fleet", BROKERS,
indirect=True)`; a RabbitMQ fleet gets its own virtual host as well.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import kombu.pools
import pytest
import yaml

from opgraph_celery.local_workers import LocalWorkers
from opgraph_celery.settings import is_amqp

BROKERS = ["redis", "rabbitmq"]


class Fleet:
    """A home (instance.yaml) with its storage, broker, queue and local workers."""

    def __init__(
        self,
        home: Path,
        storage_url: str,
        broker_url: str,
        queue: str,
        extra_config: dict[str, Any] | None = None,
    ):
        self.home = home
        self.storage_url = storage_url
        self.broker_url = broker_url
        self.queue = queue
        self.broker = "rabbitmq" if is_amqp(broker_url) else "redis"
        self._instance: Any = None
        extra = dict(extra_config or {})
        # An extra `celery` section adds to the fleet's broker and queue (e.g. config_source).
        celery = {"broker_url": broker_url, "default_queue": queue, **extra.pop("celery", {})}
        (home / "instance.yaml").write_text(
            yaml.safe_dump({"storage": {"url": storage_url}, "celery": celery, **extra})
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
        if is_amqp(self.broker_url):
            return  # its virtual host goes with it (see amqp_vhost)
        import redis

        client = redis.Redis.from_url(self.broker_url)
        try:
            for key in client.scan_iter(f"{self.queue}*"):
                client.delete(key)
        finally:
            client.close()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def amqp_vhost(amqp_url: str, name: str) -> Iterator[str]:
    """A virtual host of its own on the test RabbitMQ, deleted afterwards: queues, control
    broadcasts and all. Where rabbitmqctl cannot reach the server, the URL's own virtual
    host serves (the queue names are unique anyway)."""
    try:
        _rabbitmqctl("add_vhost", name)
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError):
        yield amqp_url
        return
    try:
        yield urlunsplit(urlsplit(amqp_url)._replace(path=f"/{name}"))
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextlib.contextmanager
def broker_for(request: pytest.FixtureRequest, kind: str, name: str) -> Iterator[str]:
    """The URL of a broker of `kind` ("redis" or "rabbitmq") for one fleet."""
    if kind == "redis":
        yield request.getfixturevalue("redis_url")
    elif kind == "rabbitmq":
        with amqp_vhost(request.getfixturevalue("amqp_url"), name) as url:
            yield url
    else:
        raise ValueError(f"broker {kind!r}: expected one of {BROKERS}")


@contextlib.contextmanager
def make_fleet(
    request: pytest.FixtureRequest,
    home: Path,
    broker: str = "redis",
    worker: bool = True,
    extra_config: dict[str, Any] | None = None,
    through: Callable[[str], str] | None = None,
) -> Iterator[Fleet]:
    """A PostgreSQL-backed home on `broker`, with one worker (`w1`, concurrency 2);
    `through` maps the broker's URL to the one everybody uses (a proxy in front of it)."""
    from tests.conftest import _create_database, _drop_database

    queue = f"opgraph-test-{uuid.uuid4().hex[:8]}"
    database = _create_database("opgraph_celery")
    try:
        with broker_for(request, broker, queue) as own_url:
            broker_url = through(own_url) if through else own_url
            fleet = Fleet(home, database, broker_url, queue, extra_config)
            try:
                _ = fleet.instance.storage  # create the schema before workers race to
                if worker:
                    fleet.start_worker("w1")
                yield fleet
            finally:
                fleet.stop_all()
                fleet.purge()
    finally:
        _drop_database(database)


@pytest.fixture(scope="module")
def celery_fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """A PostgreSQL-backed home with one worker (`w1`, concurrency 2) already running; on
    Redis unless parametrized indirectly with "rabbitmq"."""
    broker = getattr(request, "param", "redis")
    with make_fleet(request, tmp_path_factory.mktemp("celery_home"), broker) as fleet:
        yield fleet

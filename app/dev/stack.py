"""What `opgraph dev` starts, in which order, and how it stops it all.

    broker (embedded Redis, unless instance.yaml names one)
    Celery workers ─┐
    webserver ──────┼─ each in its own session, output in OPGRAPH_HOME/logs/<name>.log
    daemon ─────────┘  (the webserver and the daemon start the code servers themselves)

Stopping goes the other way: the daemon and the webserver first (nothing new is
launched), then whatever they left running (run workers, code servers: they were
re-parented to us), then the workers (so that a cancelled run can still revoke its
steps), then the broker, and last a sweep of anything still below this process.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph_app.dev.broker import broker_url_for, check_broker, start_embedded_redis
from opgraph_app.dev.client import LocationInfo, WebClient
from opgraph_app.dev.processes import (
    Service,
    alive,
    become_subreaper,
    descendants,
    reap,
    start_service,
    stop_descendants,
    stop_services,
)
from opgraph_celery.config import instance_celery_section
from opgraph_celery.fleet import HEARTBEAT_PREFIX
from opgraph_celery.plugin import CELERY_LAUNCHER
from opgraph_storage.records import RunsFilter, RunStatus

# Run from the user's project: -P, and not `flask --app` (which puts the directory on
# sys.path), so its app.py or storage.py is never what an import finds.
FLASK = [sys.executable, "-P", "-m", "opgraph_app"]
DAEMON_COMMAND = ["daemon", "run"]
READY_TIMEOUT = 60.0
# A worker or the daemon that exits is started again, unless it exited this often lately.
MAX_RESTARTS = 5
RESTART_WINDOW = 600.0
IN_FLIGHT = (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING)


def daemon_available() -> bool:
    """Whether `opgraph daemon run` exists (the daemon lands in its own change)."""
    import click

    from opgraph_app import create_app

    group = create_app().cli.commands.get(DAEMON_COMMAND[0])  # reads no config
    return isinstance(group, click.Group) and DAEMON_COMMAND[1] in group.commands


class DevError(OpgraphError):
    """Something `opgraph dev` started did not come up, or stopped on its own."""


@dataclass
class DevSettings:
    home: Path
    workspace: Path
    host: str = "127.0.0.1"
    port: int = 3000
    workers: int = 1
    concurrency: int = 2
    queues: list[str] | None = None
    log_format: str = "text"
    with_daemon: bool = True
    stop_grace: float = 10.0
    broker: str | None = None  # --broker: embedded, redis, rabbitmq or a URL


class DevStack:
    def __init__(self, settings: DevSettings, echo: Callable[[str], None] = print):
        self.settings = settings
        self.echo = echo
        self.instance = OpgraphInstance.get(settings.home)
        self.front: list[Service] = []  # webserver, daemon
        self.workers: list[Service] = []
        self.broker: Service | None = None
        self.broker_url = ""
        self.queues: list[str] = []
        self.started_at = time.time()
        self._restarts: dict[str, list[float]] = {}  # service name -> monotonic restart times
        token = self.instance.config.webserver.auth_token
        self.client = WebClient(self.url, token)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    @property
    def services(self) -> list[Service]:
        return [*self.front, *self.workers, *([self.broker] if self.broker else [])]

    def pids(self) -> list[int]:
        """Every process running below this one (for tests and `--once` checks). One that
        exited a moment ago (a zygote after its last run worker) is reaped, not counted."""
        below = descendants()
        reap(below)
        return [pid for pid in below if alive(pid)]

    # -- start ----------------------------------------------------------------------------
    def start(self) -> list[LocationInfo]:
        """Start everything and wait until it answers; returns the code locations."""
        become_subreaper()
        self._check_port()
        self.instance.storage  # noqa: B018 - creates or checks the schema before anyone else
        self._start_broker()
        self._export_environment()
        self._start_workers()
        self._start_front()
        self._wait_webserver()
        for name in self.worker_names:
            self._local_workers.wait_ready(name, READY_TIMEOUT)
        locations = self._wait_locations()
        if self.settings.with_daemon:
            self._wait_daemon()
        return locations

    def _check_port(self) -> None:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.settings.host, self.settings.port))
            except OSError as exc:
                raise DevError(
                    f"cannot serve the UI on {self.settings.host}:{self.settings.port}: "
                    f"{exc.strerror}; pass another --port"
                ) from None

    def _start_broker(self) -> None:
        if self.settings.broker is not None:
            chosen = broker_url_for(self.settings.broker)
            if chosen is not None:
                check_broker(chosen)
                self.broker_url = chosen
                return
            self.broker, self.broker_url = start_embedded_redis(
                self.settings.home / "dev", self._log("redis")
            )
            return
        configured = os.environ.get("OPGRAPH_CELERY_BROKER_URL")
        celery = instance_celery_section(self.instance)
        if configured or "broker_url" in celery.model_fields_set:
            self.broker_url = configured or celery.broker_url
            return
        self.broker, self.broker_url = start_embedded_redis(
            self.settings.home / "dev", self._log("redis")
        )

    def _export_environment(self) -> None:
        """What every process started from here (and their children) must agree on."""
        os.environ["OPGRAPH_HOME"] = str(self.settings.home)
        os.environ["OPGRAPH_WORKSPACE"] = str(self.settings.workspace)
        os.environ["OPGRAPH_CELERY_BROKER_URL"] = self.broker_url
        os.environ["OPGRAPH_LOG_FORMAT"] = self.settings.log_format
        os.environ["PYTHONUNBUFFERED"] = "1"

    def _start_workers(self) -> None:
        from opgraph_celery.celery_app import make_celery_app
        from opgraph_celery.local_workers import LocalWorkers
        from opgraph_celery.settings import RUNS_QUEUE

        celery = instance_celery_section(self.instance)
        self.queues = self.settings.queues or [celery.default_queue]
        launcher = self.instance.config.run_launcher
        named = (launcher.module, launcher.class_name)
        if named == (CELERY_LAUNCHER.module, CELERY_LAUNCHER.class_name):  # run workers are tasks
            runs_queue = str(launcher.config.get("queue") or RUNS_QUEUE)
            self.queues = list(dict.fromkeys([*self.queues, runs_queue]))
        # Node names must not clash with another session's on a shared broker.
        suffix = "" if self.broker is not None else str(os.getpid())
        self._local_workers = LocalWorkers(
            self.settings.home, make_celery_app(celery), self.queues[0], suffix, new_session=True
        )
        self.worker_names = [f"dev{i + 1}" for i in range(self.settings.workers)]
        for name in self.worker_names:
            popen = self._local_workers.start(
                name, self.queues, self.settings.concurrency, wait=False
            )
            self.workers.append(
                Service(f"worker {name}", popen, self._local_workers.log_path(name))
            )

    def _start_front(self) -> None:
        webserver = [
            *FLASK, "webserver",
            "--host", self.settings.host,
            "--port", str(self.settings.port),
            "--workspace", str(self.settings.workspace),
        ]  # fmt: skip
        self.front.append(self._start("webserver", webserver))
        if self.settings.with_daemon:
            self.front.append(self._start("daemon", [*FLASK, *DAEMON_COMMAND]))

    def _start(self, name: str, command: list[str]) -> Service:
        env = dict(os.environ)
        return start_service(name, command, self._log(name), env, cwd=Path.cwd())

    def _log(self, name: str) -> Path:
        return self.settings.home / "logs" / f"{name}.log"

    # -- readiness ------------------------------------------------------------------------
    def _wait(self, what: str, ready: Callable[[], Any], timeout: float = READY_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            result = ready()
            if result:
                return result
            time.sleep(0.1)
        raise DevError(f"{what} not ready after {timeout:.0f}s; see {self.settings.home}/logs")

    def _wait_webserver(self) -> None:
        self._wait(f"the webserver at {self.url}", self.client.healthy)

    def _wait_locations(self) -> list[LocationInfo]:
        def loaded() -> list[LocationInfo] | None:
            found = self.client.locations()
            return None if any(loc.state == "LOADING" for loc in found) else found

        return self._wait("the code locations", loaded)  # type: ignore[no-any-return]

    def _wait_daemon(self) -> None:
        def beating() -> bool:
            beats = self.instance.storage.get_daemon_heartbeats()
            return any(
                not name.startswith(HEARTBEAT_PREFIX) and beat.timestamp >= self.started_at - 1
                for name, beat in beats.items()
            )

        self._wait("the daemon", beating)

    def check(self) -> None:
        """Restart a Celery worker or the daemon that exited on its own (a worker exits on
        an unrecoverable broker error, the daemon when a part cannot be restarted), as a
        deployment's restart policy would; raise DevError naming a service that stopped
        and is not restarted (the webserver, the broker) or that keeps exiting."""
        for index, worker in enumerate(self.workers):
            if not worker.running():
                self.workers[index] = self._restart(worker, partial(self._start_worker, worker))
        for index, service in enumerate(self.front):
            if service.name == "daemon" and not service.running():
                self.front[index] = self._restart(
                    service, lambda: self._start("daemon", [*FLASK, *DAEMON_COMMAND]).popen
                )
        for service in self.services:
            if not service.running():
                raise self._exited(service)

    def _start_worker(self, worker: Service) -> Any:
        name = worker.name.removeprefix("worker ")
        return self._local_workers.start(name, self.queues, self.settings.concurrency, wait=False)

    def _restart(self, service: Service, start: Callable[[], Any]) -> Service:
        now = time.monotonic()
        recent = [t for t in self._restarts.get(service.name, []) if now - t < RESTART_WINDOW]
        if len(recent) >= MAX_RESTARTS:
            raise self._exited(service, f" ({len(recent)} restarts in {RESTART_WINDOW:.0f}s)")
        self._restarts[service.name] = [*recent, now]
        service.signal_group(signal.SIGKILL)  # its pool processes, if any outlived it
        self.echo(
            f"{service.name} exited with code {service.popen.returncode}; restarting it "
            f"(see {service.log_path})"
        )
        return Service(service.name, start(), service.log_path)

    @staticmethod
    def _exited(service: Service, why: str = "") -> DevError:
        return DevError(
            f"{service.name} exited with code {service.popen.returncode}{why}; "
            f"the end of {service.log_path}:\n{service.log_tail()}"
        )

    # -- stop -----------------------------------------------------------------------------
    def stop(self) -> list[int]:
        """Stop everything; returns the pids of processes the services left behind."""
        grace = self.settings.stop_grace
        if not self._runs_in_flight():  # nothing to cancel: no need to keep the workers
            stop_services([*self.front, *self.workers], signal.SIGTERM, grace)
        stop_services(self.front, signal.SIGTERM, grace)
        # Run workers and code servers the webserver and daemon started: SIGTERM makes a
        # run worker cancel its run, which needs the workers and the broker still up.
        back = [service.pid for service in self.services if service not in self.front]
        leftovers = stop_descendants(grace, keep=back)
        stop_services(self.workers, signal.SIGTERM, grace)
        if self.broker is not None:
            stop_services([self.broker], signal.SIGTERM, grace)
        leftovers += stop_descendants(2.0)
        self.instance.dispose()
        return leftovers

    def _runs_in_flight(self) -> bool:
        """Runs launched during this session that have a run worker (or will get one)."""
        try:
            live = self.instance.storage.get_runs(
                RunsFilter(statuses=list(IN_FLIGHT), created_after=self.started_at - 1),
                limit=1,
            )
        except Exception:  # storage unreachable: stop in the careful order
            return True
        return bool(live)

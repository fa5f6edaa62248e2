"""Webserver processes for the tests of this folder, stopped when their test ends."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.web_server import Webserver


@pytest.fixture
def servers() -> Iterator[list[Webserver]]:
    """Append the webservers a test starts; each is stopped after the test."""
    started: list[Webserver] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def opgraph_webserver(servers: list[Webserver]) -> Callable[..., Webserver]:
    """`start(home, *options, env=None)`: `opgraph webserver` (gevent, its defaults) on a
    free port, answering /health, as `flask --app opgraph_app webserver` runs it."""

    def start(home: Path, *options: str, env: dict[str, str] | None = None) -> Webserver:
        command = [
            sys.executable, "-m", "flask", "--app", "opgraph_app", "webserver",
            "--port", "{port}", *options,
        ]  # fmt: skip
        server = Webserver(home, command=command, env=env)
        servers.append(server)
        return server

    return start

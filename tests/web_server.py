"""Real webserver processes for tests: gunicorn (or `opgraph webserver`) on a free port.

`make_home` writes an OPGRAPH_HOME with instance.yaml (the given storage, the subprocess
launcher) and a workspace.yaml with one code location of test jobs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

JOBS = """
import os
import time

from opgraph import Config, Definitions, In, Nothing, job, op


class EmitConfig(Config):
    n: int = 1


@op
def emit(config: EmitConfig) -> int:
    print(f"emitting {config.n}")
    return config.n


@op
def double(n: int) -> int:
    return 2 * n


@op
def flaky(n: int) -> int:
    # Fails while the marker file exists: a re-execution after removing it succeeds.
    marker = os.environ.get("OPGRAPH_TEST_FAIL_MARKER", "")
    if marker and os.path.exists(marker):
        raise RuntimeError("flaky failed on purpose")
    return n + 1


@op
def report(n: int) -> int:
    return n


@job
def numbers():
    report(flaky(double(emit())))


@op
def nap():
    time.sleep(120)


@job
def sleepy():
    nap()


defs = Definitions(jobs=[numbers, sleepy])
"""


# `opgraph webserver` as production runs it (gunicorn, the gevent worker, PYTHONMALLOC=malloc),
# for `Webserver(home, command=OPGRAPH_WEBSERVER)`.
OPGRAPH_WEBSERVER = [
    sys.executable, "-m", "flask", "--app", "opgraph_app", "webserver", "--port", "{port}",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_home(base: Path, storage_url: str, **instance: Any) -> Path:
    home = base / "home"
    code = base / "code"
    home.mkdir(parents=True, exist_ok=True)
    code.mkdir(parents=True, exist_ok=True)
    (code / "jobs.py").write_text(JOBS)
    config = {"storage": {"url": storage_url}, "run_launcher": "subprocess", **instance}
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    workspace = {
        "load_from": [
            {"python_file": {"relative_path": str(code / "jobs.py"), "location_name": "tests"}}
        ]
    }
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    return home


class Webserver:
    """One webserver process; `gql(...)` posts a GraphQL request and returns the JSON."""

    def __init__(self, home: Path, command: list[str] | None = None, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = home
        args = command or [
            str(Path(sys.executable).parent / "gunicorn"),
            "opgraph_app:create_app()",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
        ]
        args = [a.replace("{port}", str(self.port)) for a in args]
        self.log = open(home / f"webserver-{self.port}.log", "wb")  # noqa: SIM115
        full_env = {**os.environ, "OPGRAPH_HOME": str(home), **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), full_env.get("PYTHONPATH")) if p
        )
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"webserver exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"webserver not healthy after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.home / f"webserver-{self.port}.log").read_text(errors="replace")

    def request(
        self,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
        method: str | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict, bytes]:
        req = urllib.request.Request(
            self.url + path, data=body, headers=headers or {}, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def gql(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": variables}).encode()
        status, _, data = self.request("/graphql", body, headers)
        assert status == 200, (status, data)
        answer = json.loads(data)
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()

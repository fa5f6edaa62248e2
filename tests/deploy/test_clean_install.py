"""What the Docker image installs, in a clean virtualenv: the wheel built from this tree,
its dependencies through constraints.txt, and no dev extra. From that virtualenv alone a
webserver, a daemon, a code server and a Celery worker start, and run a job to SUCCESS.

This catches a dependency that only the dev extra (or this machine) happens to bring, as
`packaging` was for Celery's Redis transport. It takes a minute or two: pip, then four
services. It runs in `make test` (CI)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph_app.dev.client import WebClient
from opgraph_storage import create_storage
from opgraph_storage.records import FINISHED_STATUSES, RunStatus, StepAttemptStatus
from tests.web_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.cfg", "README.md")
PACKAGES = ("opgraph", "storage", "launchers", "celery_executor", "app")
PIP_SECONDS = 600

JOBS = """
from opgraph import Definitions, job, op


@op
def one() -> int:
    return 1


@op
def plus_one(x: int) -> int:
    return x + 1


@job
def clean_job():
    plus_one(one())


defs = Definitions(jobs=[clean_job])
"""


def _run(command: list[str], cwd: Path, timeout: float = PIP_SECONDS) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_clean_env()
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """This session's environment without anything that points into the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the wheel installed through constraints.txt, without extras."""
    base = tmp_path_factory.mktemp("clean_install")
    tree = base / "tree"  # the wheel is built from a copy: the shared checkout stays as it is
    tree.mkdir()
    for name in SOURCES:
        shutil.copy2(ROOT / name, tree / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(tree)], base)
    [wheel] = dist.glob("opgraph-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], base)
    constraints = str(ROOT / "constraints.txt")
    _run([str(venv / "bin" / "pip"), "install", "--constraint", constraints, str(wheel)], base)
    return venv


class Services:
    """Processes started from the clean virtualenv, each in its own session."""

    def __init__(self, home: Path, cwd: Path):
        self.home = home
        self.cwd = cwd
        self.started: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, name: str, command: list[str]) -> None:
        log_path = self.home / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=_clean_env(OPGRAPH_HOME=str(self.home)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started[name] = (process, log_path)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}:\n{path.read_text(errors='replace')[-2000:]}"
            for name, (_, path) in self.started.items()
        )

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for name, (process, _) in self.started.items():
                assert process.poll() is None, (
                    f"{name} exited while waiting for {what}\n{self.logs()}"
                )
            value = condition()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.logs()}"
            time.sleep(0.2)

    def stop(self) -> None:
        for process, _ in self.started.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.started.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever it left in its session
            except ProcessLookupError:
                pass
            if process.poll() is None:
                process.wait(10)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    home = tmp_path / "home"
    home.mkdir()
    made = Services(home, tmp_path)
    yield made
    made.stop()


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_image_install_runs_a_job_on_all_four_services(
    clean_venv: Path, services: Services, pg_storage_url: str, redis_url: str, tmp_path: Path
) -> None:
    bin_dir = clean_venv / "bin"
    # Only the runtime dependencies: the dev extra's test tools are not there.
    missing = subprocess.run([str(bin_dir / "python"), "-c", "import pytest"], capture_output=True)
    assert missing.returncode != 0
    code_port, web_port = free_port(), free_port()
    queue = f"clean-{uuid.uuid4().hex[:8]}"
    home = services.home
    (tmp_path / "jobs.py").write_text(JOBS)
    instance = {
        "storage": {"url": pg_storage_url},
        "celery": {"broker_url": redis_url, "default_queue": queue},
        "run_coordinator": {"queued": {"max_concurrent_runs": 5}},
        "run_launcher": "subprocess",
    }
    (home / "instance.yaml").write_text(yaml.safe_dump(instance))
    workspace = {"load_from": [{"server": {"host": "127.0.0.1", "port": code_port}}]}
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    opgraph = str(bin_dir / "opgraph")
    _run([opgraph, "instance", "migrate"], tmp_path, timeout=120)
    services.start(
        "code-server",
        [
            opgraph,
            "code-server",
            "--port",
            str(code_port),
            "-f",
            "jobs.py",
            "--location-name",
            "jobs",
        ],
    )
    node = f"clean-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    services.start(
        "worker",
        [
            str(bin_dir / "celery"), "-A", "opgraph_celery", "worker", "-Q", queue,
            "--concurrency", "2", "-n", node, "--without-gossip", "--without-mingle",
        ],
    )  # fmt: skip
    services.wait(lambda: _answers(code_port), "the code server")
    services.start("webserver", [opgraph, "webserver", "--port", str(web_port)])
    services.start("daemon", [opgraph, "daemon", "run"])
    client = WebClient(f"http://127.0.0.1:{web_port}")
    services.wait(client.healthy, "the webserver")
    [location] = services.wait(
        lambda: [loc for loc in client.locations() if loc.state == "LOADED"], "the location"
    )
    run_id = client.launch(location.name, "clean_job", {"execution": {"config": {"celery": {}}}})
    storage = create_storage(pg_storage_url)
    try:
        services.wait(
            lambda: storage.get_run(run_id).status in FINISHED_STATUSES,  # type: ignore[union-attr]
            "the run (queued, launched by the daemon, steps on the worker)",
            timeout=180,
        )
        assert storage.get_run(run_id).status is RunStatus.SUCCESS, services.logs()  # type: ignore[union-attr]
        attempts = storage.get_step_attempts(run_id)
        assert {a.step_key for a in attempts} == {"one", "plus_one"}
        assert {a.status for a in attempts} == {StepAttemptStatus.SUCCESS}
        assert {a.hostname for a in attempts} == {node}  # run by the clean venv's worker
    finally:
        storage.dispose()

"""Start and stop `celery worker` processes on this machine (tests, benchmarks, `opgraph dev`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# The directory holding the opgraph packages, so workers import this very code.


class WorkerStartError(RuntimeError):
    pass


class LocalWorkers:
    """Workers for the instance at `home`; each gets a log file there."""

    def __init__(
        self,
        home: Path,
        app: Any,
        default_queue: str,
        name_suffix: str = "",
        new_session: bool = False,
    ):
        self.home = home
        self.app = app
        self.default_queue = default_queue
        self.name_suffix = name_suffix
        self.new_session = new_session  # `opgraph dev`: Ctrl-C reaches it alone; it stops these
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def node(self, name: str) -> str:
        suffix = f"-{self.name_suffix}" if self.name_suffix else ""
        return f"{name}{suffix}@{socket.gethostname()}"

    def log_path(self, name: str) -> Path:
        return self.home / "logs" / f"worker-{name}.log"

    def start(
        self,
        name: str,
        queues: list[str] | None = None,
        concurrency: int = 2,
        wait: bool = True,
        home: Path | None = None,
        prefix: list[str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a worker; `home` overrides its OPGRAPH_HOME, `prefix` wraps the command
        (e.g. `ip netns exec NAME` to run it on another virtual host)."""
        log_path = self.log_path(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "OPGRAPH_HOME": str(home or self.home),
        }
        command = [
            *(prefix or []),
            sys.executable, "-P", "-m", "opgraph_celery.worker",  # celery's CLI, lighter
            "-Q", ",".join(queues or [self.default_queue]),
            "--concurrency", str(concurrency),
            "-n", self.node(name),
            "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=self.new_session,
            )
        self.processes[name] = process
        if wait:
            self.wait_ready(name)
        return process

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        """Until the worker answers a ping. Starting one costs about 1.5 CPU-seconds (its
        main process's imports, then its pool): on 2 cores at a load of 20 that took over
        30 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise WorkerStartError(f"worker {name} exited: {self.log(name)[-2000:]}")
            if self.app.control.ping(destination=[self.node(name)], timeout=0.5):
                return
        raise WorkerStartError(
            f"worker {name} not ready after {timeout}s: {self.log(name)[-2000:]}"
        )

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self, timeout: float = 10.0) -> None:
        for name in list(self.processes):
            self.stop(name, signal.SIGTERM, timeout)

    def pids(self, name: str) -> list[int]:
        """The worker's main process and its pool processes."""
        main = self.processes[name].pid
        children = Path(f"/proc/{main}/task/{main}/children")
        found = [main]
        if children.exists():
            found += [int(p) for p in children.read_text().split()]
        return found

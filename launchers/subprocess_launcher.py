"""Run workers as detached subprocesses on this machine (`python -m opgraph.run_worker ID`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import opgraph
from launchers.base import (
    RUN_WORKER_HOST_TAG,
    RUN_WORKER_PID_TAG,
    RunLauncher,
    RunStatusError,
    WorkerHealth,
    record_transition,
)
from opgraph.events import EventType
from storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance

RUN_WORKER_MODULE = "opgraph.run_worker"
# Directory that holds the `opgraph` package: the worker must import the same code as us.
_PROJECT_ROOT = str(Path(next(iter(opgraph.__path__))).resolve().parent)


class SubprocessRunLauncher(RunLauncher):
    supports_terminate = True
    supports_health_check = True

    def __init__(self, instance: OpgraphInstance, terminate_grace_seconds: float = 10.0):
        self._instance = instance
        self.terminate_grace_seconds = terminate_grace_seconds
        # Handles of the workers this process started, so that finished ones get reaped
        # (a zombie would still answer `kill -0`). A short-lived parent such as
        # `opgraph runs launch` exits while its worker runs on: that is the point of
        # detaching it (Python notes it only as a ResourceWarning, hidden by default).
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def logs_dir(self) -> Path:
        return Path(self._instance.home) / "run_workers"

    def launch_run(self, run: RunRecord) -> RunRecord:
        self._reap()
        launchable = (RunStatus.NOT_STARTED, RunStatus.QUEUED)
        if not record_transition(
            self._instance,
            run.run_id,
            EventType.RUN_STARTING,
            RunStatus.STARTING,
            launchable,
            "Starting a run worker subprocess.",
        ):
            status = self._instance.get_run(run.run_id).status.value
            raise RunStatusError(
                f"run {run.run_id} is {status}; only NOT_STARTED or QUEUED runs can be launched"
            )
        try:
            process = self._spawn(run)
        except OSError as exc:
            record_transition(
                self._instance,
                run.run_id,
                EventType.RUN_FAILURE,
                RunStatus.FAILURE,
                (RunStatus.STARTING,),
                f"Could not start the run worker: {exc}",
            )
            return self._instance.get_run(run.run_id)
        self._processes[run.run_id] = process
        self._instance.storage.add_run_tags(
            run.run_id,
            {RUN_WORKER_PID_TAG: str(process.pid), RUN_WORKER_HOST_TAG: socket.gethostname()},
        )
        return self._instance.get_run(run.run_id)

    def _spawn(self, run: RunRecord) -> subprocess.Popen[bytes]:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["OPGRAPH_HOME"] = str(Path(self._instance.home).resolve())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
        pointer = run.code_pointer or {}
        cwd = pointer.get("working_directory")
        with open(self.logs_dir / f"{run.run_id}.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", RUN_WORKER_MODULE, run.run_id],
                env=env,
                cwd=cwd if cwd and Path(cwd).is_dir() else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: our Ctrl-C does not reach it and killpg reaches its children.
                start_new_session=True,
            )

    def terminate(self, run_id: str) -> bool:
        pid = self._local_pid(self._instance.get_run(run_id))
        if pid is None or not self._alive(run_id, pid):
            return False
        self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.terminate_grace_seconds
        while time.monotonic() < deadline:
            if not self._alive(run_id, pid):
                return True
            time.sleep(0.05)
        self._signal(pid, signal.SIGKILL)
        return True

    def check_run_worker_health(self, run: RunRecord) -> WorkerHealth:
        if run.tags.get(RUN_WORKER_HOST_TAG) not in (None, socket.gethostname()):
            return WorkerHealth.UNKNOWN  # another machine's process table
        pid = self._local_pid(run)
        if pid is None:
            return WorkerHealth.UNKNOWN
        return WorkerHealth.RUNNING if self._alive(run.run_id, pid) else WorkerHealth.DEAD

    # -- process bookkeeping ------------------------------------------------------------------
    @staticmethod
    def _local_pid(run: RunRecord) -> int | None:
        if run.tags.get(RUN_WORKER_HOST_TAG) != socket.gethostname():
            return None
        pid = run.tags.get(RUN_WORKER_PID_TAG, "")
        return int(pid) if pid.isdigit() else None

    def _alive(self, run_id: str, pid: int) -> bool:
        process = self._processes.get(run_id)
        if process is not None and process.pid == pid:
            return process.poll() is None  # also reaps it
        return _is_run_worker(pid, run_id)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)  # the worker leads its own process group (start_new_session)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        for run_id, process in list(self._processes.items()):
            if process.poll() is not None:
                del self._processes[run_id]


def _is_run_worker(pid: int, run_id: str) -> bool:
    """Whether `pid` is alive and still our run worker (a recycled pid is someone else)."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            cmdline = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # A zombie has an empty cmdline: it has exited.
        return RUN_WORKER_MODULE.encode() in cmdline and run_id.encode() in cmdline
    try:  # no /proc (macOS): the best we can do is ask whether the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

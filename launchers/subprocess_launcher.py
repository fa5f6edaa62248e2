"""Run workers as detached subprocesses on this machine (`python -m opgraph.run_worker ID`).

Workers are forked from a warm zygote (launchers/zygote.py) that has imported opgraph
already, so a run starts in tens of milliseconds instead of half a second; where that is
not possible a cold interpreter is started instead. Either way a worker that exits before
its run started fails the run with its own error (opgraph.worker_exit).

A short-lived command that has imported opgraph and loaded the job already (`opgraph runs
launch`) launches inside `fork_run_workers_here()`: its worker is forked from the
command's own process (zygote.fork_here) instead of from a zygote it would first have to
start.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from opgraph.ports import (
    RUN_WORKER_HOST_TAG,
    RUN_WORKER_PID_TAG,
    RUN_WORKER_START_TAG,
    WORKER_NICENESS_ENV,
    RunLauncher,
    WorkerHealth,
)
from opgraph.process_lifetime import pid_exists, process_start_time
from opgraph.run_lifecycle import mark_launch_failed, mark_starting, require_started
from opgraph.worker_exit import record_early_exit
from opgraph_launchers.warm_start import Zygote, ZygoteUnavailable
from opgraph_launchers.zygote import fork_here
from opgraph_storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance

logger = logging.getLogger(__name__)

RUN_WORKER_MODULE = "opgraph.run_worker"
_FORK_HERE: ContextVar[bool] = ContextVar("fork_run_workers_here", default=False)


@contextmanager
def fork_run_workers_here() -> Iterator[None]:
    """Launches inside fork their run worker from this process (see the module doc)."""
    token = _FORK_HERE.set(True)
    try:
        yield
    finally:
        _FORK_HERE.reset(token)


class SubprocessRunLauncher(RunLauncher):
    supports_terminate = True
    supports_health_check = True
    supports_resume = True
    supports_relaunch = True

    def __init__(
        self,
        instance: OpgraphInstance,
        terminate_grace_seconds: float = 10.0,
        warm_start: bool = True,
        worker_niceness: int = 0,
    ):
        self._instance = instance
        self.terminate_grace_seconds = terminate_grace_seconds
        self.warm_start = warm_start
        self.worker_niceness = worker_niceness
        self._zygote: Zygote | None = None
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
        mark_starting(self._instance, run, "Starting a run worker subprocess.")
        try:
            pid = self._spawn(run)
        except OSError as exc:
            mark_launch_failed(self._instance, run.run_id, f"Could not start the run worker: {exc}")
            return self._instance.get_run(run.run_id)
        tags = self._record_worker(run.run_id, pid)
        # As this launch left it, not read back (two statements of each launch in the
        # daemon's serial dequeue loop): the worker may move it any moment anyway.
        return replace(
            run, status=RunStatus.STARTING, tags={**run.tags, **tags}, updated_at=time.time()
        )

    def resume_run(self, run: RunRecord) -> RunRecord:
        require_started(run)
        self._reap()
        self._record_worker(run.run_id, self._spawn(run, resume=True))
        return self._instance.get_run(run.run_id)

    def relaunch_run(self, run: RunRecord) -> bool:
        if run.status is not RunStatus.STARTING or RUN_WORKER_PID_TAG in run.tags:
            return False
        self._reap()
        self._record_worker(run.run_id, self._spawn(run))
        return True

    def _record_worker(self, run_id: str, pid: int) -> dict[str, str]:
        tags = {RUN_WORKER_PID_TAG: str(pid), RUN_WORKER_HOST_TAG: socket.gethostname()}
        start_time = process_start_time(pid)
        if start_time is not None:  # an instant-exit worker may already be gone
            tags[RUN_WORKER_START_TAG] = start_time
        self._instance.storage.add_run_tags(run_id, tags)
        return tags

    def prepare(self) -> None:
        """Start the zygote ahead of the first launch (e.g. when a webserver starts)."""
        if self.warm_start:
            try:
                self._get_zygote().start()
            except ZygoteUnavailable:
                pass  # launches start cold; the zygote is tried again on the next one

    def _worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["OPGRAPH_HOME"] = str(Path(self._instance.home).resolve())
        if self.worker_niceness:
            env[WORKER_NICENESS_ENV] = str(self.worker_niceness)
        return env

    def _get_zygote(self) -> Zygote:
        if self._zygote is None:
            log = self.logs_dir / f"zygote-{os.getpid()}.log"
            self._zygote = Zygote(sys.executable, self._worker_env(), log)
        return self._zygote

    def _spawn(self, run: RunRecord, resume: bool = False) -> int:
        """Start the run worker (`--resume`: continuing from the event log); returns its pid."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        env = self._worker_env()
        pointer = run.code_pointer or {}
        cwd = pointer.get("working_directory")
        log_path = self.logs_dir / f"{run.run_id}.log"
        args = [run.run_id, "--resume"] if resume else [run.run_id]
        request = {"args": args, "env": env, "cwd": cwd, "log_path": str(log_path)}
        if self.warm_start and _FORK_HERE.get():
            # No open connection crosses the fork: SQLite's per-process lock bookkeeping
            # would make the worker's own connections write past the caller's locks (a
            # test saw a write lost), and a PostgreSQL socket is one session. This
            # process reconnects on its next query.
            self._instance.storage.dispose()
            try:
                return fork_here(request)
            except OSError as exc:
                with open(log_path, "a") as log:
                    log.write(f"cannot fork the run worker here ({exc}); using the zygote\n")
        if self.warm_start:
            try:
                return self._get_zygote().spawn(request)
            except ZygoteUnavailable as exc:
                with open(log_path, "a") as log:
                    log.write(f"warm start unavailable ({exc}); starting a new interpreter\n")
        process = self._popen(env, cwd, log_path, args)
        self._processes[run.run_id] = process
        threading.Thread(
            target=self._watch,
            args=(run.run_id, process, log_path),
            name=f"run-worker-watch-{process.pid}",
            daemon=True,
        ).start()
        return process.pid

    def _watch(self, run_id: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        """Wait for a cold-started worker; fail its run if it exits before the run started
        (see opgraph.worker_exit; a forked worker is watched by the zygote)."""
        try:
            # Wait without reaping: Popen.poll() in _alive() must not find its lock held by
            # a wait() here (it would answer "still running").
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass  # already reaped by poll(): returncode is set
        try:
            record_early_exit(self._instance, run_id, process.pid, process.wait(), log_path)
        except Exception:  # e.g. the database is down: the daemon's run monitoring is left
            logger.exception("could not record the exit of the run worker of run %s", run_id)

    def _popen(
        self, env: dict[str, str], cwd: str | None, log_path: Path, args: list[str]
    ) -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-P", "-m", RUN_WORKER_MODULE, *args],  # -P: cwd shadows nothing
                env=env,
                cwd=cwd if cwd and Path(cwd).is_dir() else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: our Ctrl-C does not reach it and killpg reaches its children.
                start_new_session=True,
            )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run(run_id)
        pid = self._local_pid(run)
        if pid is None:
            return False
        if not self._alive(run, pid):
            self._kill_orphans(pid)
            return False  # no worker to stop (what it left behind is not one)
        self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.terminate_grace_seconds
        while time.monotonic() < deadline:
            if not self._alive(run, pid):
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
        return WorkerHealth.RUNNING if self._alive(run, pid) else WorkerHealth.DEAD

    # -- process bookkeeping ------------------------------------------------------------------
    @staticmethod
    def _local_pid(run: RunRecord) -> int | None:
        if run.tags.get(RUN_WORKER_HOST_TAG) != socket.gethostname():
            return None
        pid = run.tags.get(RUN_WORKER_PID_TAG, "")
        return int(pid) if pid.isdigit() else None

    def _alive(self, run: RunRecord, pid: int) -> bool:
        process = self._processes.get(run.run_id)
        if process is not None and process.pid == pid:
            return process.poll() is None  # also reaps it
        start_time = run.tags.get(RUN_WORKER_START_TAG)
        if start_time is not None:  # pid + start time name exactly one process
            return process_start_time(pid) == start_time
        return _is_run_worker(pid, run.run_id)

    @staticmethod
    def _kill_orphans(pid: int) -> None:
        """Kill what a dead worker left in its process group (e.g. a command an op started).

        Only when no process has the worker's pid: Linux does not hand out a pid while a
        process group of that number exists, so the group can only be the worker's.
        """
        if pid_exists(pid):
            return  # the pid belongs to another process now: not ours to touch
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # no group left: nothing was left behind

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
    return pid_exists(pid)  # no /proc (macOS): the best we can do

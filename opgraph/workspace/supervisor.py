"""Code servers started and kept alive by the webserver or the daemon.

For `python_file` / `python_module` entries the process that needs a location starts
the code server for it (`python -m` the module of the `opgraph.services` entry point
`code_server`; the only way user code gets into a process of ours
is through that subprocess), restarts it when it dies, and replaces it on reload: the
new server loads first, then takes over, so the location never goes dark.

opgraph neither imports nor names the web app: the entry point says which module serves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from opgraph import plugins
from opgraph.workspace.base import (
    CodeLocation,
    CodeLocationError,
    CodeLocationUnreachable,
    ErrorInfo,
    JobSnapshot,
    LocationState,
    LocationStatus,
    PartitionRunSnapshot,
    ScheduleSnapshot,
    SensorSnapshot,
    TickEvaluation,
)
from opgraph.workspace.client import ServerCodeLocation

T = TypeVar("T")

CODE_SERVER = "code_server"  # the `opgraph.services` entry point run as `python -m`
START_TIMEOUT = 60.0  # until the server listens (user code may load for longer after)
STOP_GRACE_SECONDS = 5.0
RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
LOG_TAIL_LINES = 30


class CodeServerProcess:
    """One code server subprocess on a free local port."""

    def __init__(self, name: str, origin: Mapping[str, Any], log_file: Path):
        self.name = name
        self.origin = dict(origin)
        self.log_file = log_file
        self._dir = Path(tempfile.mkdtemp(prefix="opgraph-code-server-"))
        self.port_file = self._dir / "port.json"
        self.port: int | None = None
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            log.write(f"--- starting code server for {name!r} at {time.ctime()}\n".encode())
            self.popen = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.origin.get("working_directory") or None,
                start_new_session=True,  # Ctrl-C in a terminal stops us; we stop it
                env=self._environment(),
            )

    @staticmethod
    def _environment() -> dict[str, str]:
        # The platform imports from its installation (its own import names, never the
        # folders): nothing is added to PYTHONPATH, so the server's directory adds nothing.
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def _command(self) -> list[str]:
        # -P: run in the location's directory, its app.py or storage.py shadow nothing.
        command = [sys.executable, "-P", "-m", plugins.service_module(CODE_SERVER), "--port", "0"]
        command += ["--location-name", self.name, "--port-file", str(self.port_file)]
        command += ["--parent-pid", str(os.getpid())]
        if self.origin.get("python_file"):
            command += ["--python-file", self.origin["python_file"]]
        else:
            command += ["--module-name", self.origin["python_module"]]
        if self.origin.get("working_directory"):
            command += ["--working-directory", self.origin["working_directory"]]
        if self.origin.get("attribute"):
            command += ["--attribute", self.origin["attribute"]]
        return command

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def exited_within(self, seconds: float) -> bool:
        """Whether it has exited, or does within `seconds` (a server being killed may
        refuse or reset connections a moment before its exit can be seen)."""
        try:
            self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def listening_port(self) -> int | None:
        """The port, once the server has bound it (it writes the port file then)."""
        if self.port is None and self.port_file.exists():
            self.port = int(json.loads(self.port_file.read_text())["port"])
        return self.port

    def wait_listening(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.listening_port()
            if port is not None:
                return port
            if not self.alive():
                raise CodeLocationError(self.exit_message())
            time.sleep(0.01)
        raise CodeLocationUnreachable(
            f"code server for {self.name!r} did not start listening within {timeout:g}s; "
            f"see {self.log_file}"
        )

    def exit_message(self) -> str:
        return f"code server for {self.name!r} exited with code {self.popen.returncode}"

    def log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.port_file.unlink(missing_ok=True)
        try:
            self._dir.rmdir()
        except OSError:
            pass


class ManagedCodeLocation(CodeLocation):
    """A python_file/python_module location served by a subprocess this process owns."""

    def __init__(self, name: str, origin: Mapping[str, Any], log_dir: Path, **client_options: Any):
        super().__init__(name)
        self.origin = dict(origin)
        self.log_file = log_dir / f"{name}.log"
        self._client_options = client_options
        self._lock = threading.Lock()
        self._process: CodeServerProcess | None = None
        self._client: ServerCodeLocation | None = None
        self._start_error: ErrorInfo | None = None  # the subprocess could not even start
        self._started_at = 0.0
        self._failures = 0  # consecutive deaths: the restart backoff grows with them
        self._next_restart: float | None = None
        # The server a reload last replaced: a call that was talking to it asks the new one.
        self._reloaded_away: CodeServerProcess | None = None
        self.restarts = 0
        self._closed = False

    # -- the process ------------------------------------------------------------------------
    def _spawn(self) -> CodeServerProcess | None:
        try:
            process = CodeServerProcess(self.name, self.origin, self.log_file)
        except OSError as exc:  # e.g. a working_directory that does not exist
            self._start_error = ErrorInfo(
                f"cannot start the code server for {self.name!r}: {exc}", error_class="OSError"
            )
            return None
        self._start_error = None
        self._started_at = time.monotonic()
        return process

    def start(self) -> None:
        """Start the server without waiting for it (see `wait_until_loaded`)."""
        with self._lock:
            self._process, self._client = self._spawn(), None

    def _connect(self, process: CodeServerProcess, timeout: float) -> ServerCodeLocation:
        port = process.wait_listening(timeout)
        return ServerCodeLocation(
            self.name, "127.0.0.1", port, origin=self.origin, **self._client_options
        )

    def client(self, timeout: float = START_TIMEOUT) -> ServerCodeLocation:
        """The HTTP client of the current server, once it listens (waits up to `timeout`)."""
        with self._lock:
            process, client, start_error = self._process, self._client, self._start_error
        if client is not None:
            return client
        if process is None:
            raise CodeLocationError(
                start_error.message
                if start_error
                else f"code location {self.name!r} is not started"
            )
        client = self._connect(process, timeout)  # not under the lock: it may wait
        with self._lock:
            if self._process is process:
                self._client = client
        return client

    def wait_until_loaded(self, timeout: float) -> LocationStatus:
        """Until the code has loaded or failed to, or `timeout`: then the status."""
        deadline = time.monotonic() + timeout
        status = self.status()
        while status.state is LocationState.LOADING and time.monotonic() < deadline:
            time.sleep(0.01)
            status = self.status()
        return status

    def check(self) -> None:
        """Restart a server that died, after a backoff; the supervisor thread calls this."""
        with self._lock:
            process = self._process
            if self._closed or process is None:
                return
            now = time.monotonic()
            if process.alive():
                if now - self._started_at > 30:  # it stayed up: forget earlier crashes
                    self._failures = 0
                return
            if self._next_restart is None:  # just noticed
                delay = RESTART_BACKOFF[min(self._failures, len(RESTART_BACKOFF) - 1)]
                self._next_restart = now + delay
            if now < self._next_restart:
                return
            self._failures += 1
            self.restarts += 1
            self._next_restart = None
            process.stop()
            self._process, self._client = self._spawn(), None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            process = self._process
        if process is not None:
            process.stop()

    # -- CodeLocation -----------------------------------------------------------------------
    def status(self) -> LocationStatus:
        with self._lock:
            process, client, start_error = self._process, self._client, self._start_error
        if start_error is not None:
            return self._local_status(LocationState.ERROR, start_error)
        if process is None:
            return self._local_status(LocationState.LOADING)
        if not process.alive():
            return self._exited(process)
        if client is None:
            if process.listening_port() is None:
                return self._local_status(LocationState.LOADING)  # still starting
            client = self.client()
        status = client.status()
        unreachable = status.error is not None and status.error.error_class in (
            "CodeLocationUnreachable",
            "CodeLocationError",  # an answer that was not JSON: a server dying mid-reply
        )
        if unreachable and self._replaced(process):
            return self.status()  # a reload stopped the server asked: the new one answers
        if unreachable and process.exited_within(0.5):
            return self._exited(process)  # it died just now: say so, not "unreachable"
        return status

    def _replaced(self, process: CodeServerProcess | None) -> bool:
        """Whether a reload has put another server in `process`'s place (a crash is not
        that: its callers hear of the exit, whatever the supervisor started since)."""
        with self._lock:
            return process is not None and process is self._reloaded_away

    @property
    def version(self) -> str | None:
        return self._call(lambda client: client.version)

    def _exited(self, process: CodeServerProcess) -> LocationStatus:
        message = f"{process.exit_message()}; the supervisor restarts it"
        error = ErrorInfo(message, process.log_tail(), error_class="CodeServerExited")
        return self._local_status(LocationState.ERROR, error)

    def _local_status(self, state: LocationState, error: ErrorInfo | None = None) -> LocationStatus:
        return LocationStatus(self.name, state, None, error, dict(self.origin), time.time())

    def _call(self, method: Callable[[ServerCodeLocation], T]) -> T:
        """`method` on the current server; a dead server reads as such, not as unreachable."""
        with self._lock:
            process = self._process
        try:
            return method(self.client())
        except CodeLocationUnreachable:
            if self._replaced(process):
                # A reload swapped in a new server mid-call and stopped the old one this
                # call was talking to: the location never went down, so ask the new one.
                return method(self.client())
            if process is not None and process.exited_within(0.5):
                raise CodeLocationError(
                    f"{process.exit_message()}; the supervisor restarts it (output in "
                    f"{self.log_file})"
                ) from None
            raise

    def jobs(self) -> list[JobSnapshot]:
        return self._call(lambda client: client.jobs())

    def job(self, name: str) -> JobSnapshot:
        return self._call(lambda client: client.job(name))

    def schedules(self) -> list[ScheduleSnapshot]:
        return self._call(lambda client: client.schedules())

    def asset_nodes(self) -> list[dict[str, Any]]:
        return self._call(lambda client: client.asset_nodes())

    def sensors(self) -> list[SensorSnapshot]:
        return self._call(lambda client: client.sensors())

    def validate_run_config(
        self,
        job_name: str,
        run_config: Mapping[str, Any] | None,
        op_selection: list[str] | None = None,
    ) -> list[str]:
        return self._call(
            lambda client: client.validate_run_config(job_name, run_config, op_selection)
        )

    def execution_plan(self, job_name: str, run_config: Mapping[str, Any] | None) -> dict[str, Any]:
        return self._call(lambda client: client.execution_plan(job_name, run_config))

    def evaluate_schedule(self, name: str, scheduled_time: float) -> TickEvaluation:
        return self._call(lambda client: client.evaluate_schedule(name, scheduled_time))

    def evaluate_sensor(
        self, name: str, cursor: str | None = None, last_run_key: str | None = None
    ) -> TickEvaluation:
        return self._call(lambda client: client.evaluate_sensor(name, cursor, last_run_key))

    def code_pointer(self, job_name: str) -> dict[str, Any]:
        return self._call(lambda client: client.code_pointer(job_name))

    def partition_runs(
        self, job_name: str, partition_keys: Sequence[str]
    ) -> list[PartitionRunSnapshot]:
        return self._call(lambda client: client.partition_runs(job_name, partition_keys))

    def reload(self, timeout: float = START_TIMEOUT) -> LocationStatus:
        """A fresh server imports the code; when it has loaded (or failed to) it replaces
        the old one, so the location answers all along and shows what the new code did.

        Runs in flight are untouched: run workers load code from their own pointer."""
        with self._lock:
            new_process = self._spawn()
        if new_process is None:
            return self.status()
        new_client: ServerCodeLocation | None = None
        try:
            new_client = self._connect(new_process, timeout)
            deadline = time.monotonic() + timeout
            while (
                new_client.status().state is LocationState.LOADING and time.monotonic() < deadline
            ):
                time.sleep(0.01)
        except CodeLocationError:
            pass  # it died while starting: status() shows its exit and output
        with self._lock:
            old, self._process, self._client = self._process, new_process, new_client
            self._next_restart, self._failures = None, 0
            self._reloaded_away = old
        if old is not None:
            old.stop()
        return self.status()


class Supervisor:
    """One thread per workspace: restarts dead code servers, follows reload requests."""

    def __init__(
        self,
        locations: list[ManagedCodeLocation],
        follow_reloads: Callable[[], object] | None = None,
        interval: float = 0.5,
        reload_poll_seconds: float = 1.0,
    ):
        self.locations = locations
        self.follow_reloads = follow_reloads
        self.interval = interval
        self.reload_poll_seconds = reload_poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="code-server-supervisor", daemon=True
        )

    def start(self) -> None:
        if self.locations or self.follow_reloads:
            self._thread.start()

    def _run(self) -> None:
        next_poll = time.monotonic() + self.reload_poll_seconds
        while not self._stop.wait(self.interval):
            for location in self.locations:
                try:
                    location.check()
                except Exception as exc:  # keep supervising the others
                    print(
                        f"supervisor: restarting {location.name!r} failed: {exc}", file=sys.stderr
                    )
            if self.follow_reloads is not None and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self.reload_poll_seconds
                try:
                    self.follow_reloads()
                except Exception as exc:  # storage down: try again at the next poll
                    print(f"supervisor: reading reload requests failed: {exc}", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval * 4)

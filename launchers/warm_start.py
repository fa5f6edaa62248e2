"""Client side of the zygote (launchers/zygote.py): fork run workers from a warm parent.

One zygote per launching process, started on first use and shared by its threads. It also
watches the workers it forked and outlives this process until they have exited, so a
worker that dies before its run started fails the run even if nobody waits for it. Any
trouble with it (cannot start, died, answered nonsense) raises `ZygoteUnavailable`; the
launcher then starts a cold interpreter instead, so a broken zygote costs speed only.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
import weakref
from pathlib import Path
from typing import Any

ZYGOTE_MODULE = "opgraph_launchers.zygote"
START_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 10.0


class ZygoteUnavailable(Exception):
    pass


class Zygote:
    def __init__(self, executable: str, env: dict[str, str], log_path: Path):
        self._executable = executable
        self._env = env
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def supported(self) -> bool:
        return hasattr(os, "fork") and Path("/proc/self/stat").exists()

    def start(self) -> None:
        """Start the zygote now (it then imports while the caller does other work)."""
        with self._lock:
            self._ensure_process()

    def spawn(self, request: dict[str, Any]) -> int:
        """Fork a run worker; returns its pid."""
        with self._lock:
            process = self._ensure_process()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                answer = self._read_answer(process, ANSWER_TIMEOUT_S)
            except (OSError, ValueError) as exc:
                self._stop_locked()
                raise ZygoteUnavailable(f"the zygote stopped answering: {exc}") from exc
            if "pid" not in answer:
                raise ZygoteUnavailable(f"the zygote could not fork: {answer.get('error')}")
            return int(answer["pid"])

    def stop(self) -> None:
        """Stop forking; the zygote exits once the workers it forked have exited."""
        with self._lock:
            self._stop_locked(kill=False)

    # -- internals ----------------------------------------------------------------------------
    def _ensure_process(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        if not self.supported:
            raise ZygoteUnavailable("no fork() or /proc on this platform")
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self._log_path, "ab") as log:
                process = subprocess.Popen(
                    [self._executable, "-P", "-m", ZYGOTE_MODULE],  # -P: cwd shadows nothing
                    env=self._env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    # Ctrl-C in the webserver's terminal must not reach it (nor its children).
                    start_new_session=True,
                )
        except OSError as exc:
            raise ZygoteUnavailable(f"cannot start the zygote: {exc}") from exc
        self._process = process
        # Closing stdin is what stops it: do that when this object goes away.
        weakref.finalize(self, _close_process, process)
        try:
            ready = self._read_answer(process, START_TIMEOUT_S)
        except (OSError, ValueError) as exc:
            self._stop_locked()
            raise ZygoteUnavailable(f"the zygote did not start: {exc}") from exc
        if not ready.get("ready"):
            self._stop_locked()
            raise ZygoteUnavailable(f"the zygote did not start: {ready}")
        return process

    @staticmethod
    def _read_answer(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        fd = process.stdout.fileno()
        # readline() on the raw pipe would block forever on a hung zygote.
        while not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            if time.monotonic() >= deadline:
                raise ValueError(f"no answer within {timeout:.0f}s")
        line = process.stdout.readline()
        if not line:
            raise ValueError(f"it exited with code {process.wait(5)}")
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise ValueError(f"unexpected answer {line!r}")
        return answer

    def _stop_locked(self, kill: bool = True) -> None:
        process, self._process = self._process, None
        if process is not None:
            _close_process(process, kill)


def _close_process(process: subprocess.Popen[bytes], kill: bool = False) -> None:
    """Close its stdin: it forks no more and exits once the workers it watches have exited
    (see opgraph_launchers.zygote). `kill`: for a zygote that no longer answers."""
    for stream in (process.stdin, process.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    if kill:
        process.kill()
        process.wait()
        return
    try:  # reaped whenever it exits, without holding up our caller
        threading.Thread(target=process.wait, name="zygote-reaper", daemon=True).start()
    except RuntimeError:
        pass  # interpreter shutdown: our exit reparents it to init, which reaps it

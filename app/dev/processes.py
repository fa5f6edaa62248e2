"""The processes `opgraph dev` starts, and how it makes sure none outlives it.

Each service leads its own session, so a Ctrl-C in the terminal reaches `opgraph dev`
alone, which then stops the services in order (see `DevStack.stop`). This process is
also a *child subreaper* (Linux `PR_SET_CHILD_SUBREAPER`): a process whose parent exits
(a run worker forked by the webserver's zygote, a code server) is re-parented to us
rather than to init, so "everything started from here" is exactly "our descendants",
and the last sweep terminates and reaps whatever of them is left.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process (Linux only; False elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process we can see."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # Fields after the parenthesised command name (which may hold spaces): ppid is 2nd.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int | None = None) -> list[int]:
    """Every live process below `root` (default: this one), parents before children."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    frontier = list(children.get(root, []))
    while frontier:
        pid = frontier.pop(0)
        found.append(pid)
        frontier += children.get(pid, [])
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, exited but not reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those of `pids` that are our exited children (orphans
    re-parented to us). Never `waitpid(-1)`: a Popen must see its own child's exit code."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child, or reaped already
            pass


@dataclass
class Service:
    """One process `opgraph dev` started (the leader of its own process group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def start_service(
    name: str, command: list[str], log_path: Path, env: dict[str, str], cwd: Path | None = None
) -> Service:
    """Start `command` in its own session, output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return Service(name, popen, log_path)


def stop_services(services: list[Service], sig: signal.Signals, grace: float) -> None:
    """Signal each service's process group, wait up to `grace` seconds in all, then kill
    the groups of those still running."""
    for service in services:
        if service.running():
            service.signal_group(sig)
    deadline = time.monotonic() + grace
    for service in services:
        try:
            service.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.signal_group(signal.SIGKILL)
            service.popen.wait()
        service.signal_group(signal.SIGKILL)  # its pool or worker processes, if any stayed


def terminate(pids: list[int], grace: float) -> None:
    """SIGTERM `pids`, SIGKILL those still alive after `grace` seconds, reap our own."""
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap(pids)
        if not any(alive(pid) for pid in pids):
            break
        time.sleep(0.05)
    _signal([pid for pid in pids if alive(pid)], signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        reap(pids)
        if not any(alive(pid) for pid in pids):
            return
        time.sleep(0.02)


def stop_descendants(grace: float, keep: Iterable[int] = ()) -> list[int]:
    """Terminate every process below us except `keep` and their own descendants; returns
    the pids that needed stopping. Repeated until none is left: a dying process may have
    forked one more."""
    stopped: list[int] = []
    for _ in range(3):
        kept = set(keep)
        for pid in list(kept):
            kept.update(descendants(pid))
        left = [pid for pid in descendants() if pid not in kept and alive(pid)]
        if not left:
            break
        terminate(left, grace)
        stopped += left
    return stopped

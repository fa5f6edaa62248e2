"""Tie a process's life to another's, so nothing runs on as an orphan.

A process that is SIGKILLed gets no chance to stop what it started; without these its
children would run on beside whatever replaces it (e.g. a resumed run worker running
the same step again).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Mapping

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux).

    Call it in the child (e.g. as `preexec_fn`). A no-op where the kernel lacks it.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


def die_with(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ourselves `sig` as soon as process `pid` (alive now) exits.

    For a process whose parent is not the one it serves, e.g. a multiprocess-executor
    worker, a child of the forkserver, which itself lives as long as its children do.
    A thread waits on a pidfd (Linux 5.3+), or polls where there is none.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None and not pid_exists(pid):
        os.kill(os.getpid(), sig)
        return

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the process has exited
        else:
            while pid_exists(pid):
                threading.Event().wait(1.0)
        os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name=f"die-with-{pid}", daemon=True).start()


def pid_exists(pid: int) -> bool:
    """Whether a process has this pid (one we may not signal counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), None if it is gone.

    Together with the pid it names one process for good: a recycled pid has another
    start time. A zombie (exited, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat = file.read()
    except OSError:
        return None
    # Fields after the parenthesised command name (which may hold spaces): state is 3rd,
    # start time the 22nd field of the whole line.
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def this_process() -> dict[str, str]:
    """Host, pid and start time of the calling process: what names it for good (see
    `process_start_time`), e.g. to record who launched a run."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": str(pid),
        "start_time": process_start_time(pid) or "",
    }


def process_gone(identity: Mapping[str, str]) -> bool | None:
    """Whether the process `this_process()` described has exited; None when that cannot
    be told from here (another host, or an identity without a pid)."""
    pid = identity.get("pid", "")
    if identity.get("host") != socket.gethostname() or not pid.isdigit():
        return None
    start_time = identity.get("start_time")
    if start_time:  # pid + start time: a recycled pid is another process
        return process_start_time(int(pid)) != start_time
    return not pid_exists(int(pid))

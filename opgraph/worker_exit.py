"""A run worker that exits before its run started: who notices, and what the run says.

A worker that dies before it stores RUN_START (its interpreter is broken, an import of the
platform fails, the OOM killer picks it, someone sends SIGKILL) cannot say why any more,
and its run would stay STARTING for good. Whoever reaps the worker records it instead,
with no daemon involved:

- a worker forked from the zygote (the default): the zygote reaps it, and for an exit
  other than 0 forks a short-lived reporter that calls `record_early_exit`. The zygote
  outlives the process that launched the run (the webserver, `opgraph runs launch` with
  or without `--wait`, the daemon) until its last worker has exited, so the failure is
  recorded even if nobody waits for the run;
- a cold-started worker (`warm_start: false`, or no zygote): a thread of the launching
  process waits for it. If that process exits first (`opgraph runs launch` without
  `--wait`), the daemon's run monitoring is what finds the dead worker;
- a worker started by a launcher plugin (the Celery run task): the process that waits for
  it calls `record_early_exit` when it has exited.

`record_early_exit` is a compare-and-set STARTING -> FAILURE, so it does nothing for a
worker that got further: a run it finished, or failed with its own error (a job that
does not import is reported by the worker itself), keeps its status and events.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from opgraph.run_lifecycle import mark_launch_failed
from opgraph_storage.records import RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance

# Enough for a Python traceback of a failed import (~15 lines) and the line that says why.
LOG_TAIL_LINES = 30
LOG_TAIL_BYTES = 8192


def describe_exit(returncode: int) -> str:
    """`returncode` as subprocess.Popen reports it: negative for the signal that killed it."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (the out-of-memory killer, or `kill -9`)" if returncode == -signal.SIGKILL else ""
    return f"was killed by {name}{hint}"


def log_tail(path: Path) -> str:
    """The last lines the worker wrote to its log (stdout and stderr), or '' if none."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - LOG_TAIL_BYTES))
            data = log.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line read is most likely cut
    return "\n".join(lines[-LOG_TAIL_LINES:]).strip()


def early_exit_message(pid: int, returncode: int, log_path: Path) -> str:
    """One line that says what happened and, for a traceback, its last line (the error
    itself: lists and the UI show first lines); then the end of the worker's log."""
    tail = log_tail(log_path)
    message = f"The run worker (pid {pid}) {describe_exit(returncode)} before the run started"
    if not tail:
        return f"{message}; it wrote nothing to {log_path}."
    return f"{message}: {tail.splitlines()[-1].strip()}\nThe end of its log ({log_path}):\n{tail}"


def record_early_exit(
    instance: OpgraphInstance, run_id: str, pid: int, returncode: int, log_path: Path
) -> None:
    """Fail the run if its worker exited while the run was still STARTING."""
    if returncode == 0 or instance.get_run(run_id).status is not RunStatus.STARTING:
        # It got further: the run's own events say how it ended. (Checked first so that a
        # failed run does not also get an engine event for a refused RUN_FAILURE.)
        return
    mark_launch_failed(instance, run_id, early_exit_message(pid, returncode, log_path))

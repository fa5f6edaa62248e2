"""The warm parent that run workers are forked from: `python -m opgraph_launchers.zygote`.

A cold `python -m opgraph.run_worker` spends about half a second importing opgraph,
SQLAlchemy and psycopg2 before it does anything. The zygote pays that once: it imports
the run worker and the storage stack, then reads one JSON request per line on stdin and
forks a child per request, which runs the run worker in its own session and answers
`{"pid": ...}` on stdout. It never opens a database connection and never imports user
code, so a fork inherits no sockets and no user state.

It exits when stdin closes, i.e. when the process that started it exits; the run workers
it forked run on (they lead their own sessions, and the kernel reaps them).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any


def _preload() -> None:
    import opgraph.run_worker  # noqa: F401  (opgraph, pydantic, yaml)
    import opgraph_storage.sql  # noqa: F401  (SQLAlchemy, Alembic)
    from opgraph_storage.migration import head_revision

    head_revision()  # reads the migration scripts once, for every child
    try:
        import psycopg2  # noqa: F401
    except ImportError:  # SQLite-only installs
        pass


def _run_child(request: dict[str, Any]) -> int:
    """In the forked child: become the run worker (`request["args"]`: run id [--resume])."""
    os.setsid()  # its own session: terminate() signals the whole group
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    log_fd = os.open(request["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)  # the request pipe belongs to the zygote
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null_fd)
    os.close(log_fd)
    # The same environment, directory and import path as a cold `python -m` start.
    os.environ.clear()
    os.environ.update(request["env"])
    cwd = request.get("cwd")
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    # sys.path stays the zygote's: it runs with -P (no working directory on it), as a cold
    # start does; the run's own modules load through opgraph.user_code, never sys.path.
    args = request.get("args") or [request["run_id"]]  # e.g. [run_id, "--resume"]
    sys.argv = ["opgraph.run_worker", *args]
    from opgraph import run_worker

    try:
        return run_worker.main(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _fork(request: dict[str, Any]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = _run_child(request)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    raise AssertionError("unreachable")


def main() -> None:
    _preload()
    # Nobody waits for the children: let the kernel reap them so none lingers as a zombie.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            answer: dict[str, Any] = {"pid": _fork(json.loads(line))}
        except Exception as exc:  # e.g. fork failed (out of memory, process limit)
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()

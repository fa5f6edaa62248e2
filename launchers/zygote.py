"""The warm parent that run workers are forked from: `python -m opgraph_launchers.zygote`.

A cold `python -m opgraph.run_worker` spends about half a second importing opgraph,
SQLAlchemy and psycopg2 before it does anything. The zygote pays that once: it imports
the run worker and the storage stack, then reads one JSON request per line on stdin and
forks a child per request, which runs the run worker in its own session and answers
`{"pid": ...}` on stdout. It never opens a database connection and never imports user
code, so a fork inherits no sockets and no user state.

It also watches the workers it forked (see opgraph.worker_exit): it reaps each
one, and for a worker that exited other than cleanly it forks a short-lived reporter that
fails the run if it is still STARTING, with the exit status and the end of the worker's
log. The reporter, not the zygote, opens the database: the zygote keeps no sockets for
its next fork to inherit.

It stops forking when stdin closes, i.e. when the process that started it exits, and
exits once the last worker it forked has exited (they lead their own sessions and run on
whatever happens to the launching process).

`fork_here` does the same from a process that is warm already: `opgraph runs launch`
has imported opgraph and loaded the job before it launches, so starting a zygote (about
0.4 s of imports) would only make it wait. It forks a watcher, which forks the worker
and watches it as the zygote would, then exits.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import threading
import traceback
from typing import Any

# Written to by the C signal handler on SIGCHLD (signal.set_wakeup_fd): the main loop
# selects on it beside stdin, so a worker's exit is seen however long stdin stays quiet.
_wakeup: tuple[int, int] | None = None


def _preload() -> None:
    import opgraph.run_worker  # opgraph, pydantic, yaml
    import opgraph_storage.sql  # noqa: F401  (SQLAlchemy, Alembic)
    from opgraph_storage.migration import head_revision

    head_revision()  # reads the migration scripts once, for every child
    from opgraph.executors.definitions import multi_or_in_process_config
    from opgraph.instance_config import default_instance_config, prepare_component_models

    # The plugins' entry points read, their modules imported and the instance model
    # composed once here: about 40 ms per child otherwise (measured on a forked worker).
    default_instance_config()
    prepare_component_models()  # what reading the child's instance.yaml builds: 3 ms
    multi_or_in_process_config()
    # The default executors, which a run worker would otherwise import per run.
    import opgraph.executors.adaptive
    import opgraph.executors.in_process
    import opgraph.executors.multiprocess
    import opgraph.partitions.assets  # noqa: F401  (each step imports it: step_runner)

    try:
        import psycopg2  # noqa: F401
    except ImportError:  # SQLite-only installs
        pass


def _run_child(request: dict[str, Any]) -> int:
    """In the forked child: become the run worker (`request["args"]`: run id [--resume])."""
    os.setsid()  # its own session: terminate() signals the whole group
    _forget_zygote_state()
    _detach_stdio(request["log_path"])  # the request pipe belongs to the zygote
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
    from opgraph import run_worker, user_code

    # A worker forked by fork_here loads its job itself, as a cold one would (and fails
    # the same way where the job's modules do not load): the launching process's loaded
    # locations are dropped. The libraries they imported stay imported: that is the gain.
    user_code._loaded.clear()

    try:
        return run_worker.main(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _forget_zygote_state() -> None:
    """In a forked child: default signal handling, and none of the zygote's own fds."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    if _wakeup is not None:
        for fd in _wakeup:
            os.close(fd)


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


def _report(request: dict[str, Any], pid: int, returncode: int) -> int:
    """Fork a reporter that fails the run if worker `pid` exited before the run started."""
    reporter = os.fork()
    if reporter:
        return reporter
    code = 1
    try:
        _forget_zygote_state()
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)  # the request pipe and the answer pipe belong to the zygote
        os.dup2(2, 1)  # the zygote's log
        os.close(null_fd)
        os.environ.clear()
        os.environ.update(request["env"])
        from pathlib import Path

        from opgraph.instance import OpgraphInstance
        from opgraph.worker_exit import record_early_exit

        instance = OpgraphInstance.get()
        try:
            run_id = (request.get("args") or [request.get("run_id")])[0]
            record_early_exit(instance, run_id, pid, returncode, Path(request["log_path"]))
        finally:
            instance.dispose()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)
    raise AssertionError("unreachable")


class _Children:
    """The workers this zygote forked (pid -> their request), and its live reporters."""

    def __init__(self) -> None:
        self.workers: dict[int, dict[str, Any]] = {}
        self.reporters: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self.workers or self.reporters)

    def reap(self, block: bool = False) -> None:
        """Reap the children that exited; with `block`, wait for one first."""
        flags = 0 if block else os.WNOHANG
        while True:
            try:
                pid, status = os.waitpid(-1, flags)
            except ChildProcessError:
                return  # no children at all
            if pid == 0:
                return  # the others still run
            flags = os.WNOHANG
            self.reporters.discard(pid)
            request = self.workers.pop(pid, None)
            returncode = os.waitstatus_to_exitcode(status)
            if request is not None and returncode != 0:
                try:
                    self.reporters.add(_report(request, pid, returncode))
                except OSError as exc:  # cannot fork: the daemon's run monitoring is left
                    print(f"cannot report the exit of run worker {pid}: {exc}", file=sys.stderr)


def fork_here(request: dict[str, Any]) -> int:
    """Fork a run worker from this process (see the module doc); returns its pid.

    Only for a process with one thread: a fork copies no other thread, so a lock another
    thread held (logging's, a connection pool's) would stay held in the worker forever.
    The caller's open connections are copied too; the worker makes its own and, leaving
    through os._exit, never closes (and so never ends) the caller's."""
    if threading.active_count() > 1:
        raise OSError("this process runs other threads: it cannot fork a run worker safely")
    if not sys.flags.safe_path:  # e.g. `flask --app opgraph_app runs launch`
        raise OSError("this process runs without -P: its sys.path may hold a project directory")
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    watcher = os.fork()
    if watcher == 0:
        code = 1
        try:
            os.close(read_fd)
            os.setsid()  # neither the caller's Ctrl-C nor its exit reaches the run
            _detach_stdio(request["log_path"])
            children = _Children()
            pid = _fork(request)
            children.workers[pid] = request
            os.write(write_fd, f"{pid}\n".encode())
            os.close(write_fd)
            while children:
                children.reap(block=True)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as answer:
        line = answer.readline()
    # Reaped when it exits, should this process outlive the run (`--wait`).
    threading.Thread(target=os.waitpid, args=(watcher, 0), daemon=True).start()
    if not line.strip().isdigit():
        raise OSError(
            f"the watcher process could not fork the run worker (see {request['log_path']})"
        )
    return int(line)


def _detach_stdio(log_path: str) -> None:
    """stdin from /dev/null, stdout and stderr to the run's log: not the caller's terminal
    or pipes (a caller reading our output to its end would wait for the run)."""
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null_fd)
    os.close(log_fd)


def _answer(line: bytes, children: _Children) -> dict[str, Any]:
    try:
        request = json.loads(line)
        pid = _fork(request)
    except Exception as exc:  # e.g. fork failed (out of memory, process limit)
        return {"error": f"{type(exc).__name__}: {exc}"}
    children.workers[pid] = request
    return {"pid": pid}


def main() -> None:
    global _wakeup
    _preload()
    _wakeup = os.pipe()
    for fd in _wakeup:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(_wakeup[1])
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # wakes select via the fd
    children = _Children()
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    stdin = sys.stdin.fileno()
    reading, pending = True, b""
    while reading or children:
        ready = select.select([_wakeup[0], stdin] if reading else [_wakeup[0]], [], [])[0]
        if _wakeup[0] in ready:
            while True:
                try:
                    if not os.read(_wakeup[0], 4096):
                        break
                except BlockingIOError:
                    break
        children.reap()
        if stdin not in ready:
            continue
        data = os.read(stdin, 65536)
        if not data:  # the launching process is gone: no more forks, watch what runs
            reading = False
            out.close()
            continue
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            out.write(json.dumps(_answer(line, children)) + "\n")
            out.flush()


if __name__ == "__main__":
    main()

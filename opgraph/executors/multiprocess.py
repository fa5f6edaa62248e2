"""The multiprocess executor: a warm pool of worker processes, one step at a time each.

Workers start from a forkserver (a clean process that has already imported opgraph), load
the job once, then take steps over a pipe and stream back their events; the run worker
is the only process that writes to storage. A worker that dies mid-step (os._exit,
segfault, OOM kill) turns into a STEP_FAILURE for that step, and a new worker replaces it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from opgraph.active_execution import ActiveExecution
from opgraph.events import EventType, make_event
from opgraph.execution import RunContext
from opgraph.executors.definitions import default_worker_count
from opgraph.step_runner import retry_delay
from opgraph.steps import ExecutionStep

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["opgraph.executors.worker_process"])

POLL_SECONDS = 0.25


@dataclass
class _Worker:
    process: Any
    conn: Connection
    ready: bool = False
    step: ExecutionStep | None = None


class WorkerLoadError(Exception):
    """A worker process could not load the job (user code broken)."""


class MultiprocessExecutor:
    def __init__(self, max_concurrent: int | None = None, **_config: Any):
        self.max_concurrent = default_worker_count(max_concurrent)
        self.workers: list[_Worker] = []

    # -- the pool ------------------------------------------------------------------------
    def _spawn(self, ctx: RunContext) -> _Worker:
        from opgraph.executors.worker_process import worker_main

        parent_conn, child_conn = _CONTEXT.Pipe()
        spec = {
            "code_pointer": ctx.run.code_pointer,
            "job_name": ctx.job.name,
            "run_id": ctx.run.run_id,
            "run_tags": dict(ctx.run.tags),
            "run_config": dict(ctx.run.run_config),
            "home": str(ctx.instance.home),
            "instance_config": ctx.instance.config,
            "run_worker_pid": os.getpid(),
        }
        process = _CONTEXT.Process(target=worker_main, args=(child_conn, spec), daemon=True)
        process.start()
        child_conn.close()
        worker = _Worker(process, parent_conn)
        self.workers.append(worker)
        return worker

    def _stop_all(self, grace: float = 2.0) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers.clear()

    def _kill_busy(self) -> None:
        for worker in self.workers:
            if worker.step is not None and worker.process.is_alive():
                worker.process.terminate()

    # -- the loop --------------------------------------------------------------------------
    def execute(self, ctx: RunContext, active: ActiveExecution) -> None:
        if not ctx.run.code_pointer:
            raise WorkerLoadError(
                "the multiprocess executor loads the job in worker processes and needs a code "
                "pointer; launch the run from a file (opgraph runs launch -f) or use reconstructable(job)"
            )
        pending: list[ExecutionStep] = []
        try:
            while True:
                if ctx.cancel_requested():
                    self._cancel(ctx, active)
                    return
                pending.extend(active.get_steps_to_execute())
                ctx.emit_skips(active)
                self._dispatch(ctx, pending)
                busy = [w for w in self.workers if w.step is not None or not w.ready]
                idle_run = not pending and not busy
                if idle_run and (active.is_complete or active.next_retry_at is None):
                    return
                timeout = POLL_SECONDS
                if active.next_retry_at is not None:
                    timeout = min(timeout, max(0.0, active.next_retry_at - time.time()))
                self._receive(ctx, active, timeout)
                ctx.sink.flush()
        finally:
            ctx.sink.flush()
            self._stop_all()

    def _dispatch(self, ctx: RunContext, pending: list[ExecutionStep]) -> None:
        while pending:
            idle = next((w for w in self.workers if w.ready and w.step is None), None)
            if idle is None:
                starting = sum(1 for w in self.workers if not w.ready)
                wanted = min(self.max_concurrent - len(self.workers), len(pending) - starting)
                for _ in range(max(0, wanted)):
                    self._spawn(ctx)
                return
            step = pending.pop(0)
            idle.step = step
            idle.conn.send(step.to_dict())

    def _receive(self, ctx: RunContext, active: ActiveExecution, timeout: float) -> None:
        conns = {w.conn: w for w in self.workers}
        if not conns:
            time.sleep(timeout)
            return
        for ready in wait(list(conns), timeout):
            worker = conns[ready]  # type: ignore[index]  # wait() returns what it was given
            conn = worker.conn
            while True:  # drain: one flush per burst of events, not per event
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    self._worker_died(ctx, active, worker)
                    break
                self._handle(ctx, active, worker, message)
                if not conn.poll():
                    break

    def _handle(
        self, ctx: RunContext, active: ActiveExecution, worker: _Worker, message: Any
    ) -> None:
        kind = message[0]
        if kind == "event":
            ctx.emit(message[1], active)
        elif kind == "done":
            worker.step = None
        elif kind == "ready":
            worker.ready = True
        elif kind == "load_error":
            raise WorkerLoadError(message[1])

    def _worker_died(self, ctx: RunContext, active: ActiveExecution, worker: _Worker) -> None:
        worker.process.join(5)
        code = worker.process.exitcode
        self.workers.remove(worker)
        worker.conn.close()
        step = worker.step
        if step is None:
            if not worker.ready:
                raise WorkerLoadError(
                    f"a worker process exited with code {code} while loading the job"
                )
            return
        if code is not None and code < 0:
            reason = f"killed by signal {signal.Signals(-code).name}"
        else:
            reason = f"exited with code {code}"
        message = f'the worker process running step "{step.key}" {reason} before the step finished'
        op_def = ctx.plan.ops[step.handle].op_def
        delay = retry_delay(op_def, step.attempt, RuntimeError(message))
        if delay is not None and not ctx.cancel_requested():
            ctx.emit(
                make_event(
                    ctx.run.run_id,
                    EventType.STEP_UP_FOR_RETRY,
                    step_key=step.key,
                    attempt=step.attempt,
                    level="WARNING",
                    message=message + "; retrying",
                    data={
                        "delay": delay,
                        "error": {"class": "WorkerCrashed", "message": message, "user_code": False},
                    },
                ),
                active,
            )
        else:
            ctx.fail_step(active, step.key, step.attempt, message)

    def _cancel(self, ctx: RunContext, active: ActiveExecution) -> None:
        in_flight = [(w.step.key, w.step.attempt) for w in self.workers if w.step is not None]
        self._kill_busy()
        for key, attempt in in_flight:
            ctx.fail_step(active, key, attempt, f'step "{key}" interrupted: the run was canceled')


def format_load_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))

"""The default executor: the run worker's own process for a serial plan, a pool otherwise.

A run config that picks no executor gets this one. A pool of worker processes pays off
only when steps can run side by side; for a plan that can never have two steps ready at
once (one op, or a chain) it costs a forkserver and a worker that imports opgraph and
loads the job, about 0.35 s before the first step of a one-op run on this 2-core machine
(benchmarks/latency.py), for nothing in return. Such a plan runs in the run worker's
process, one step after another, its output captured per step as the pool's workers
capture it (file descriptors, so subprocesses' output too). Every other plan, including
one with dynamic outputs (its fan-out is unknown until it runs), goes to the pool.

A run canceled while a step of a serial plan runs stops that op, as the pool stops its
process: a thread watches the run's status and, once it reads CANCELING, interrupts the
op through the run worker's SIGTERM handler (opgraph.execution.Interruption). The step
fails as interrupted and the run ends CANCELED. Where no Python handler for SIGTERM is
installed (not a run worker) the op is left to finish, and the run stops after it.

What the serial plan gives up is isolation: an op that kills its process (os._exit, a
segfault, the OOM killer) takes the run worker with it, and the run fails through run
monitoring instead of as a STEP_FAILURE. A run config that names `multiprocess` (or a job
with `executor_def=multiprocess_executor`) always gets the pool, its `max_concurrent`
and its isolation; `in_process` always gets the run worker's process.
"""

from __future__ import annotations

import signal
import threading
from types import TracebackType
from typing import Any

from opgraph.active_execution import ActiveExecution
from opgraph.execution import CANCEL_CHECK_INTERVAL, RunContext
from opgraph.plan import ExecutionPlan
from opgraph_storage.records import RunStatus

CANCELED = (RunStatus.CANCELING, RunStatus.CANCELED)


class AdaptiveExecutor:
    def __init__(self, max_concurrent: int | None = None, **config: Any):
        self._pool_config = {"max_concurrent": max_concurrent, **config}
        self.chosen: str | None = None  # "in_process" or "multiprocess", once it has run

    def execute(self, ctx: RunContext, active: ActiveExecution) -> None:
        if is_serial(ctx.plan):
            from opgraph.executors.in_process import InProcessExecutor

            self.chosen = "in_process"
            with _CancelWatch(ctx):
                InProcessExecutor(capture="fd").execute(ctx, active)
            return
        from opgraph.executors.multiprocess import MultiprocessExecutor

        self.chosen = "multiprocess"
        MultiprocessExecutor(**self._pool_config).execute(ctx, active)


class _CancelWatch:
    """While a serial plan runs in this (main) thread: signal it once the run is canceled."""

    def __init__(self, ctx: RunContext, interval: float = CANCEL_CHECK_INTERVAL):
        self.ctx = ctx
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _CancelWatch:
        main = threading.main_thread()
        if threading.current_thread() is main and callable(signal.getsignal(signal.SIGTERM)):
            self._thread = threading.Thread(
                target=self._watch, args=(main.ident,), name="opgraph-cancel-watch", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self, main_ident: int | None) -> None:
        storage, run_id = self.ctx.instance.storage, self.ctx.run.run_id
        canceled = False
        while not self._stop.wait(self.interval):
            if not canceled:
                try:
                    status = storage.get_run_status(run_id)
                except Exception:  # the executor's own checks report a database outage
                    continue
                canceled = status in CANCELED
            # Only while an op runs: between steps the executor stops at its next check.
            if canceled and self.ctx.interruption.in_user_code and main_ident is not None:
                # A real signal, so that an op blocked in a system call (sleep, a socket
                # read) wakes up at once; its handler raises RunInterrupted (Interruption).
                signal.pthread_kill(main_ident, signal.SIGTERM)
                return


def is_serial(plan: ExecutionPlan) -> bool:
    """Whether no two steps of `plan` can ever be ready at the same time: its ops form a
    chain (each one's predecessor in the only topological order is one of its inputs'
    producers), and none has a dynamic output or is mapped over one."""
    ops = plan.ops
    if any(
        op.dynamic_source is not None or any(out.is_dynamic for out in op.op_def.outs.values())
        for op in ops.values()
    ):
        return False
    waiting = {handle: op.upstream_handles & ops.keys() for handle, op in ops.items()}
    while waiting:
        ready = [handle for handle, upstream in waiting.items() if not upstream]
        if len(ready) != 1:
            return len(ready) == 0 and not waiting  # two at once, or a cycle (never built)
        (done,) = ready
        del waiting[done]
        for upstream in waiting.values():
            upstream.discard(done)
    return True

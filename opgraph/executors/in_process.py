"""The in-process executor: runs steps one after another in the run worker's process."""

from __future__ import annotations

import time
from typing import Any

from opgraph.active_execution import ActiveExecution
from opgraph.execution import RunContext
from opgraph.resources import build_resources
from opgraph.run_config import job_resource_defs
from opgraph.step_runner import StepEnvironment, run_step
from opgraph.user_code import running
from opgraph_storage.records import EventRecord


class InProcessExecutor:
    def __init__(self, capture_outputs: bool = False, capture: str = "python", **_config: Any):
        # "python": sys.stdout/stderr (execute_in_process, which may share its process's
        # file descriptors with threads); "fd": the process's, for a run worker
        self.capture = capture
        # execute_in_process results read output values from here
        self.output_capture: dict[tuple[str, str, str | None], Any] | None = (
            {} if capture_outputs else None
        )

    def execute(self, ctx: RunContext, active: ActiveExecution) -> None:
        resource_defs = job_resource_defs(ctx.job, in_process=ctx.in_process)
        # The job's code location is active while its resources and ops run (user_code).
        with (
            running(ctx.job),
            build_resources(
                resource_defs, ctx.plan.run_config.resource_configs, ctx.instance, ctx.run.run_id
            ) as resources,
        ):
            env = StepEnvironment(
                run=ctx.run_info,
                plan=ctx.plan,
                resources=resources,
                compute_logs_dir=ctx.instance.compute_logs_dir,
                capture=self.capture,
                instance=ctx.instance,
                on_user_failure=ctx.user_exceptions.append,
                output_capture=self.output_capture,
            )

            def emit(event: EventRecord) -> None:
                ctx.emit(event, active)

            while not active.is_complete:
                if ctx.cancel_requested():
                    return
                steps = active.get_steps_to_execute()
                ctx.emit_skips(active)
                if not steps:
                    wake = active.next_retry_at
                    if wake is None:
                        return  # nothing runnable and nothing waiting: finish_run reports it
                    time.sleep(min(max(0.0, wake - time.time()), 0.5))
                    continue
                for step in steps:
                    if ctx.cancel_requested():
                        return
                    ctx.interruption.in_user_code = True
                    try:
                        run_step(env, step, emit)
                    finally:
                        ctx.interruption.in_user_code = False
                    ctx.sink.flush()
            ctx.sink.flush()

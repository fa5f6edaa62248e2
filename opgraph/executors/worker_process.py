"""The body of a multiprocess worker: load the job once, then run steps sent over a pipe."""

from __future__ import annotations

import os
import signal
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from opgraph.process_lifetime import die_with


def worker_main(conn: Connection, spec: dict[str, Any]) -> None:
    # The run worker decides when to stop us; Ctrl-C in a terminal goes to it, not here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A run worker killed with SIGKILL must not leave its ops running on (a resumed worker
    # runs them again). Our parent is the forkserver, which outlives it: watch it directly.
    die_with(spec["run_worker_pid"], signal.SIGKILL)
    from opgraph.code_pointer import load_job
    from opgraph.context import RunInfo
    from opgraph.instance import OpgraphInstance
    from opgraph.plan import ExecutionPlan
    from opgraph.resources import build_resources
    from opgraph.run_config import job_resource_defs, validate_run_config
    from opgraph.step_runner import StepEnvironment, run_step
    from opgraph.steps import ExecutionStep
    from opgraph.user_code import running

    try:
        job = load_job(spec["code_pointer"], spec["job_name"])
        resolved = validate_run_config(job, spec["run_config"])
        plan = ExecutionPlan.build(job, resolved)
        instance = OpgraphInstance(Path(spec["home"]), spec["instance_config"])
        instance.ride_out_database_outages()  # as its run worker does
    except Exception as exc:
        conn.send(("load_error", "".join(traceback.format_exception(exc))))
        return
    run = RunInfo(spec["run_id"], job.name, spec["run_tags"], spec["run_config"])
    # The job's code location stays active for this process's life: it runs only this job.
    with (
        running(job),
        build_resources(
            job_resource_defs(job), resolved.resource_configs, instance, run.run_id
        ) as resources,
    ):
        env = StepEnvironment(
            run=run,
            plan=plan,
            resources=resources,
            compute_logs_dir=instance.compute_logs_dir,
            capture="fd",
            instance=instance,
        )
        conn.send(("ready", os.getpid()))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            step = ExecutionStep.from_dict(message)
            run_step(env, step, lambda event: conn.send(("event", event)))
            conn.send(("done", step.key))

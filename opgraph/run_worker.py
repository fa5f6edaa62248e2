"""The run worker: `python -m opgraph.run_worker RUN_ID [--resume]`.

Loads the job from the run's code pointer, runs it with the executor its run config
picks, heartbeats into storage, and stops cleanly when the run is canceled.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from opgraph.code_pointer import load_job
from opgraph.errors import OpgraphError
from opgraph.events import EventType
from opgraph.execution import Interruption, execute_run
from opgraph.executors.definitions import load_executor
from opgraph.instance import OpgraphInstance
from opgraph.logs import configure_logging, set_log_context
from opgraph.plan import ExecutionPlan
from opgraph.ports import WORKER_NICENESS_ENV
from opgraph.run_config import validate_run_config
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph.step_runner import error_data
from opgraph_storage.records import FINISHED_STATUSES, RunStatus


def _heartbeat(instance: OpgraphInstance, run_id: str, stop: threading.Event) -> None:
    import time

    # Every liveness.heartbeat_interval_seconds; run monitoring waits missed_heartbeats beats.
    while not stop.wait(instance.config.liveness.heartbeat_interval_seconds):
        try:
            instance.storage.record_run_worker_heartbeat(run_id, time.time())
        except Exception as exc:  # a missed beat is not fatal; the next one may work
            print(f"run worker heartbeat failed: {exc}", file=sys.stderr)


def run_worker(run_id: str, instance: OpgraphInstance, resume: bool = False) -> RunStatus:
    run = instance.get_run(run_id)
    if run.status in FINISHED_STATUSES:
        raise OpgraphError(f"run {run_id} already finished with status {run.status.value}")
    if run.status is RunStatus.STARTED and not resume:
        raise OpgraphError(f"run {run_id} is already started; pass --resume to continue it")
    try:
        if not run.code_pointer:
            raise OpgraphError(
                f"run {run_id} has no code pointer to load job {run.job_name!r} from"
            )
        job = load_job(run.code_pointer, run.job_name)
        plan = ExecutionPlan.build(job, validate_run_config(job, run.run_config))
        executor = load_executor(plan.run_config.executor_class, plan.run_config.executor_config)
    except Exception as exc:
        append_lifecycle_event(
            instance,
            run_id,
            EventType.RUN_FAILURE,
            f"Could not load job {run.job_name!r} for run {run_id}: {exc}",
            **error_data(exc, user_code=True),
        )
        return instance.get_run(run_id).status

    interruption = Interruption()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        interruption.request()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(instance, run_id, stop), daemon=True)
    beat.start()
    try:
        ctx = execute_run(
            instance, run, job, plan, executor, resume=resume, interruption=interruption
        )
    finally:
        stop.set()
    return ctx.status or RunStatus.FAILURE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opgraph.run_worker")
    parser.add_argument("run_id")
    parser.add_argument("--resume", action="store_true", help="continue from the event log")
    args = parser.parse_args(argv)
    niceness = os.environ.get(WORKER_NICENESS_ENV, "")
    if niceness.isdigit():  # the launcher's worker_niceness; relative to a parent at 0
        os.nice(int(niceness))
    configure_logging("run_worker")  # JSON when OPGRAPH_LOG_FORMAT=json
    set_log_context(run_id=args.run_id)
    instance = OpgraphInstance.get()
    instance.ride_out_database_outages()  # a run in flight outlasts a database restart
    try:
        status = run_worker(args.run_id, instance, resume=args.resume)
    except OpgraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        instance.dispose()
    return 0 if status is RunStatus.SUCCESS else 1


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: run the example job through the platform's real path and show what happened.

The run is submitted to the configured run coordinator, a run-worker subprocess runs it
with the multiprocess executor, and this script follows the run's event log as it is
written (SQLite under OPGRAPH_HOME, default ./.opgraph, unless instance.yaml says otherwise).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from app.run_views import step_summaries
from opgraph.code_pointer import load_job
from opgraph.errors import OpgraphError
from opgraph.execute import ExecuteJobResult
from opgraph.instance import OpgraphInstance
from opgraph.submit import submit_job_run
from storage.records import FINISHED_STATUSES, RunStatus

JOB_FILE = Path(__file__).resolve().parent / "jobs.py"
JOB_NAME = "daily_sales_job"
RUN_CONFIG = {
    "ops": {"list_partitions": {"config": {"num_partitions": 8}}},
    "execution": {"config": {"multiprocess": {"max_concurrent": 4}}},
}
SHOWN_EVENTS = {"RUN_START", "STEP_UP_FOR_RETRY", "STEP_FAILURE", "RUN_SUCCESS", "RUN_FAILURE"}


def follow(instance: OpgraphInstance, run_id: str, timeout: float = 120.0) -> RunStatus:
    """Print the interesting events as they arrive, until the run finishes."""
    cursor = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in instance.storage.wait_for_events(run_id, cursor, timeout=1.0):
            cursor = event.storage_id
            if event.event_type in SHOWN_EVENTS or event.event_type == "STEP_SUCCESS":
                where = event.step_key or event.message
                print(
                    f"  {time.strftime('%H:%M:%S', time.localtime(event.timestamp))} "
                    f"{event.event_type:<18}{where}  {event.message}"
                )
        status = instance.get_run(run_id).status
        if status in FINISHED_STATUSES:
            return status
    raise SystemExit(f"run {run_id} did not finish within {timeout:.0f}s")


def main() -> int:
    home = Path(os.environ.setdefault("OPGRAPH_HOME", str(Path(".opgraph").resolve())))
    instance = OpgraphInstance.get(home)
    pointer = {"python_file": str(JOB_FILE), "working_directory": str(JOB_FILE.parent.parent)}
    try:
        run = submit_job_run(
            instance, pointer, JOB_NAME, RUN_CONFIG, {"opgraph/launched_by": "demo"}
        )
    except OpgraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"opgraph demo: run {run.run_id} of {JOB_NAME} (home {home})")
    status = follow(instance, run.run_id)

    events = instance.storage.get_events(run.run_id)
    print(f"\n{'step':<34}{'status':<10}{'attempts':>8}{'seconds':>9}")
    for step in step_summaries(events):
        seconds = f"{step.duration:.2f}" if step.duration is not None else "-"
        print(f"{step.step_key:<34}{step.status:<10}{step.attempts:>8}{seconds:>9}")
    if status is RunStatus.SUCCESS:
        job = load_job(pointer, JOB_NAME)
        summary = ExecuteJobResult(instance, job, run.run_id).output_for_node("summarize_sales")
        print(f"\nsummary: {summary}")
    print(f"\nrun {run.run_id}: {status.value}")
    print(f"see it again with: opgraph runs show {run.run_id}")
    instance.dispose()
    return 0 if status is RunStatus.SUCCESS else 1


if __name__ == "__main__":
    sys.exit(main())

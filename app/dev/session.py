"""One `opgraph dev` session: start, maybe launch a job, wait for Ctrl-C, stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from opgraph.errors import OpgraphError
from opgraph_app.dev import report, runs
from opgraph_app.dev.stack import DevStack
from opgraph_storage.base import StorageError
from opgraph_storage.records import RunStatus

AfterRun = Callable[[DevStack, str, RunStatus], None]


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_session(
    stack: DevStack,
    job: str | None,
    run_config: dict[str, Any],
    once: bool,
    after_run: AfterRun | None = None,
) -> int:
    """Start everything, launch `job` if given and follow it, then wait for Ctrl-C (or
    stop at once with `once`). Everything is stopped whatever happens; returns the exit
    code: 1 if the run did not succeed or something failed, else 0."""
    for sig in (signal.SIGTERM, signal.SIGHUP):  # `kill` and a closed terminal: as Ctrl-C
        signal.signal(sig, _interrupt)
    code = 0
    try:
        locations = stack.start()
        report.started(stack, locations)
        if job:
            run_id, job_name = runs.launch(stack.client, locations, job, run_config)
            stack.echo(f"\nlaunched {job_name}: {stack.url}/runs/{run_id}")
            status = runs.follow(stack.instance, run_id, stack.echo)
            stack.echo(f"\nrun {run_id}: {status.value}")
            if after_run is not None:
                after_run(stack, run_id, status)
            code = 0 if status is RunStatus.SUCCESS else 1
        if not once:
            stack.echo(f"\nThe UI is at {stack.url}. Press Ctrl-C to stop everything.")
            while True:
                stack.check()
                time.sleep(0.5)
    except KeyboardInterrupt:
        stack.echo("\nstopping...")
    except (OpgraphError, StorageError) as exc:
        stack.echo(f"Error: {exc}")
        code = 1
    finally:
        report.stopped(stack, stack.stop())
    return code

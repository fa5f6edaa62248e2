"""Warm Celery worker processes before their first task, not on it.

A fresh pool process used to spend its first step making the instance, opening storage
(engine, schema check, first connection), composing the executor config model (entry
points, pydantic: about 28 ms), loading the run's job and building its plan, resources
and IO managers: 1 to 2.7 s against 0.2 s of op time in `make demo`, and still about
2x a warm step for a one-op job (latency suite: 66 ms against 29 ms).

- The worker's main process (`worker_init`, before the pool forks) composes what every
  step needs and no database or user code is involved in: each pool process inherits it.
- Each pool process (`worker_process_init`) makes the instance and opens its database
  connections (POOLED_CONNECTIONS), then, in a background thread, starts the threads a
  step hands work to (its attempt keeper, its location notes), sends a step's
  statements through each connection on an attempt that does not exist (`dry_step_path`),
  then prepares the step environment (job, plan,
  resources) of the runs that have steps waiting on the fleet's queues, newest first, and
  loads the code locations the fleet's pool processes loaded last
  (`worker_state.recent_locations`), building the plan of their latest run (no
  resources), while within `BUDGET_SECONDS`. The newest of those is not noted again by
  this process's steps.

Why a thread: Celery kills a pool process whose init outlasts `worker_proc_alive_timeout`
(4 s by default) and starts another, which would load the same slow module again. In the
thread a slow import delays nothing but a step that needs it anyway (that step waits for
it: `WorkerState.environment` builds a run once, and one code location is active at a
time). A job that does not load here fails nothing: its step reports it.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from typing import Any

from celery.signals import worker_init, worker_process_init

from opgraph.code_pointer import load_job
from opgraph.plan import ExecutionPlan
from opgraph.run_config import validate_run_config
from opgraph.user_code import running
from opgraph_celery.warm_gate import mark_warm
from opgraph_celery.worker_state import WorkerState, recent_locations, worker_state
from opgraph_storage.records import StepAttemptStatus

logger = logging.getLogger(__name__)

BUDGET_SECONDS = 2.0
POOLED_CONNECTIONS = 2
MAX_RUNS = 2  # environments warmed per process (worker_state keeps a few recent runs)
NO_SUCH_ID = "opgraph-warm-up"  # no attempt or run has it: the dry statements match nothing


def preload_step_path() -> None:
    """What every step needs and no pool process should compose on its own."""
    from opgraph.executors.definitions import multi_or_in_process_config
    from opgraph.instance_config import default_instance_config, prepare_component_models

    default_instance_config()  # the instance plugins' entry points and models
    prepare_component_models()  # the models a pool process's instance.yaml needs
    # What a step imports on its first run (each step asks which asset partitions it
    # materializes): a process's first step paid the import, 1 ms at least.
    import opgraph.partitions.assets  # noqa: F401

    multi_or_in_process_config()  # the executor plugins' config model (run config checks)
    preload_storage_modules()


def preload_storage_modules() -> None:
    """Import the SQL storage and the database driver of the instance's storage URL (no
    engine, no connection: those are each process's own). Each pool process imported
    them on its own after the fork: 0.2-0.25 of its 0.23-0.25 CPU-seconds from fork to
    its first step's readiness, twice per worker start, where the main process imports
    them anyway for its heartbeat (`python -X importtime`, 6 December 2026)."""
    import sqlalchemy as sa

    import opgraph_storage.sql  # noqa: F401
    from opgraph.instance import home_from_env
    from opgraph.instance_config import load_instance_config
    from opgraph_storage.urls import normalize_url

    home = home_from_env()
    url = normalize_url(load_instance_config(home).storage_url(home))
    sa.make_url(url).get_dialect().import_dbapi()


def dry_step_path(storage: Any, connections: int = POOLED_CONNECTIONS) -> None:
    """A step's statements (claim, heartbeat, completion, the run's read) on an attempt and
    a run that do not exist, so they change nothing, once through each pooled connection,
    and a read of the newest run, if any: an absent run has no tags to read, and the first
    read of a run's tags compiles their statement and is the connection's first use of
    their table (a fresh process's first read of an existing run: 4.5 ms without it,
    3.5 ms with it; medians of 40 processes each at load 13).

    A new PostgreSQL connection's first use of a table loads that backend's catalog caches
    and this process compiles each statement once: a step's completion took 16 ms on a
    fresh connection, 1-3 ms after (an idle machine). That was most of what a pool
    process's first step paid over the next one. The connections not being warmed are
    held meanwhile, so each statement goes through the one being warmed."""
    engine: Any = getattr(storage, "engine", None)  # an SQL storage's pool; others have none
    rounds = connections if engine is not None else 1
    for _ in range(rounds):
        with ExitStack() as held:  # the pool is FIFO: each round gets the next connection
            for _ in range(rounds - 1):
                held.enter_context(engine.connect())
            now = time.time()
            storage.claim_step_attempt(NO_SUCH_ID, "warm-up", 0, now)
            storage.heartbeat_step_attempts([NO_SUCH_ID], now)
            storage.complete_step_attempt(NO_SUCH_ID, StepAttemptStatus.SUCCESS, now, [])
            storage.get_run(NO_SUCH_ID)
            storage.get_runs(limit=1)


def warm_pool_process(budget_seconds: float = BUDGET_SECONDS) -> list[str]:
    """Set up this process's worker state; returns the run ids whose environment is ready.
    The recent code locations are loaded afterwards, within the same budget."""
    started = time.monotonic()
    state = worker_state()
    state.start_threads()
    storage = state.instance.storage
    dry_step_path(storage)
    queued = storage.get_step_attempts(statuses=[StepAttemptStatus.QUEUED])
    run_ids = list(dict.fromkeys(attempt.run_id for attempt in reversed(queued)))[:MAX_RUNS]
    warmed = []
    for run_id in run_ids:
        if time.monotonic() - started > budget_seconds:
            break
        try:
            state.environment(run_id)
        except Exception:  # the step itself will report it, with the run's context
            logger.warning("could not prepare run %s ahead of its steps", run_id, exc_info=True)
            continue
        warmed.append(run_id)
    mark_warm()  # this process can run the queued runs' steps now: the worker may take them
    warm_recent_locations(state, started + budget_seconds)
    return warmed


def warm_recent_locations(state: WorkerState, deadline: float) -> list[str]:
    """Load the fleet's recent code locations and build the plan of each one's latest run
    (the config model and plan code warm, no resources); returns the job names loaded. A
    location whose code changed since is loaded as it is now (opgraph.user_code)."""
    loaded = []
    entries = recent_locations(state.instance.storage)
    if entries:
        state.newest_location_is(entries[0]["pointer"])
    for entry in entries:
        if time.monotonic() > deadline:
            break
        try:
            job = load_job(entry["pointer"], entry["job_name"])
            run = state.instance.storage.get_run(str(entry.get("run_id")))
            if run is not None and run.job_name == job.name:
                with running(job):
                    ExecutionPlan.build(job, validate_run_config(job, run.run_config))
        except Exception:  # its step loads it again and reports what fails
            logger.info("could not load recent job %s ahead of its steps", entry["job_name"])
            continue
        loaded.append(job.name)
    return loaded


def _open_connections(storage: Any, count: int) -> None:
    """Leave `count` connections open in the pool: a step uses one while the process's
    other threads (its attempt keeper, this warm-up) may hold another, and opening one on
    the step's path costs 6 ms on an idle machine, 30 ms on a loaded one."""
    engine = getattr(storage, "engine", None)  # an SQL storage's pool; others have none
    if engine is None:
        return
    with ExitStack() as stack:
        for _ in range(count):
            stack.enter_context(engine.connect())


def _warm_in_background() -> None:
    started = time.monotonic()
    try:
        warmed = warm_pool_process()
    except Exception:  # e.g. the database is down: the first task waits it out instead
        logger.warning("could not warm this pool process", exc_info=True)
        mark_warm()
        return
    elapsed_ms = (time.monotonic() - started) * 1000
    logger.info("pool process warm in %.0f ms (runs prepared: %d)", elapsed_ms, len(warmed))


@worker_init.connect(weak=False, dispatch_uid="opgraph-preload-step-path")
def _on_worker_init(**_: Any) -> None:
    try:
        preload_step_path()
    except Exception:  # a broken plugin: the step that needs it reports it
        logger.warning("could not preload the step path", exc_info=True)


@worker_process_init.connect(weak=False, dispatch_uid="opgraph-warm-pool-process")
def _on_process_init(**_: Any) -> None:
    try:
        _open_connections(worker_state().instance.storage, POOLED_CONNECTIONS)
    except Exception:  # e.g. the database is down: the first task waits it out instead
        logger.warning("could not open storage in this pool process", exc_info=True)
        mark_warm()
        return
    threading.Thread(target=_warm_in_background, name="opgraph-warmup", daemon=True).start()

"""Jobs for the Celery fleet tests (loaded by the test process and by real workers)."""

import os
import signal
import time
from pathlib import Path

from opgraph import Out, db_io_manager, job, op

# Queues get a per-session suffix so parallel test sessions never share messages.
SUFFIX = os.environ.get("OPGRAPH_TEST_QUEUE_SUFFIX", "local")
IO_QUEUE = f"io-{SUFFIX}"
NOBODY_QUEUE = f"nobody-{SUFFIX}"


def _marker_dir(context) -> Path:
    return Path(context.run_tags["test/marker_dir"])


def _count(context, name: str) -> int:
    """Record one execution of `name` (appending is atomic for short lines)."""
    path = _marker_dir(context) / f"{name}.runs"
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    return len(path.read_text().splitlines())


def runs_of(marker_dir: Path, name: str) -> int:
    """How many times `name` ran (as `_count` recorded it)."""
    return len((marker_dir / f"{name}.runs").read_text().splitlines())


def submit_resumable(instance, marker_dir: Path, executor_config: dict):
    """Submit `resumable_job` (its held op waits while `marker_dir/hold` exists)."""
    from opgraph import reconstructable
    from opgraph.submit import submit_job_run

    (marker_dir / "hold").touch()
    return submit_job_run(
        instance,
        reconstructable(resumable_job).pointer,
        "resumable_job",
        {"execution": {"config": executor_config}},
        {"test/marker_dir": str(marker_dir)},
    )


@op
def start():
    return 0


@op
def leaf(x):
    return x + 1


@op
def gather(values):
    return sum(values)


@job
def fan_out_200():
    origin = start()
    gather([leaf.alias(f"leaf_{i}")(origin) for i in range(200)])


@op
def long_op(context):
    _count(context, "long_op")
    (_marker_dir(context) / "long_op.pid").write_text(str(os.getpid()))
    time.sleep(float(context.run_tags.get("test/sleep", "4")))
    return "done"


@op
def after(value):
    return value + "!"


@job
def long_job():
    after(long_op())


@op
def nap(context, x):
    time.sleep(float(context.run_tags.get("test/nap_seconds", "0.5")))
    return os.getpid()


@job
def naps():
    origin = start()
    gather([nap.alias(f"nap_{i}")(origin) for i in range(8)])


@op
def held_nap(context, x):
    """Runs until the test removes `hold` from the marker dir (at most two minutes)."""
    hold = _marker_dir(context) / "hold"
    deadline = time.monotonic() + 120
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpid()


@job
def held_naps():
    """Eight ops that hold until released: a worker started late still finds some queued."""
    origin = start()
    gather([held_nap.alias(f"held_nap_{i}")(origin) for i in range(8)])


@op(tags={"celery/queue": IO_QUEUE})
def on_io_queue():
    return os.getpid()


@job
def routed():
    on_io_queue()


@op(tags={"celery/queue": NOBODY_QUEUE})
def unconsumed():
    return 1


@job
def stranded():
    unconsumed()


@op(tags={"op/timeout_seconds": 1})
def too_slow():
    time.sleep(10)


@job
def timing_out():
    too_slow()


@op(out=Out())
def whoami():
    return os.getpid()


@op(tags={"celery/priority": 0})
def low():
    return "low"


@op(tags={"celery/priority": 9})
def urgent():
    return "urgent"


@job
def prioritized():
    for i in range(9):
        low.alias(f"low_{i}")()
    urgent()


@job(resource_defs={"io_manager": db_io_manager})
def naps_shared_db():
    """For hosts that share only PostgreSQL and Redis: outputs live in the database."""
    origin = start()
    gather([nap.alias(f"nap_{i}")(origin) for i in range(8)])


@op
def counted_first(context):
    _count(context, "counted_first")
    return "first"


@op
def held_while_marker(context, value):
    """Runs until the test removes `hold` from the marker dir (at most a minute)."""
    _count(context, "held_while_marker")
    hold = _marker_dir(context) / "hold"
    deadline = time.monotonic() + 60
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@job
def resumable_job():
    held_while_marker(counted_first())


@job
def long_and_quick():
    long_op()
    whoami()


# A re-published attempt and a backlog: `lost_once` dies with its pool process on its first
# run (its attempt is found lost and published again), while `held` keeps the only pool
# process of a concurrency-1 worker and BACKLOG ops wait in the queue behind it.
BACKLOG = 12


@op
def lost_once(context):
    marker = _marker_dir(context) / "lost_once.killed"
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return "again"


@op
def held(context):
    """Runs until the test removes `hold` from the marker dir (at most five minutes)."""
    hold = _marker_dir(context) / "hold"
    deadline = time.monotonic() + 300
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return "released"


@job
def retry_behind_backlog():
    lost_once()
    held()
    for i in range(BACKLOG):
        start.alias(f"backlog_{i}")()

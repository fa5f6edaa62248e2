"""Jobs for daemon-driven Celery tests (loaded by path by run workers and Celery workers):
four ops that each record every execution and hold until the test removes `hold`."""

import os
import time
from pathlib import Path

from opgraph import job, op


@op
def origin():
    return 0


@op
def held(context, x):
    marker_dir = Path(context.run_tags["test/marker_dir"])
    with open(marker_dir / f"{context.step_key}.runs", "a") as f:
        f.write(f"{os.getpid()}\n")  # one line per execution (short appends are atomic)
    hold = marker_dir / "hold"
    deadline = time.monotonic() + 300
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return x + 1


@op
def total(values):
    return sum(values)


@job
def four_held():
    start = origin()
    total([held.alias(f"held_{i}")(start) for i in range(4)])


@op
def counted(context):
    marker_dir = Path(context.run_tags["test/marker_dir"])
    with open(marker_dir / "counted.runs", "a") as f:
        f.write(f"{os.getpid()}\n")
    return 1


@job
def one_counted():
    counted()

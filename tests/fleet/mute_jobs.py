"""Jobs for the test of a worker that never answers control broadcasts (loaded by the
test process and by real workers)."""

import os
import time

from opgraph import job, op

SUFFIX = os.environ.get("OPGRAPH_TEST_QUEUE_SUFFIX", "local")
MUTE_QUEUE = f"mute-{SUFFIX}"

# How long a worker's pool process takes to load this module: its claim comes only after
# that, so the step's message is off its queue, unclaimed, for that long.
time.sleep(float(os.environ.get("OPGRAPH_TEST_IMPORT_SECONDS", "0")))


@op(tags={"celery/queue": MUTE_QUEUE})
def first():
    time.sleep(1)
    return os.getpid()


@op(tags={"celery/queue": MUTE_QUEUE})
def second():
    time.sleep(1)
    return os.getpid()


@job
def two_on_the_mute_queue():
    first()
    second()

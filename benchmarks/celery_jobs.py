"""Jobs for the Celery suite: outputs in the database, so workers share only PostgreSQL.

The 10,000-op jobs live in celery_big_jobs.py: building them when this module loads cost
each fresh pool process 0.66 s (load 1) to 2 s, which the kill loop's replacement workers
paid before they could run a step of the 222-op job."""

import time

from benchmarks.core_jobs import gather, start, step
from opgraph import db_io_manager, job, op

RESOURCES = {"io_manager": db_io_manager}


@op
def sleepy(x):
    time.sleep(0.1)
    return x


@job(resource_defs=RESOURCES)
def chain_20():
    value = start()
    for i in range(19):
        value = step.alias(f"step_{i}")(value)


@job(resource_defs=RESOURCES)
def fan_out_500():
    origin = start()
    gather([step.alias(f"leaf_{i}")(origin) for i in range(500)])


@job(resource_defs=RESOURCES)
def sleep_100():
    origin = start()
    gather([sleepy.alias(f"nap_{i}")(origin) for i in range(100)])


@job(resource_defs=RESOURCES)
def fan_and_chain_222():
    """The chaos run of issue 14: a 200-op fan-out of 0.1 s ops, then a chain of 20."""
    origin = start()
    value = gather([sleepy.alias(f"nap_{i}")(origin) for i in range(200)])
    for i in range(20):
        value = step.alias(f"link_{i}")(value)

"""Jobs for the Celery suite: outputs in the database, so workers share only PostgreSQL."""

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

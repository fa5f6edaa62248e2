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


@job(resource_defs=RESOURCES)
def fan_out_10000():
    origin = start()
    gather([step.alias(f"leaf_{i}")(origin) for i in range(10_000)])


GRID = 100


@op
def cell(left, right):
    return left + right


@job(resource_defs=RESOURCES)
def grid_100x100():
    """100 rows of 100 ops; each op takes two of the row above (its own column and the
    next one): 10,000 ops, 19,800 edges."""
    row = [start.alias(f"cell_0_{j}")() for j in range(GRID)]
    for i in range(1, GRID):
        row = [cell.alias(f"cell_{i}_{j}")(row[j], row[(j + 1) % GRID]) for j in range(GRID)]


@job(resource_defs=RESOURCES)
def fan_and_chain_222():
    """The chaos run of issue 14: a 200-op fan-out of 0.1 s ops, then a chain of 20."""
    origin = start()
    value = gather([sleepy.alias(f"nap_{i}")(origin) for i in range(200)])
    for i in range(20):
        value = step.alias(f"link_{i}")(value)

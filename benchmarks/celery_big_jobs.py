"""The Celery suite's 10,000-op jobs, in a module of their own: a job is built when its
module loads, so every worker that loads these pays for 10,000 ops."""

from benchmarks.celery_jobs import RESOURCES
from benchmarks.core_jobs import gather, start, step
from opgraph import job, op


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

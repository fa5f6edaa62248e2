"""A one-op job for the latency suite's Celery case (outputs in the database)."""

from opgraph import db_io_manager, job, op


@op
def one():
    return 1


@job(resource_defs={"io_manager": db_io_manager})
def celery_one_op():
    one()

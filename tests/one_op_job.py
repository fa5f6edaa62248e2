"""The smallest job: one op. Tests copy this file into a project directory as `jobs.py`
(it is user code there, loaded by path, never imported from the test package)."""

from opgraph import job, op


@op
def one():
    return 1


@job
def one_op():
    one()

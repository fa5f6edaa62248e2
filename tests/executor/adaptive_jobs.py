"""Jobs whose ops return the pid of the process that ran them (tests/executor/test_adaptive.py)."""

import os

from opgraph import job, multiprocess_executor, op


@op
def first():
    return os.getpid()


@op
def second(previous):
    return [previous, os.getpid()]


@op
def side():
    return os.getpid()


@op
def gather(left, right):
    return [left, right]


@job
def chain():
    second(first())


@job
def diamond():
    gather(first(), side())


@job(executor_def=multiprocess_executor)
def chain_in_a_pool():
    second(first())

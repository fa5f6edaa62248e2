"""Job files and helpers shared by the workspace tests (a module name no other test dir uses)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: code servers run from here

JOBS = '''
from opgraph import (
    Config, ConfigurableResource, Definitions, DynamicOut, DynamicOutput, In, Nothing, Out,
    RetryPolicy, RunRequest, SkipReason, graph, job, op, schedule, sensor,
)


class GreetingConfig(Config):
    name: str = "world"
    times: int


class Db(ConfigurableResource):
    url: str
    pool: int = 5


@op(tags={"team": "a"}, retry_policy=RetryPolicy(max_retries=2, delay=0.5))
def greet(context, config: GreetingConfig) -> str:
    """Say hello."""
    return "hello, " + config.name


@op(config_schema=int)
def limit(context) -> int:
    return context.op_config


@op(out=DynamicOut())
def fan(n: int):
    for i in range(n):
        yield DynamicOutput(i, mapping_key=str(i))


@op
def double(x: int, db: Db) -> int:
    return 2 * x


@op
def plus_one(n: int) -> int:
    return n + 1


@op(ins={"after": In(Nothing)})
def total(xs: list, prefix: str) -> str:
    return prefix + str(sum(xs))


@op
def gather(values: list) -> int:
    return sum(values)


@graph
def inner(n):
    return plus_one(n)


@job(tags={"owner": "data"}, description="Greets, then fans out.")
def hello_job():
    start = limit()
    n = inner(start)
    total(fan(n).map(double).collect(), greet(), after=gather([start, n]))


@op
def lonely(x: int) -> int:
    return x


@job
def input_job():
    lonely()


@schedule("0 * * * *", job=hello_job, execution_timezone="Europe/Paris", tags={"kind": "hourly"})
def hourly(context):
    """Every hour."""
    when = context.scheduled_execution_time
    return RunRequest(run_key=when.isoformat(), run_config={"ops": {"limit": {"config": when.hour}}})


@schedule("*/5 * * * *", job=hello_job)
def failing(context):
    raise ValueError("schedule function failed")


@sensor(job=hello_job, minimum_interval_seconds=10)
def watcher(context):
    n = int(context.cursor or 0)
    context.update_cursor(str(n + 1))
    if n % 2:
        return SkipReason("odd tick " + str(n))
    return [RunRequest(run_key="k" + str(n), tags={"n": str(n)})]


defs = Definitions(
    jobs=[hello_job, input_job],
    schedules=[hourly, failing],
    sensors=[watcher],
    resources={"db": Db(url="sqlite://")},
)
'''

SMALL = """
from opgraph import Definitions, job, op


@op
def step() -> int:
    return {value}


@job
def {job_name}():
    step()


defs = Definitions(jobs=[{job_name}])
"""

BROKEN = """
from opgraph import job, op


@op
def fine() -> int:
    return 1


raise RuntimeError("this job file is broken")
"""


def small_jobs(job_name: str = "small_job", value: int = 1) -> str:
    return SMALL.format(job_name=job_name, value=value)


def wait_for(
    condition: Callable[[], object], timeout: float = 60.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")

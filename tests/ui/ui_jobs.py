"""Jobs of the code location the browser tests launch (loaded by the location's code
server, run workers and Celery workers; never imported by the tests themselves)."""

import os
import time

from opgraph import (
    Config,
    Definitions,
    RetryPolicy,
    ScheduleDefinition,
    SkipReason,
    job,
    op,
    sensor,
)


class EmitConfig(Config):
    n: int = 1
    gate: str = ""  # while a file at this path exists, emit waits (logging as it does)


@op
def emit(context, config: EmitConfig) -> int:
    print(f"emitting {config.n}")
    while config.gate and os.path.exists(config.gate):
        context.log.info("waiting for the gate")
        time.sleep(0.2)
    return config.n


@op
def double(n: int) -> int:
    return 2 * n


class FlakyConfig(Config):
    fail_while: str = ""  # while a file at this path exists, flaky fails
    retry_once: bool = False  # the first attempt asks for a retry


@op(retry_policy=RetryPolicy(max_retries=1))
def flaky(context, config: FlakyConfig, n: int) -> int:
    if config.retry_once and context.retry_number == 0:
        raise RuntimeError("first attempt fails, the retry succeeds")
    if config.fail_while and os.path.exists(config.fail_while):
        raise RuntimeError("flaky failed on purpose")
    return n + 1


@op
def report(context, n: int) -> int:
    context.log.info(f"report <script>window.__xss = 1</script><b>{n}</b>")
    print("<img src=x onerror=window.__xss=2> printed by report")
    return n


@job
def numbers():
    report(flaky(double(emit())))


@op
def nap(context) -> None:
    for second in range(600):
        context.log.info(f"napping, {second} s so far")
        time.sleep(1)


@job
def sleepy():
    nap()


@op
def origin() -> int:
    return 0


@op
def leaf(x: int) -> int:
    return x + 1


@op
def gather(values: list) -> int:
    return sum(values)


@job
def wide():
    start = origin()
    gather([leaf.alias(f"leaf_{i}")(start) for i in range(200)])


hourly_numbers = ScheduleDefinition(name="hourly_numbers", job=numbers, cron_schedule="0 * * * *")


@sensor(job=numbers, minimum_interval_seconds=30)
def quiet_sensor(context):
    return SkipReason("nothing to do")


defs = Definitions(jobs=[numbers, sleepy, wide], schedules=[hourly_numbers], sensors=[quiet_sensor])

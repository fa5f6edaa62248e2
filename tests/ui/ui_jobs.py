"""Jobs of the code location the browser tests launch (loaded by the location's code
server, run workers and Celery workers; never imported by the tests themselves)."""

import os
import sys
import time

from opgraph import (
    Config,
    Definitions,
    Field,
    RetryPolicy,
    ScheduleDefinition,
    SkipReason,
    graph,
    job,
    op,
    sensor,
)
from opgraph.config_types import Array, Enum, EnumValue, Noneable, Permissive, Selector, Shape


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


@op(
    config_schema={
        "name": Field(str, description="who is greeted"),
        "count": Field(int, default_value=3),
        "shape": Shape({"a": int, "b": Field(str, is_required=False)}),
        "pick": Selector({"csv": Shape({"path": str}), "table": str}),
        "items": Array(str),
        "maybe": Noneable(int),
        "color": Enum("Color", [EnumValue("RED"), EnumValue("BLUE")]),
        "extra": Permissive({"k": int}),
    }
)
def typed(context) -> int:
    context.log.info(f"typed config: {context.op_config}")
    return 1


@op
def inner_first(x: int) -> int:
    return x + 1


@op
def inner_second(x: int) -> int:
    return x + 1


@graph
def inner(x: int):
    return inner_second(inner_first(x))


@op
def last(x: int) -> int:
    return x


@job
def configured():
    """Dagster-style config types and a nested graph."""
    last(inner(typed()))


class ChattyConfig(Config):
    events: int = 100  # log events
    lines: int = 100  # stdout lines
    pause_every: int = 0  # sleep 0.05 s after this many lines (0: never)
    stderr_every: int = 0  # also print "err <i>" to stderr after every this many lines (0: never)


@op
def chatter(context, config: ChattyConfig) -> None:
    for i in range(config.events):
        context.log.info(f"event {i}")
    for i in range(config.lines):
        print(f"line {i}", flush=True)
        if config.stderr_every and i % config.stderr_every == config.stderr_every - 1:
            print(f"err {i}", file=sys.stderr, flush=True)
        if config.pause_every and i % config.pause_every == config.pause_every - 1:
            time.sleep(0.05)


@job
def chatty():
    chatter()


hourly_numbers = ScheduleDefinition(name="hourly_numbers", job=numbers, cron_schedule="0 * * * *")


@sensor(job=numbers, minimum_interval_seconds=30)
def quiet_sensor(context):
    return SkipReason("nothing to do")


defs = Definitions(
    jobs=[numbers, sleepy, wide, configured, chatty],
    schedules=[hourly_numbers],
    sensors=[quiet_sensor],
)

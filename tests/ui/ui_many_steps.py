"""A job of many steps for the run page's windowed timeline and steps table (loaded by
the location's code server and run worker; never imported by the tests themselves): one
op fans out to `n` mapped steps of a trivial op, and one more collects them."""

import os
import time

from opgraph import Config, Definitions, DynamicOut, DynamicOutput, in_process_executor, job, op


class FanConfig(Config):
    n: int = 2000
    gate: str = ""  # while a file at this path exists, fan_out waits


@op(out=DynamicOut())
def fan_out(context, config: FanConfig):
    while config.gate and os.path.exists(config.gate):
        context.log.info("waiting for the gate")
        time.sleep(0.2)
    for i in range(config.n):
        yield DynamicOutput(i, mapping_key=f"k{i:04d}")


@op
def piece(value: int) -> int:
    return value


@op
def total(values: list) -> int:
    return sum(values)


@job(executor_def=in_process_executor)  # one process: 2,000 steps run in seconds
def fan():
    total(fan_out().map(piece).collect())


defs = Definitions(jobs=[fan])

# dagster original: from dagster import Config, DynamicOut, DynamicOutput, OpExecutionContext,
#     in_process_executor, job, multiprocess_executor, op
"""Dynamic fan-out: one mapped step per chunk, then a fan-in over the collected results."""

from opgraph import (
    Config,
    DynamicOut,
    DynamicOutput,
    OpExecutionContext,
    in_process_executor,
    job,
    multiprocess_executor,
    op,
)


class ChunkConfig(Config):
    num_chunks: int = 5


@op(out=DynamicOut())
def split_into_chunks(context: OpExecutionContext, config: ChunkConfig):
    context.log.info(f"fanning out into {config.num_chunks} chunks")
    for i in range(config.num_chunks):
        yield DynamicOutput(i + 1, mapping_key=f"chunk_{i}")


@op
def double(value: int) -> int:
    return value * 2


@op
def sum_all(values: list[int]) -> int:
    return sum(values)


@op
def add_ten(value: int) -> int:
    return value + 10


@op
def to_label(value: int) -> str:
    return f"value-{value}"


@op
def sorted_labels(labels: list[str]) -> list[str]:
    return sorted(labels)


@job(executor_def=in_process_executor)
def fan_out_job():
    chunks = split_into_chunks()
    sum_all(chunks.map(double).collect())
    sorted_labels(chunks.map(add_ten).map(to_label).collect())


# execute_in_process always runs in-process, whatever executor the job declares.
@job(executor_def=multiprocess_executor)
def parallel_fan_out_job():
    sum_all(split_into_chunks().map(double).collect())

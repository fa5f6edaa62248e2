# dagster original: from dagster import Config, In, Nothing, OpExecutionContext, Out, Output, graph,
#     job, op
"""Multiple and optional outputs, Nothing dependencies and nested graphs."""

from opgraph import Config, In, Nothing, OpExecutionContext, Out, Output, graph, job, op

# --- optional outputs -------------------------------------------------------------------------


class NumbersConfig(Config):
    values: list[int] = [1, 2, 3, 4, 5, 6, 7]


@op
def read_numbers(config: NumbersConfig) -> list[int]:
    return list(config.values)


@op(out={"evens": Out(is_required=False), "odds": Out()})
def split_by_parity(context: OpExecutionContext, numbers: list[int]):
    evens = [n for n in numbers if n % 2 == 0]
    odds = [n for n in numbers if n % 2 == 1]
    if evens:
        yield Output(evens, output_name="evens")
    else:
        context.log.info("no even numbers: the evens branch is skipped")
    yield Output(odds, output_name="odds")


@op
def sum_evens(evens: list[int]) -> int:
    return sum(evens)


@op
def report_evens(total: int) -> str:
    return f"sum of evens: {total}"


@op
def sum_odds(odds: list[int]) -> int:
    return sum(odds)


@job
def parity_job():
    evens, odds = split_by_parity(read_numbers())
    report_evens(sum_evens(evens))
    sum_odds(odds)


# --- ordering without data (Nothing) ----------------------------------------------------------

FAKE_WAREHOUSE: dict[str, list[int]] = {}


@op
def create_staging_table(context: OpExecutionContext) -> None:
    context.log.info("creating table staging")
    FAKE_WAREHOUSE["staging"] = []


@op(ins={"start": In(Nothing)})
def load_staging_rows(context: OpExecutionContext) -> int:
    # Fails with KeyError if it ran before create_staging_table.
    FAKE_WAREHOUSE["staging"].extend([10, 20, 30])
    return len(FAKE_WAREHOUSE["staging"])


@job
def staging_job():
    load_staging_rows(start=create_staging_table())


# --- nested graphs ----------------------------------------------------------------------------


@op
def seed() -> int:
    return 2


@op
def add_one(x: int) -> int:
    return x + 1


@op
def square(x: int) -> int:
    return x * x


@graph
def increment_and_square(value):
    return square(add_one(value))


@graph
def apply_twice(value):
    return increment_and_square(increment_and_square(value))


@op
def describe(result: int) -> str:
    return f"result={result}"


@job
def nested_graph_job():
    describe(apply_twice(seed()))

# dagster original: from dagster import Backoff, Config, Definitions, DynamicOut, DynamicOutput,
#     OpExecutionContext, RetryPolicy, job, op
"""The demo pipeline: daily sales, processed one store partition at a time.

    list_partitions --(one DynamicOutput per partition)--> process_partition[partition_N]
                                                                   |  collect()
    fetch_exchange_rates (flaky: fails on its first attempt) --> summarize_sales

Run it with `make demo`; every mapped step sleeps a little and prints to stdout so the
compute logs, the fan-out and the retry are all visible in the UI.
"""

import time

from opgraph import (
    Backoff,
    Config,
    Definitions,
    DynamicOut,
    DynamicOutput,
    OpExecutionContext,
    RetryPolicy,
    job,
    op,
)


class SalesConfig(Config):
    num_partitions: int = 8
    orders_per_partition: int = 25
    processing_seconds: float = 0.2


@op(out=DynamicOut())
def list_partitions(context: OpExecutionContext, config: SalesConfig):
    context.log.info(f"splitting today's sales into {config.num_partitions} store partitions")
    for index in range(config.num_partitions):
        yield DynamicOutput(
            {
                "partition": index,
                "orders": config.orders_per_partition,
                "seconds": config.processing_seconds,
            },
            mapping_key=f"partition_{index}",
        )


@op
def process_partition(context: OpExecutionContext, partition: dict) -> dict:
    index = partition["partition"]
    print(f"[partition {index}] reading {partition['orders']} orders", flush=True)
    time.sleep(partition["seconds"])
    # Deterministic fake revenue, in EUR cents: order n of partition p is worth 100*(p+1)+n.
    revenue_cents = sum(100 * (index + 1) + n for n in range(partition["orders"]))
    print(f"[partition {index}] revenue {revenue_cents / 100:.2f} EUR", flush=True)
    context.log.info(f"partition {index} done")
    return {"partition": index, "orders": partition["orders"], "revenue_cents": revenue_cents}


@op(retry_policy=RetryPolicy(max_retries=2, delay=0.2, backoff=Backoff.LINEAR))
def fetch_exchange_rates(context: OpExecutionContext) -> dict:
    if context.retry_number == 0:
        # Deterministically flaky: the first attempt always times out, the retry succeeds.
        print("exchange-rate service timed out (first attempt); retrying", flush=True)
        raise ConnectionError("exchange-rate service timed out")
    print(f"exchange rates fetched on attempt {context.retry_number + 1}", flush=True)
    return {"EUR": 1.0, "USD": 1.08, "GBP": 0.86}


@op
def summarize_sales(context: OpExecutionContext, partitions: list[dict], rates: dict) -> dict:
    revenue_eur = sum(p["revenue_cents"] for p in partitions) / 100
    summary = {
        "partitions": len(partitions),
        "orders": sum(p["orders"] for p in partitions),
        "revenue": {currency: round(revenue_eur * rate, 2) for currency, rate in rates.items()},
    }
    print(f"summary: {summary}", flush=True)
    context.log.info(f"processed {summary['orders']} orders in {summary['partitions']} partitions")
    return summary


@job
def daily_sales_job():
    results = list_partitions().map(process_partition).collect()
    summarize_sales(results, fetch_exchange_rates())


defs = Definitions(jobs=[daily_sales_job])

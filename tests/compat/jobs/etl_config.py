# dagster original: from dagster import Config, Field, OpExecutionContext, in_process_executor, job,
#     op
"""A tiny extract -> transform -> load pipeline configured through run config.

`extract` and `transform` use Pythonic `Config` classes (every field has a default), `load`
uses a classic `config_schema` dict with a required `limit` and an optional `batch_size`.
"""

import math

from opgraph import Config, Field, OpExecutionContext, in_process_executor, job, op


class ExtractConfig(Config):
    source: str = "orders_db"
    num_rows: int = 5


class TransformConfig(Config):
    min_amount: int = 20
    tax_rate: float = 0.1


@op
def extract(context: OpExecutionContext, config: ExtractConfig) -> list[dict]:
    context.log.info(f"extracting {config.num_rows} rows from {config.source}")
    return [
        {"id": i, "amount": (i * 37) % 100, "source": config.source}
        for i in range(1, config.num_rows + 1)
    ]


@op
def transform(context: OpExecutionContext, config: TransformConfig, rows: list[dict]) -> list[dict]:
    kept = [row for row in rows if row["amount"] >= config.min_amount]
    context.log.info(f"kept {len(kept)} of {len(rows)} rows (min_amount={config.min_amount})")
    return [
        {**row, "amount_with_tax": round(row["amount"] * (1 + config.tax_rate), 2)} for row in kept
    ]


@op(config_schema={"limit": int, "batch_size": Field(int, default_value=2)})
def load(context: OpExecutionContext, rows: list[dict]) -> dict:
    limit = context.op_config["limit"]
    batch_size = context.op_config["batch_size"]
    loaded = rows[:limit]
    batches = math.ceil(len(loaded) / batch_size)
    context.log.info(f"loading {len(loaded)} rows in {batches} batches of up to {batch_size}")
    return {
        "loaded_ids": [row["id"] for row in loaded],
        "total_with_tax": round(sum(row["amount_with_tax"] for row in loaded), 2),
        "batches": batches,
        "run_id": context.run_id,
    }


@job(executor_def=in_process_executor)
def etl_job():
    load(transform(extract()))

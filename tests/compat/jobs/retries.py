# dagster original: from dagster import Backoff, Failure, Jitter, OpExecutionContext, RetryPolicy,
#     RetryRequested, job, op
"""Retries (policy-driven and requested from user code) and intentional failures."""

from opgraph import (
    Backoff,
    Failure,
    Jitter,
    OpExecutionContext,
    RetryPolicy,
    RetryRequested,
    job,
    op,
)


@op(
    retry_policy=RetryPolicy(
        max_retries=3, delay=0.05, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
    )
)
def fetch_exchange_rates(context: OpExecutionContext) -> dict:
    # The rates API times out on the first two attempts (retry_number 0 and 1).
    if context.retry_number < 2:
        raise ConnectionError(f"rates API timed out on attempt {context.retry_number + 1}")
    return {"attempts": context.retry_number + 1, "rates": {"GBP": 0.86, "USD": 1.08}}


def partner_file_landed(retry_number: int) -> bool:
    """Simulates the partner's file showing up after two polls."""
    return retry_number >= 2


@op
def wait_for_partner_file(context: OpExecutionContext) -> str:
    try:
        if not partner_file_landed(context.retry_number):
            raise FileNotFoundError("partner_orders.csv has not landed yet")
    except FileNotFoundError as exc:
        raise RetryRequested(max_retries=2) from exc
    return f"partner_orders.csv@attempt{context.retry_number + 1}"


@op
def reconcile(context: OpExecutionContext, rates: dict, partner_file: str) -> dict:
    context.log.info(f"reconciling {partner_file} with {len(rates['rates'])} rates")
    return {
        "rate_attempts": rates["attempts"],
        "partner_file": partner_file,
        "currencies": sorted(rates["rates"]),
    }


@job
def flaky_ingest_job():
    reconcile(fetch_exchange_rates(), wait_for_partner_file())


# --- retries that run out ---------------------------------------------------------------------


@op(retry_policy=RetryPolicy(max_retries=2))
def call_decommissioned_api(context: OpExecutionContext) -> dict:
    raise ConnectionRefusedError(f"legacy API refused attempt {context.retry_number + 1}")


@op
def store_response(payload: dict) -> int:
    return len(payload)


@job
def exhausted_retries_job():
    store_response(call_decommissioned_api())


# --- intentional failure ----------------------------------------------------------------------


@op
def load_batch() -> list[dict]:
    return [
        {"id": 1, "amount": 10},
        {"id": 2, "amount": -5},
        {"id": 3, "amount": 7},
        {"id": 4, "amount": -1},
    ]


@op
def validate_batch(context: OpExecutionContext, rows: list[dict]) -> list[dict]:
    bad = [row for row in rows if row["amount"] < 0]
    if bad:
        raise Failure(
            description=f"{len(bad)} rows have negative amounts",
            metadata={"checked_rows": len(rows), "first_bad_id": bad[0]["id"]},
        )
    context.log.info("batch is valid")
    return rows


@op
def publish_batch(rows: list[dict]) -> int:
    return len(rows)


@job
def validation_job():
    publish_batch(validate_batch(load_batch()))

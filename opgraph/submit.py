"""Creating a run from a job file and handing it to the run coordinator."""

from __future__ import annotations

from typing import Any

from opgraph.code_pointer import load_job
from opgraph.instance import OpgraphInstance
from opgraph.plan import ExecutionPlan
from opgraph.run_config import validate_run_config
from opgraph_storage.records import RunRecord


def create_job_run(
    instance: OpgraphInstance,
    code_pointer: dict[str, Any],
    job_name: str | None,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    **run_fields: Any,
) -> RunRecord:
    """Validate the run config (raising RunConfigError) and store a NOT_STARTED run."""
    job = load_job(code_pointer, job_name)
    ExecutionPlan.build(job, validate_run_config(job, run_config))
    return instance.create_run(
        job.name,
        run_config=dict(run_config or {}),
        tags={**job.tags, **(tags or {})},
        code_pointer=code_pointer,
        **run_fields,
    )


def submit_job_run(
    instance: OpgraphInstance,
    code_pointer: dict[str, Any],
    job_name: str | None,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> RunRecord:
    """Validate, create, and submit a run to the configured coordinator."""
    run = create_job_run(instance, code_pointer, job_name, run_config, tags)
    return instance.submit_run(run.run_id)

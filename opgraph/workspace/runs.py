"""Creating runs from a code location, without importing its code here.

A run records the location's name, the code pointer its workers load the job from, and
the location's version at creation: a later reload changes none of these, so runs in
flight keep the code they started with (their pointer), while new runs get the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opgraph.errors import RunConfigError
from opgraph.instance import OpgraphInstance
from opgraph.workspace.base import CodeLocation
from opgraph_storage.records import RunRecord


def create_location_run(
    instance: OpgraphInstance,
    location: CodeLocation,
    job_name: str,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    **run_fields: Any,
) -> RunRecord:
    """Validate through the location (RunConfigError lists every problem), store NOT_STARTED."""
    version = location.status().version
    job = location.job(job_name)  # DefinitionNotFound for an unknown job
    errors = location.validate_run_config(job_name, run_config)
    if errors:
        raise RunConfigError(errors)
    return instance.create_run(
        job.name,
        run_config=dict(run_config or {}),
        tags={**job.tags, **(tags or {})},
        code_pointer=location.code_pointer(job_name),
        location_name=location.name,
        code_version=version,
        **run_fields,
    )


def submit_location_run(
    instance: OpgraphInstance,
    location: CodeLocation,
    job_name: str,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> RunRecord:
    """Create the run, then hand it to the instance's run coordinator."""
    run = create_location_run(instance, location, job_name, run_config, tags)
    return instance.submit_run(run.run_id)

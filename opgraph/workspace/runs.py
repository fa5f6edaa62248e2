"""Creating runs from a code location, without importing its code here.

A run records the location's name, the code pointer its workers load the job from, and
the location's version at creation: a later reload changes none of these, so runs in
flight keep the code they started with (their pointer), while new runs get the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opgraph.client_tags import MAX_TAG_VALUE_BYTES
from opgraph.errors import RunConfigError
from opgraph.instance import OpgraphInstance
from opgraph.op_selection import OP_SELECTION_TAG
from opgraph.workspace.base import CodeLocation
from opgraph_storage.records import RunRecord


def create_location_run(
    instance: OpgraphInstance,
    location: CodeLocation,
    job_name: str,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    op_selection: list[str] | None = None,
    **run_fields: Any,
) -> RunRecord:
    """Validate through the location (RunConfigError lists every problem), store NOT_STARTED.
    With `op_selection` the run executes only those ops (opgraph.op_selection): the
    selection travels in the run's code pointer, so every executor loads the same subset."""
    version = location.version
    job = location.job(job_name)  # DefinitionNotFound for an unknown job
    errors = location.validate_run_config(job_name, run_config, op_selection)
    if errors:
        raise RunConfigError(errors)
    pointer = location.code_pointer(job_name)
    selection_tag = {}
    if op_selection:
        pointer = {**pointer, "op_selection": list(op_selection)}
        # For people (the UI shows tags); cut to fit the tag index: the pointer has it all.
        selection_tag = {OP_SELECTION_TAG: ",".join(op_selection)[: MAX_TAG_VALUE_BYTES // 4]}
    return instance.create_run(
        job.name,
        run_config=dict(run_config or {}),
        tags={**job.tags, **(tags or {}), **selection_tag},
        code_pointer=pointer,
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

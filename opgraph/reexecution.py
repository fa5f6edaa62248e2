"""Re-executing a finished run: all steps, from failure, or selected steps.

The child run records its parent and root; steps it does not run again read their
outputs from the run that made them (walking up the chain of parents).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opgraph.active_execution import ReusedStep
from opgraph.errors import OpgraphError
from opgraph.events import EventType
from opgraph.ports import RUN_WORKER_TAG_PREFIX
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, RunStatus

if TYPE_CHECKING:
    from opgraph.instance import OpgraphInstance
    from opgraph.plan import ExecutionPlan
    from opgraph_storage import Storage

STRATEGY_TAG = "opgraph/reexecution_strategy"
STEP_SELECTION_TAG = "opgraph/step_selection"
PARENT_RUN_ID_TAG = "opgraph/parent_run_id"
ROOT_RUN_ID_TAG = "opgraph/root_run_id"
STRATEGIES = ("FROM_FAILURE", "ALL_STEPS", "SELECTED")
# Tags that describe one attempt and must not be copied to the child run.
_NOT_INHERITED = (RUN_WORKER_TAG_PREFIX, "opgraph/reexecution", "opgraph/step_selection")


def create_reexecution_run(
    instance: OpgraphInstance,
    parent_run_id: str,
    strategy: str,
    step_keys: list[str] | None = None,
    tags: dict[str, str] | None = None,
    run_key: str | None = None,
) -> RunRecord:
    """Store a NOT_STARTED child run of a finished run; submit it like any other run.
    `run_key` (unique in storage) makes a second identical request raise DuplicateRunKey."""
    parent = instance.get_run(parent_run_id)
    if strategy not in STRATEGIES:
        raise OpgraphError(f"re-execution strategy {strategy!r} is not one of {list(STRATEGIES)}")
    if parent.status not in FINISHED_STATUSES:
        raise OpgraphError(
            f"run {parent_run_id} is {parent.status.value}; only finished runs can be re-executed"
        )
    if strategy == "FROM_FAILURE" and parent.status is RunStatus.SUCCESS:
        raise OpgraphError(f"run {parent_run_id} succeeded: there is no failure to re-execute from")
    if strategy == "SELECTED" and not step_keys:
        raise OpgraphError("re-executing selected steps needs at least one step key")
    inherited = {k: v for k, v in parent.tags.items() if not k.startswith(_NOT_INHERITED)}
    root = parent.root_run_id or parent.run_id
    child_tags = {
        **inherited,
        **(tags or {}),
        PARENT_RUN_ID_TAG: parent.run_id,
        ROOT_RUN_ID_TAG: root,
        STRATEGY_TAG: strategy,
    }
    if strategy == "SELECTED":
        child_tags[STEP_SELECTION_TAG] = json.dumps(sorted(step_keys or []))
    return instance.create_run(
        parent.job_name,
        run_config=parent.run_config,
        tags=child_tags,
        code_pointer=parent.code_pointer,
        location_name=parent.location_name,
        code_version=parent.code_version,
        parent_run_id=parent.run_id,
        root_run_id=root,
        run_key=run_key,
    )


def _successes(storage: Storage, run_id: str) -> dict[str, ReusedStep]:
    """The steps that succeeded in one run, with the outputs of their last attempt."""
    kinds = [
        EventType.STEP_START.value,
        EventType.STEP_RESTARTED.value,
        EventType.STEP_OUTPUT.value,
        EventType.STEP_SUCCESS.value,
    ]
    outputs: dict[str, list[tuple[str, Any]]] = {}
    succeeded: dict[str, ReusedStep] = {}
    for event in storage.get_events(run_id, event_types=kinds):
        key = event.step_key or ""
        if event.event_type in kinds[:2]:
            outputs[key] = []
        elif event.event_type == EventType.STEP_OUTPUT.value:
            outputs.setdefault(key, []).append(
                (event.data.get("output_name", "result"), event.data.get("mapping_key"))
            )
        else:
            succeeded[key] = ReusedStep(tuple(outputs.get(key, [])), run_id)
    return succeeded


def _downstream(plan: ExecutionPlan, handles: Iterable[str]) -> set[str]:
    selected = set(handles)
    for handle, op in plan.ops.items():  # topological order: one pass is enough
        if op.upstream_handles & selected:
            selected.add(handle)
    return selected


def reused_steps(storage: Storage, run: RunRecord, plan: ExecutionPlan) -> dict[str, ReusedStep]:
    """Steps of a re-execution that keep their earlier outputs (nearest run wins)."""
    strategy = run.tags.get(STRATEGY_TAG)
    if not run.parent_run_id or strategy in (None, "ALL_STEPS"):
        return {}
    found: dict[str, ReusedStep] = {}
    ancestor_id: str | None = run.parent_run_id
    while ancestor_id:
        ancestor = storage.get_run(ancestor_id)
        if ancestor is None:
            break
        for key, step in _successes(storage, ancestor_id).items():
            found.setdefault(key, step)
        if ancestor.tags.get(STRATEGY_TAG) in (None, "ALL_STEPS"):
            break  # that run ran every step itself
        ancestor_id = ancestor.parent_run_id
    if strategy == "SELECTED":
        chosen = json.loads(run.tags.get(STEP_SELECTION_TAG, "[]"))
        unknown = [k for k in chosen if k.split("[", 1)[0] not in plan.ops]
        if unknown:
            raise OpgraphError(f"steps {unknown} are not in job {run.job_name!r}")
        rerun = _downstream(plan, (k.split("[", 1)[0] for k in chosen))
        found = {k: v for k, v in found.items() if k.split("[", 1)[0] not in rerun}
    return found

"""Running a job from Python: `job.execute_in_process(...)` and `execute_job(...)`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from opgraph.assets.run_results import AssetResultAccessors
from opgraph.errors import OpgraphError, StepExecutionError
from opgraph.events import EventType, RunEvent
from opgraph.execution import execute_run
from opgraph.executors.definitions import load_executor
from opgraph.executors.in_process import InProcessExecutor
from opgraph.instance import OpgraphInstance
from opgraph.plan import ExecutionPlan
from opgraph.resources import InputContext, OutputContext, build_resources
from opgraph.run_config import job_resource_defs, validate_run_config
from opgraph.user_code import running
from opgraph_storage.records import RunStatus


class ExecuteJobResult(AssetResultAccessors):
    """Dagster-style run result: `success`, `run_id`, `all_events`, `output_for_node`, and
    the asset accessors (`asset_value`, `get_asset_materialization_events`, ...)."""

    def __init__(
        self,
        instance: OpgraphInstance,
        job: Any,
        run_id: str,
        output_capture: dict[tuple[str, str, str | None], Any] | None = None,
    ):
        self.instance = instance
        self.job = job
        self.run_id = run_id
        self._captured = output_capture

    @functools.cached_property
    def _events(self) -> list[RunEvent]:
        # Read when first asked for: a caller that only looks at `success` (a benchmark, a
        # script's check) does not read back the whole event log of a 1,000-step run.
        return [RunEvent(e) for e in self.instance.storage.get_events(self.run_id)]

    @property
    def dagster_run(self) -> Any:
        return self.instance.get_run(self.run_id)

    @property
    def run(self) -> Any:
        return self.dagster_run

    @property
    def success(self) -> bool:
        return self.dagster_run.status is RunStatus.SUCCESS

    @property
    def all_events(self) -> list[RunEvent]:
        return list(self._events)

    @property
    def all_node_events(self) -> list[RunEvent]:
        return [e for e in self._events if e.step_key]

    def events_for_node(self, node_name: str) -> list[RunEvent]:
        return [
            e
            for e in self._events
            if e.step_key and (e.step_key == node_name or e.step_key.startswith(node_name + "["))
        ]

    def _load(self, step_key: str, output_name: str, mapping_key: str | None) -> Any:
        if self._captured is not None:
            return self._captured[(step_key, output_name, mapping_key)]
        handle = step_key.split("[", 1)[0]
        op_def = self.job.flat_ops[handle].op_def
        manager_key = op_def.outs[output_name].io_manager_key
        upstream = OutputContext(step_key, output_name, self.run_id, mapping_key, op_def)
        upstream.asset_key, upstream.partition_key = self._asset_of(handle, output_name)
        context = InputContext(output_name, step_key, upstream, op_def)
        resolved = validate_run_config(self.job, self.dagster_run.run_config)
        # The job's location active: an output of one of its classes unpickles as that class.
        with (
            running(self.job),
            build_resources(
                job_resource_defs(self.job), resolved.resource_configs, self.instance, self.run_id
            ) as resources,
        ):
            return resources[manager_key].load_input(context)

    def _asset_of(self, handle: str, output_name: str) -> tuple[Any, str | None]:
        """An asset output is stored by its key (and the run's partition), not by run."""
        from opgraph.assets.step_events import asset_key_for_output
        from opgraph.partitions.assets import run_partition_keys

        key = asset_key_for_output(self.job, handle, output_name)
        if key is None:
            return None, None
        graph = getattr(self.job, "asset_graph", None)
        definition = graph.assets_def_by_key.get(key) if graph is not None else None
        keys = run_partition_keys(
            self.dagster_run.tags, getattr(definition, "partitions_def", None)
        )
        return key, keys[0] if keys is not None and len(keys) == 1 else None

    def output_for_node(self, node_str: str, output_name: str = "result") -> Any:
        """The value an op produced; a dict by mapping key for a mapped or dynamic op."""
        node_str, output_name = resolve_graph_output(self.job, node_str, output_name)
        if node_str not in self.job.flat_ops:
            raise OpgraphError(
                f"no op {node_str!r} in job {self.job.name!r}; ops are {sorted(self.job.flat_ops)}"
            )
        outputs = [
            e.record
            for e in self._events
            if e.event_type_value == EventType.STEP_OUTPUT.value
            and e.step_key is not None
            and e.step_key.split("[", 1)[0] == node_str
            and e.record.data.get("output_name") == output_name
        ]
        if not outputs:
            raise OpgraphError(
                f"op {node_str!r} did not produce output {output_name!r} in this run"
            )
        is_mapped = self.job.flat_ops[node_str].dynamic_source is not None
        is_dynamic = self.job.flat_ops[node_str].op_def.outs[output_name].is_dynamic
        if is_mapped:
            keys = [e.step_key for e in outputs if e.step_key is not None]
            return {k.split("[", 1)[1][:-1]: self._load(k, output_name, None) for k in keys}
        if is_dynamic:
            return {
                e.data["mapping_key"]: self._load(node_str, output_name, e.data["mapping_key"])
                for e in outputs
            }
        return self._load(node_str, output_name, None)

    def output_value(self, output_name: str = "result") -> Any:
        raise OpgraphError("output_value needs a graph-level output; use output_for_node")


def resolve_graph_output(job: Any, node_str: str, output_name: str) -> tuple[str, str]:
    """Follow a graph node's output mapping down to the op that produces it."""
    from opgraph.definitions.graph import GraphDefinition

    graph, prefix = job.graph, ""
    parts = node_str.split(".")
    for depth, part in enumerate(parts):
        node = graph.nodes.get(part)
        if node is None or not isinstance(node.definition, GraphDefinition):
            return node_str, output_name
        graph, prefix = node.definition, f"{prefix}{part}."
        if depth == len(parts) - 1:
            while True:
                inner, output_name = graph.output_mappings[output_name]
                definition = graph.nodes[inner].definition
                if not isinstance(definition, GraphDefinition):
                    return f"{prefix}{inner}", output_name
                graph, prefix = definition, f"{prefix}{inner}."
    return node_str, output_name


def execute_in_process(
    job: Any,
    run_config: Mapping[str, Any] | None = None,
    instance: OpgraphInstance | None = None,
    raise_on_error: bool = True,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> ExecuteJobResult:
    """Run every op in this process, outputs kept in memory (Dagster's execute_in_process)."""
    instance = instance or OpgraphInstance.ephemeral()
    resolved = validate_run_config(job, run_config, in_process=True)  # before any run exists
    plan = ExecutionPlan.build(job, resolved)
    run = instance.create_run(
        job.name,
        run_config=dict(run_config or {}),
        tags={**job.tags, **(tags or {})},
        run_id=run_id,
    )
    executor = InProcessExecutor(capture_outputs=True)
    ctx = execute_run(instance, run, job, plan, executor, in_process=True)
    result = ExecuteJobResult(instance, job, run.run_id, executor.output_capture)
    if raise_on_error and not result.success:
        if ctx.user_exceptions:
            raise ctx.user_exceptions[0]
        failures = [e.message for e in result.all_events if e.is_failure]
        raise StepExecutionError("; ".join(failures) or f"run {run.run_id} failed")
    return result


def execute_job(
    job: Any,
    instance: OpgraphInstance,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = False,
    op_selection: list[str] | None = None,
) -> ExecuteJobResult:
    """Run a `reconstructable(job)` in this process with its configured executor."""
    from opgraph.code_pointer import ReconstructableJob

    if not isinstance(job, ReconstructableJob):
        raise OpgraphError(
            "execute_job takes reconstructable(job); use job.execute_in_process otherwise"
        )
    if op_selection:
        job = job.get_subset(op_selection)
    definition = job.get_definition()
    resolved = validate_run_config(definition, run_config)
    plan = ExecutionPlan.build(definition, resolved)
    run = instance.create_run(
        definition.name,
        run_config=dict(run_config or {}),
        tags={**definition.tags, **(tags or {})},
        code_pointer=dict(job.pointer),
    )
    executor = load_executor(resolved.executor_class, resolved.executor_config)
    ctx = execute_run(instance, run, definition, plan, executor)
    result = ExecuteJobResult(instance, definition, run.run_id)
    if raise_on_error and not result.success:
        cause = ctx.user_exceptions[0] if ctx.user_exceptions else None
        raise StepExecutionError(f"run {run.run_id} failed") from cause
    return result

"""@graph, @job, GraphDefinition and JobDefinition."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opgraph.definitions.composition import (
    FromGraphInput,
    FromMany,
    InvokedDynamicOutput,
    InvokedOutput,
    Node,
    run_composition,
)
from opgraph.definitions.io import Out
from opgraph.errors import DefinitionError


class GraphDefinition:
    def __init__(
        self,
        name: str,
        nodes: Mapping[str, Node],
        input_names: list[str],
        output_mappings: Mapping[str, tuple[str, str]],
        description: str | None = None,
    ):
        self.name = name
        self.nodes = dict(nodes)
        self.input_names = input_names
        self.output_mappings = dict(output_mappings)
        self.description = description
        self._check_inputs_used()

    def _check_inputs_used(self) -> None:
        used: set[str] = set()
        for node in self.nodes.values():
            for source in node.inputs.values():
                sources = source.sources if isinstance(source, FromMany) else (source,)
                used.update(s.name for s in sources if isinstance(s, FromGraphInput))
        unused = [name for name in self.input_names if name not in used]
        if unused:
            raise DefinitionError(f"graph {self.name!r}: inputs {unused} are not passed to any op")

    @property
    def output_defs_by_name(self) -> dict[str, Out]:
        defs = {}
        for out_name, (node_name, node_output) in self.output_mappings.items():
            inner = self.nodes[node_name].definition.output_defs_by_name[node_output]
            defs[out_name] = inner
        return defs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from opgraph.definitions.composition import current_composition

        composition = current_composition()
        if composition is None:
            raise DefinitionError(f"graph {self.name!r} can only be called inside a job or graph")
        return composition.add_node(self, self.name, args, kwargs)

    def alias(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            from opgraph.definitions.composition import current_composition

            composition = current_composition()
            if composition is None:
                raise DefinitionError(f"{self.name}.alias(...) can only be called in a job/graph")
            return composition.add_node(self, name, args, kwargs)

        return call

    def to_job(self, name: str | None = None, **kwargs: Any) -> JobDefinition:
        return JobDefinition(graph=self, name=name or self.name, **kwargs)

    def __repr__(self) -> str:
        return f"<graph {self.name}>"


def _output_mappings(returned: Any, owner: str) -> dict[str, tuple[str, str]]:
    def handle(value: Any, key: str) -> tuple[str, str]:
        if isinstance(value, InvokedOutput) and not value.per_item:
            return (value.node, value.output)
        if isinstance(value, InvokedDynamicOutput):
            raise DefinitionError(
                f"{owner}: returning a dynamic output from a graph is not supported"
            )
        raise DefinitionError(
            f"{owner}: output {key!r} must be the output of an op in the graph, got {value!r}"
        )

    if returned is None:
        return {}
    if isinstance(returned, dict):
        return {key: handle(value, key) for key, value in returned.items()}
    if isinstance(returned, tuple) and hasattr(returned, "_fields"):
        return {key: handle(getattr(returned, key), key) for key in returned._fields}
    return {"result": handle(returned, "result")}


def build_graph(
    fn: Callable[..., Any], name: str | None, description: str | None
) -> GraphDefinition:
    graph_name = name or fn.__name__
    nodes, returned, params = run_composition(fn, f"graph {graph_name!r}")
    return GraphDefinition(
        name=graph_name,
        nodes=nodes,
        input_names=params,
        output_mappings=_output_mappings(returned, f"graph {graph_name!r}"),
        description=description or inspect.getdoc(fn),
    )


def graph(
    compose_fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    ins: Mapping[str, Any] | None = None,
    out: Any = None,
) -> Any:
    """Dagster's `@graph`: a reusable piece of an op graph with inputs and outputs."""

    def decorator(fn: Callable[..., Any]) -> GraphDefinition:
        return build_graph(fn, name, description)

    return decorator(compose_fn) if compose_fn is not None else decorator


class JobDefinition:
    def __init__(
        self,
        graph: GraphDefinition,
        name: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        config: Any = None,  # a run config dict, or a PartitionedConfig
        resource_defs: Mapping[str, Any] | None = None,
        executor_def: Any = None,
        metadata: Mapping[str, Any] | None = None,
        hooks: Iterable[Any] | None = None,
        partitions_def: Any = None,
    ):
        if graph.input_names:
            raise DefinitionError(f"job {name!r} cannot take inputs: {graph.input_names}")
        self.graph = graph
        self.name = name
        self.description = description
        self.tags = {k: str(v) for k, v in (tags or {}).items()}
        from opgraph.partitions.config import PartitionedConfig

        # A PartitionedConfig computes each partition's run config when its run is made.
        self.partitioned_config = config if isinstance(config, PartitionedConfig) else None
        self.default_run_config = {} if self.partitioned_config else dict(config or {})
        if self.partitioned_config is not None:
            if (
                partitions_def is not None
                and partitions_def != self.partitioned_config.partitions_def
            ):
                raise DefinitionError(
                    f"job {name!r}: partitions_def differs from its partitioned config's; "
                    "give one of them"
                )
            partitions_def = self.partitioned_config.partitions_def
        self.partitions_def = partitions_def
        self.resource_defs = dict(resource_defs or {})
        self.executor_def = executor_def
        self.metadata = dict(metadata or {})
        self.hook_defs = frozenset(hooks or ())  # opgraph.hooks.HookDefinition, run per step
        # Filled in by @job/@graph so reconstructable() can find the defining module.
        self.defining_module: str | None = None
        self.defining_file: str | None = None
        from opgraph.plan import flatten_graph  # validates the graph eagerly

        self.flat_ops = flatten_graph(self.graph)
        self.op_selection: tuple[str, ...] | None = None  # set by get_subset

    def get_subset(self, op_selection: Iterable[str]) -> JobDefinition:
        """A copy that runs only the selected ops (Dagster's op_selection; see
        opgraph.op_selection for the clause syntax)."""
        from opgraph.op_selection import subset_job

        return subset_job(self, list(op_selection))

    def with_resources(self, resource_defs: Mapping[str, Any]) -> JobDefinition:
        """A copy with extra resources (Definitions binds its resources this way)."""
        merged = {**resource_defs, **self.resource_defs}
        job = JobDefinition(
            self.graph,
            self.name,
            self.description,
            self.tags,
            self.partitioned_config or self.default_run_config,
            merged,
            self.executor_def,
            self.metadata,
            self.hook_defs,
            self.partitions_def,
        )
        job.defining_module, job.defining_file = self.defining_module, self.defining_file
        return job.get_subset(self.op_selection) if self.op_selection else job

    def with_hooks(self, hooks: Iterable[Any]) -> JobDefinition:
        """A copy that also runs these hooks (Dagster's `job.with_hooks`)."""
        job = self.with_resources({})
        job.hook_defs = self.hook_defs | frozenset(hooks)
        return job

    def execute_in_process(
        self,
        run_config: Mapping[str, Any] | None = None,
        instance: Any = None,
        raise_on_error: bool = True,
        tags: Mapping[str, str] | None = None,
        run_id: str | None = None,
        resources: Mapping[str, Any] | None = None,
        op_selection: Iterable[str] | None = None,
        partition_key: str | None = None,
    ) -> Any:
        from opgraph.execute import execute_in_process

        job = self.with_resources(resources) if resources else self
        job = job.get_subset(op_selection) if op_selection else job
        if partition_key is not None:
            from opgraph.partitions.runs import partition_run

            run_config, tags = partition_run(
                job, partition_key, run_config, tags, dynamic_partitions_store=instance
            )
        return execute_in_process(
            job,
            run_config=run_config,
            instance=instance,
            raise_on_error=raise_on_error,
            tags=tags,
            run_id=run_id,
        )

    def __repr__(self) -> str:
        return f"<job {self.name}>"


def _caller_location(depth: int = 2) -> tuple[str | None, str | None]:
    frame = inspect.stack()[depth].frame
    return frame.f_globals.get("__name__"), frame.f_globals.get("__file__")


def job(
    compose_fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    config: Any = None,  # a run config dict, or a PartitionedConfig
    resource_defs: Mapping[str, Any] | None = None,
    executor_def: Any = None,
    metadata: Mapping[str, Any] | None = None,
    hooks: Iterable[Any] | None = None,
    partitions_def: Any = None,
) -> Any:
    """Dagster's `@job`: an op graph that can be run."""

    def decorator(fn: Callable[..., Any]) -> JobDefinition:
        job_name = name or fn.__name__
        built = build_graph(fn, job_name, description)
        job_def = JobDefinition(
            built,
            job_name,
            built.description,
            tags,
            config,
            resource_defs,
            executor_def,
            metadata,
            hooks,
            partitions_def,
        )
        job_def.defining_module = fn.__module__
        job_def.defining_file = inspect.getsourcefile(fn)
        return job_def

    return decorator(compose_fn) if compose_fn is not None else decorator

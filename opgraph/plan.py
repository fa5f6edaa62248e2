"""The execution plan: a job's op graph flattened into step templates.

The plan is immutable. Steps downstream of a DynamicOut are templates until the dynamic
step has run; the active execution (active_execution.py) expands them into concrete
steps keyed `handle[mapping_key]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from opgraph.definitions.composition import (
    FromCollect,
    FromGraphInput,
    FromItem,
    FromMany,
    FromOutput,
    InputSource,
)
from opgraph.errors import DefinitionError

if TYPE_CHECKING:
    from opgraph.definitions.graph import GraphDefinition, JobDefinition
    from opgraph.definitions.op import OpDefinition
    from opgraph.run_config import ResolvedRunConfig


# -- flattened sources: handles are dotted paths through nested graphs -------------------
@dataclass(frozen=True)
class FlatOutput:
    handle: str
    output: str


@dataclass(frozen=True)
class FlatItem:
    handle: str
    output: str


@dataclass(frozen=True)
class FlatCollect:
    handle: str
    output: str


@dataclass(frozen=True)
class FlatMany:
    sources: tuple[FlatOutput, ...]


FlatSource = FlatOutput | FlatItem | FlatCollect | FlatMany


@dataclass
class FlatOp:
    handle: str
    op_def: OpDefinition
    inputs: dict[str, FlatSource] = field(default_factory=dict)
    # (handle, output) of the DynamicOut this op is mapped over, if any
    dynamic_source: tuple[str, str] | None = None

    @property
    def upstream_handles(self) -> set[str]:
        handles: set[str] = set()
        for source in self.inputs.values():
            if isinstance(source, FlatMany):
                handles.update(s.handle for s in source.sources)
            else:
                handles.add(source.handle)
        return handles


def _resolve_output(graph: GraphDefinition, prefix: str, node: str, output: str) -> tuple[str, str]:
    from opgraph.definitions.graph import GraphDefinition

    definition = graph.nodes[node].definition
    if isinstance(definition, GraphDefinition):
        inner_node, inner_output = definition.output_mappings[output]
        return _resolve_output(definition, f"{prefix}{node}.", inner_node, inner_output)
    return f"{prefix}{node}", output


def _flatten_source(
    graph: GraphDefinition, prefix: str, source: InputSource, graph_inputs: dict[str, Any]
) -> FlatSource | None:
    if isinstance(source, FromGraphInput):
        return graph_inputs.get(source.name)
    if isinstance(source, FromMany):
        flat = [_flatten_source(graph, prefix, s, graph_inputs) for s in source.sources]
        if not all(isinstance(s, FlatOutput) for s in flat):
            raise DefinitionError(f"fan-in inputs must be plain outputs ({prefix or 'job'})")
        return FlatMany(tuple(flat))  # type: ignore[arg-type]
    handle, output = _resolve_output(graph, prefix, source.node, source.output)
    if isinstance(source, FromItem):
        return FlatItem(handle, output)
    if isinstance(source, FromCollect):
        return FlatCollect(handle, output)
    assert isinstance(source, FromOutput)
    return FlatOutput(handle, output)


def _flatten_into(
    graph: GraphDefinition, prefix: str, graph_inputs: dict[str, Any], into: dict[str, FlatOp]
) -> None:
    from opgraph.definitions.graph import GraphDefinition

    for node in graph.nodes.values():
        sources = {
            name: _flatten_source(graph, prefix, source, graph_inputs)
            for name, source in node.inputs.items()
        }
        if isinstance(node.definition, GraphDefinition):
            _flatten_into(node.definition, f"{prefix}{node.name}.", sources, into)
        else:
            flat = FlatOp(f"{prefix}{node.name}", node.definition)
            flat.inputs = {k: v for k, v in sources.items() if v is not None}
            into[flat.handle] = flat


def _topological(ops: dict[str, FlatOp]) -> list[str]:
    sorter = TopologicalSorter({h: op.upstream_handles for h, op in ops.items()})
    try:
        return list(sorter.static_order())
    except CycleError as exc:
        raise DefinitionError(f"the op graph has a cycle: {' -> '.join(exc.args[1])}") from exc


def _assign_mapping(ops: dict[str, FlatOp], order: list[str]) -> None:
    """Mark ops mapped over a dynamic output; a mapped op's plain consumers are mapped too."""
    for handle in order:
        op = ops[handle]
        sources: set[tuple[str, str]] = set()
        for name, source in list(op.inputs.items()):
            if isinstance(source, FlatOutput) and ops[source.handle].dynamic_source:
                source = FlatItem(source.handle, source.output)
                op.inputs[name] = source
            if isinstance(source, FlatItem):
                upstream = ops[source.handle]
                if upstream.dynamic_source:
                    sources.add(upstream.dynamic_source)
                elif upstream.op_def.outs[source.output].is_dynamic:
                    sources.add((source.handle, source.output))
                else:
                    raise DefinitionError(f"{handle}: {source.handle} has no dynamic output")
            if isinstance(source, FlatCollect):
                upstream = ops[source.handle]
                if not (upstream.dynamic_source or upstream.op_def.outs[source.output].is_dynamic):
                    raise DefinitionError(f"{handle}: .collect() of a non-dynamic output")
            if (
                isinstance(source, FlatOutput)
                and ops[source.handle].op_def.outs[source.output].is_dynamic
            ):
                raise DefinitionError(
                    f"{handle}: the dynamic output {source.handle}.{source.output} must go "
                    "through .map(...) or .collect()"
                )
        if len(sources) > 1:
            raise DefinitionError(f"{handle} is mapped over more than one dynamic output")
        op.dynamic_source = next(iter(sources), None)


def flatten_graph(graph: GraphDefinition) -> dict[str, FlatOp]:
    """All ops of a job's graph, nested graphs inlined, in topological order."""
    ops: dict[str, FlatOp] = {}
    _flatten_into(graph, "", {}, ops)
    order = _topological(ops)
    _assign_mapping(ops, order)
    return {handle: ops[handle] for handle in order}


@dataclass(frozen=True)
class ExecutionPlan:
    job: JobDefinition
    run_config: ResolvedRunConfig
    ops: dict[str, FlatOp]

    @classmethod
    def build(cls, job: JobDefinition, run_config: ResolvedRunConfig) -> ExecutionPlan:
        plan = cls(job, run_config, job.flat_ops)
        plan._check_inputs()
        return plan

    def _check_inputs(self) -> None:
        from opgraph.assets.step_events import asset_key_for_input

        problems = []
        for op in self.ops.values():
            for name, spec in op.op_def.ins.items():
                if name in op.inputs or spec.has_default or spec.is_nothing:
                    continue
                if self.run_config.input_value(op.handle, name) is not None:
                    continue
                if asset_key_for_input(self.job, op.handle, name) is not None:
                    continue  # an asset input: its latest value is loaded from storage
                problems.append(
                    f"ops.{op.handle}.inputs.{name}: input {name!r} of op {op.handle!r} is not "
                    "connected to an upstream output and has no default; give it in run config"
                )
        if problems:
            from opgraph.errors import RunConfigError

            raise RunConfigError(problems)

    def to_snapshot(self) -> dict[str, Any]:
        """A JSON-able description of the op graph (for UIs and code servers)."""
        return {
            "job_name": self.job.name,
            "ops": [
                {
                    "handle": op.handle,
                    "op": op.op_def.name,
                    "inputs": {k: _source_json(v) for k, v in op.inputs.items()},
                    "outputs": list(op.op_def.outs),
                    "mapped_over": list(op.dynamic_source) if op.dynamic_source else None,
                    "tags": op.op_def.tags,
                }
                for op in self.ops.values()
            ],
        }


def _source_json(source: FlatSource) -> Any:
    if isinstance(source, FlatMany):
        return [_source_json(s) for s in source.sources]
    return {
        "kind": type(source).__name__[4:].lower(),
        "handle": source.handle,
        "output": source.output,
    }

"""@graph_asset and @graph_multi_asset: assets computed by a graph of ops."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opgraph.assets.definition import AssetAttributes, AssetsDefinition, dep_input_name
from opgraph.assets.keys import AssetKey, to_asset_key
from opgraph.assets.partitioning import set_partitioning
from opgraph.assets.specs import AssetIn, AssetOut, dep_partition_mappings, to_asset_keys
from opgraph.definitions.composition import (
    FromCollect,
    FromGraphInput,
    FromItem,
    FromMany,
    FromOutput,
    InputSource,
    Node,
)
from opgraph.definitions.graph import GraphDefinition, build_graph
from opgraph.definitions.io import In, Nothing
from opgraph.definitions.op import OpDefinition
from opgraph.errors import DefinitionError

_FROM_NODE = (FromOutput, FromItem, FromCollect)


def _sources(source: InputSource) -> tuple[InputSource, ...]:
    return source.sources if isinstance(source, FromMany) else (source,)


def _is_entry(node: Node) -> bool:
    """A node that takes nothing from another node of its graph: it can start first."""
    return all(isinstance(s, FromGraphInput) for src in node.inputs.values() for s in _sources(src))


def _after_deps(graph_def: GraphDefinition, deps: list[AssetKey], owner: str) -> GraphDefinition:
    """The graph with one Nothing input per `deps=` key, which every entry op waits for:
    the whole graph runs after those assets (when they are in the same run)."""
    names = [dep_input_name(key) for key in deps]
    nodes: dict[str, Node] = {}
    for node_name, node in graph_def.nodes.items():
        if not _is_entry(node):
            nodes[node_name] = node
            continue
        op_def = node.definition
        if not isinstance(op_def, OpDefinition):
            raise DefinitionError(
                f"graph asset {owner!r}: deps= orders the graph's first ops, and {node_name!r} "
                "is a graph; pass the upstream asset as an input instead "
                "(ins={'name': AssetIn(key=..., dagster_type=Nothing)})"
            )
        waiting = op_def.with_name(op_def.name)
        waiting.ins = {**op_def.ins, **{n: In(Nothing) for n in names}}
        for attribute in ("user_fn", "user_takes_context"):
            if hasattr(op_def, attribute):
                setattr(waiting, attribute, getattr(op_def, attribute))
        inputs = {**node.inputs, **{n: FromGraphInput(n) for n in names}}
        nodes[node_name] = Node(node_name, waiting, inputs, node.is_mapped)
    return GraphDefinition(
        graph_def.name,
        nodes,
        [*graph_def.input_names, *names],
        graph_def.output_mappings,
        graph_def.description,
    )


def graph_subset(graph_def: GraphDefinition, output_names: Iterable[str]) -> GraphDefinition:
    """The part of the graph that computes `output_names` (Dagster's subsetting of a
    graph-backed multi-asset): ops no selected output depends on are left out."""
    mappings = {name: graph_def.output_mappings[name] for name in output_names}
    needed: set[str] = set()
    stack = [node for node, _ in mappings.values()]
    while stack:
        node_name = stack.pop()
        if node_name in needed:
            continue
        needed.add(node_name)
        for source in graph_def.nodes[node_name].inputs.values():
            stack.extend(s.node for s in _sources(source) if isinstance(s, _FROM_NODE))
    nodes = {n: node for n, node in graph_def.nodes.items() if n in needed}
    used = {
        s.name
        for node in nodes.values()
        for source in node.inputs.values()
        for s in _sources(source)
        if isinstance(s, FromGraphInput)
    }
    inputs = [name for name in graph_def.input_names if name in used]
    return GraphDefinition(graph_def.name, nodes, inputs, mappings, graph_def.description)


def _graph_assets(
    fn: Callable[..., Any],
    name: str,
    ins: Mapping[str, AssetIn],
    outs: Mapping[str, tuple[AssetKey, AssetAttributes]],
    deps: Iterable[Any],
    description: str | None,
    can_subset: bool = False,
    partitions_def: Any = None,
    backfill_policy: Any = None,
) -> AssetsDefinition:
    graph_def = build_graph(fn, name, description)
    missing = set(outs) - set(graph_def.output_mappings)
    if missing:
        raise DefinitionError(
            f"graph asset {name!r}: outputs {sorted(missing)} are not returned by the graph "
            f"(it returns {sorted(graph_def.output_mappings)})"
        )
    keys_by_input = {p: ins.get(p, AssetIn()).resolve_key(p) for p in graph_def.input_names}
    dep_keys = [k for k in dict.fromkeys(to_asset_keys(deps)) if k not in keys_by_input.values()]
    if dep_keys:
        graph_def = _after_deps(graph_def, dep_keys, name)
        keys_by_input.update({dep_input_name(k): k for k in dep_keys})
    upstream = set(keys_by_input.values())
    assets_def = AssetsDefinition(
        node_def=graph_def,
        keys_by_output_name={out: key for out, (key, _) in outs.items()},
        keys_by_input_name=keys_by_input,
        deps_by_key={key: upstream for key, _ in outs.values()},
        attributes_by_key={key: attrs for key, attrs in outs.values()},
        can_subset=can_subset,
    )
    set_partitioning(assets_def, partitions_def, ins, backfill_policy, dep_partition_mappings(deps))
    return assets_def


def graph_asset(
    compose_fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    key: Any = None,
    key_prefix: str | Sequence[str] | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    deps: Iterable[Any] | None = None,
    description: str | None = None,
    group_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    kinds: set[str] | None = None,
    owners: Sequence[str] | None = None,
    code_version: str | None = None,
    partitions_def: Any = None,
    backfill_policy: Any = None,
    automation_condition: Any = None,
) -> Any:
    """Dagster's `@graph_asset`: one asset computed by the ops its function composes."""

    def decorator(fn: Callable[..., Any]) -> AssetsDefinition:
        base = to_asset_key(key) if key is not None else AssetKey([name or fn.__name__])
        asset_key = base.with_prefix(key_prefix) if key_prefix else base
        desc = description or inspect.getdoc(fn)
        attrs = AssetAttributes.build(
            description=desc,
            group_name=group_name,
            metadata=metadata,
            tags=tags,
            kinds=kinds,
            owners=owners,
            code_version=code_version,
            automation_condition=automation_condition,
        )
        graph_name = name or fn.__name__
        return _graph_assets(
            fn,
            graph_name,
            ins or {},
            {"result": (asset_key, attrs)},
            deps or (),
            desc,
            partitions_def=partitions_def,
            backfill_policy=backfill_policy,
        )

    return decorator(compose_fn) if compose_fn is not None else decorator


def graph_multi_asset(
    *,
    outs: Mapping[str, AssetOut],
    name: str | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    can_subset: bool = False,
    partitions_def: Any = None,
    backfill_policy: Any = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """Dagster's `@graph_multi_asset`: the graph returns a dict, one output per asset.
    With can_subset=True a run may select some of the assets: it runs only the ops those
    need."""

    def decorator(fn: Callable[..., Any]) -> AssetsDefinition:
        resolved = {
            out_name: (asset_out.resolve_key(out_name), AssetAttributes.of(asset_out, group_name))
            for out_name, asset_out in outs.items()
        }
        graph_name = name or fn.__name__
        return _graph_assets(
            fn,
            graph_name,
            ins or {},
            resolved,
            (),
            description,
            can_subset=can_subset,
            partitions_def=partitions_def,
            backfill_policy=backfill_policy,
        )

    return decorator

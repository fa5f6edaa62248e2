"""Asset jobs: a selection of assets (and their checks) compiled to an ordinary op graph,
so the plan, the executors and re-execution treat it like any job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.assets.asset_graph import AssetGraph
from opgraph.assets.definition import AssetsDefinition, dep_input_name
from opgraph.assets.keys import AssetCheckKey, AssetKey
from opgraph.assets.layer import AssetLayer
from opgraph.assets.selection import AssetSelection, to_selection
from opgraph.definitions.composition import FromGraphInput, FromOutput, InputSource, Node
from opgraph.definitions.graph import GraphDefinition, JobDefinition
from opgraph.definitions.io import In, Nothing
from opgraph.definitions.op import OpDefinition
from opgraph.errors import DefinitionError

ASSET_JOB_NAME = "__ASSET_JOB"


def is_hidden_job_name(name: str) -> bool:
    """The implicit asset job and its subsets (`__ASSET_JOB[a,b]`) are left out of job
    lists, as Dagster's UI leaves them out; they stay launchable by name."""
    return name.startswith(ASSET_JOB_NAME)


class AssetJobDefinition(JobDefinition):
    """A JobDefinition that knows its asset layer (kept across with_resources)."""

    asset_layer: AssetLayer
    asset_graph: AssetGraph

    def with_resources(self, resource_defs: Mapping[str, Any]) -> AssetJobDefinition:
        job = super().with_resources(resource_defs)
        job.__class__ = AssetJobDefinition
        job.asset_layer = self.asset_layer  # type: ignore[attr-defined]
        job.asset_graph = self.asset_graph  # type: ignore[attr-defined]
        return job  # type: ignore[return-value]


class UnresolvedAssetJobDefinition:
    """What `define_asset_job` returns: a name and a selection, compiled by Definitions."""

    def __init__(
        self,
        name: str,
        selection: Any,
        config: Mapping[str, Any] | None,
        tags: Mapping[str, Any] | None,
        description: str | None,
        executor_def: Any,
        metadata: Mapping[str, Any] | None = None,
        partitions_def: Any = None,
    ):
        self.name = name
        self.partitions_def = partitions_def  # None: the selected assets' (one) definition
        self.selection = to_selection(selection)
        self.config = config
        self.tags = dict(tags or {})
        self.description = description
        self.executor_def = executor_def
        self.metadata = dict(metadata or {})

    def resolve(self, graph: AssetGraph, resources: Mapping[str, Any]) -> AssetJobDefinition:
        return build_asset_job(
            self.name,
            graph,
            self.selection.resolve(graph),
            resources=resources,
            config=self.config,
            tags=self.tags,
            description=self.description,
            executor_def=self.executor_def,
            partitions_def=self.partitions_def,
        )

    def __repr__(self) -> str:
        return f"<asset job {self.name} ({self.selection})>"


def define_asset_job(
    name: str,
    selection: Any = None,
    config: Mapping[str, Any] | None = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    executor_def: Any = None,
    metadata: Mapping[str, Any] | None = None,
    partitions_def: Any = None,
) -> UnresolvedAssetJobDefinition:
    """Dagster's `define_asset_job`: a job of the assets `selection` picks (all by default)."""
    return UnresolvedAssetJobDefinition(
        name, selection, config, tags, description, executor_def, metadata, partitions_def
    )


def subset_job_name(
    job_name: str, keys: Iterable[AssetKey], checks: Iterable[AssetCheckKey] | None = None
) -> str:
    """The name a run of part of an asset job is recorded under; every process resolves it
    back to the same compiled subset: `job[a~b,c]` for keys a/b and c (no '/', so the
    name is one segment of a code server's URL). With `checks` (Dagster's
    assetCheckSelection) the checks follow a ';': `job[a~b,c;a~b:not_empty]`; without,
    the selected assets' checks run."""
    names = ",".join(sorted("~".join(k.path) for k in keys))
    if checks is None:
        return f"{job_name}[{names}]"
    check_names = sorted(f"{'~'.join(c.asset_key.path)}:{c.name}" for c in checks)
    return f"{job_name}[{names};{','.join(check_names)}]"


def parse_subset_job_name(
    name: str,
) -> tuple[str, list[AssetKey], list[AssetCheckKey] | None] | None:
    if not name.endswith("]") or "[" not in name:
        return None
    base, _, inner = name[:-1].partition("[")
    key_part, has_checks, check_part = inner.partition(";")
    keys = [AssetKey(k.split("~")) for k in key_part.split(",") if k]
    if not has_checks:
        return base, keys, None
    checks = []
    for text in check_part.split(","):
        if text:
            key_text, _, check_name = text.rpartition(":")
            checks.append(AssetCheckKey(AssetKey(key_text.split("~")), check_name))
    return base, keys, checks


def _job_op(op_def: OpDefinition, assets_def: AssetsDefinition, extra_ins: Iterable[str]) -> Any:
    """The op as this job runs it: only the selected outputs, plus Nothing inputs that wait
    for blocking checks."""
    keep = {
        name
        for name, out in op_def.outs.items()
        if (name not in assets_def.keys_by_output_name)
        or assets_def.keys_by_output_name[name] in assets_def.keys
    }
    extra = list(extra_ins)
    if keep == set(op_def.outs) and not extra:
        copy = op_def
    else:
        copy = op_def.with_name(op_def.name)
        copy.outs = {n: o for n, o in op_def.outs.items() if n in keep}
        copy.ins = {**op_def.ins, **{n: In(Nothing) for n in extra}}
        copy.user_fn = op_def.user_fn  # type: ignore[attr-defined]
        copy.user_takes_context = op_def.user_takes_context  # type: ignore[attr-defined]
    copy.assets_def = assets_def  # type: ignore[attr-defined]
    return copy


def build_asset_job(
    name: str,
    graph: AssetGraph,
    keys: set[AssetKey],
    *,
    check_keys: set[AssetCheckKey] | None = None,
    resources: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    executor_def: Any = None,
    partitions_def: Any = None,
) -> AssetJobDefinition:
    not_materializable = sorted(k.to_user_string() for k in keys - graph.materializable_keys)
    keys = keys & graph.materializable_keys
    del not_materializable  # external assets in a selection are simply not run
    if check_keys is None:  # the checks of the selected assets come along
        check_keys = {ck for ck in graph.check_specs if ck.asset_key in keys}
    # Each definition, cut down to the selected keys (an error for a non-subsettable one).
    selected: list[AssetsDefinition] = []
    for definition in graph.assets_defs:
        wanted = set(definition.keys) & keys
        if wanted:
            selected.append(definition.subset(wanted))
    for definition in graph.checks_defs:
        if definition.check_keys & check_keys:
            selected.append(definition)
    producer: dict[AssetKey, tuple[str, str]] = {}
    check_producer: dict[AssetCheckKey, tuple[str, str]] = {}
    names: dict[str, AssetsDefinition] = {}
    for definition in selected:
        node_name = definition.node_name
        if node_name in names:
            raise DefinitionError(
                f"asset job {name!r}: {names[node_name]!r} and {definition!r} are both op "
                f"{node_name!r}; give one a different name="
            )
        names[node_name] = definition
        for out_name, key in definition.keys_by_output_name.items():
            if key in definition.keys:
                producer[key] = (node_name, out_name)
        for out_name, spec in definition.check_specs_by_output_name.items():
            check_producer[spec.key] = (node_name, out_name)
    blocking = {
        ck: src
        for ck, src in check_producer.items()
        if graph.check_specs[ck].blocking and ck in check_keys
    }
    layer = AssetLayer(
        selected_keys=frozenset(keys), selected_checks=frozenset(check_keys), assets_by_node=names
    )
    nodes: dict[str, Node] = {}
    for definition in selected:
        node_name = definition.node_name
        inputs: dict[str, InputSource] = {}
        for input_name, key in definition.keys_by_input_name.items():
            if key in producer and producer[key][0] != node_name:
                inputs[input_name] = FromOutput(*producer[key])
        # Blocking checks of upstream assets (not this definition's own) gate this node.
        extra: dict[str, InputSource] = {}
        own_checks = set(definition.check_keys)
        for ck, (check_node, check_out) in blocking.items():
            if ck in own_checks or check_node == node_name:
                continue
            if ck.asset_key in definition.keys_by_input_name.values():
                extra["blocking__" + check_out] = FromOutput(check_node, check_out)
        node_def = definition.node_def
        if isinstance(node_def, OpDefinition):
            node_def = _job_op(node_def, definition, extra)
            inputs.update(extra)
        nodes[node_name] = Node(node_name, node_def, inputs)
        _record_layer(layer, definition, node_name, node_def, inputs)
    for definition in selected:
        for key in definition.keys:
            layer.code_versions[key] = definition.attributes_by_key[key].code_version
            layer.upstream_keys[key] = definition.deps_by_key.get(key, frozenset())
    for ck, spec in graph.check_specs.items():
        layer.check_severity_blocking[ck] = spec.blocking
    from opgraph.partitions.assets import job_partitions_def

    job = AssetJobDefinition(
        GraphDefinition(name, nodes, [], {}, description),
        name,
        description,
        tags,
        config,
        resources,
        executor_def,
        partitions_def=job_partitions_def(
            name, selected, partitions_def, implicit_job=name == ASSET_JOB_NAME
        ),
    )
    job.asset_layer = layer
    job.asset_graph = graph
    return job


def _record_layer(
    layer: AssetLayer, definition: AssetsDefinition, node: str, node_def: Any, inputs: dict
) -> None:
    if isinstance(node_def, GraphDefinition):
        from opgraph.plan import _resolve_output

        for out_name, key in definition.keys_by_output_name.items():
            inner_node, inner_out = node_def.output_mappings[out_name]
            handle, output = _resolve_output(node_def, f"{node}.", inner_node, inner_out)
            layer.output_keys[(handle, output)] = key
        for input_name, key in definition.keys_by_input_name.items():
            if input_name in inputs:
                continue
            for inner in node_def.nodes.values():
                for inner_input, source in inner.inputs.items():
                    if source == FromGraphInput(input_name):
                        layer.input_keys[(f"{node}.{inner.name}", inner_input)] = key
        return
    for out_name, key in definition.keys_by_output_name.items():
        layer.output_keys[(node, out_name)] = key
    for out_name, spec in definition.check_specs_by_output_name.items():
        layer.check_outputs[(node, out_name)] = spec.key
    for input_name, key in definition.keys_by_input_name.items():
        if input_name not in inputs and input_name != dep_input_name(key):
            layer.input_keys[(node, input_name)] = key


def selection_keys(graph: AssetGraph, selection: Any) -> set[AssetKey]:
    return to_selection(selection).resolve(graph)


__all__ = [
    "ASSET_JOB_NAME",
    "AssetJobDefinition",
    "AssetSelection",
    "UnresolvedAssetJobDefinition",
    "build_asset_job",
    "define_asset_job",
    "is_hidden_job_name",
]

"""materialize() and materialize_to_memory(): run assets in this process (tests, scripts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.assets.asset_graph import AssetGraph
from opgraph.assets.checks import AssetChecksDefinition
from opgraph.assets.definition import AssetsDefinition, external_assets
from opgraph.assets.job import build_asset_job
from opgraph.assets.keys import AssetKey, to_asset_key
from opgraph.assets.selection import to_selection
from opgraph.assets.specs import AssetSpec
from opgraph.errors import DefinitionError, OpgraphError
from opgraph.events import EventType, RunEvent
from opgraph.execute import ExecuteJobResult

_MATERIALIZE_JOB = "__ephemeral_asset_job__"


class MaterializeResult(ExecuteJobResult):
    """ExecuteJobResult plus Dagster's asset accessors."""

    def _events_of(self, event_type: EventType) -> list[RunEvent]:
        return [e for e in self.all_events if e.event_type_value == event_type.value]

    def get_asset_materialization_events(self) -> list[RunEvent]:
        return self._events_of(EventType.ASSET_MATERIALIZATION)

    def get_asset_observation_events(self) -> list[RunEvent]:
        return self._events_of(EventType.ASSET_OBSERVATION)

    def get_asset_check_evaluations(self) -> list[Any]:
        return [
            AssetCheckEvaluation(e.record.data)
            for e in self._events_of(EventType.ASSET_CHECK_EVALUATION)
        ]

    def asset_materializations_for_node(self, node_name: str) -> list[Any]:
        return [
            AssetMaterializationRecord(e.record.data)
            for e in self.get_asset_materialization_events()
            if e.step_key and e.step_key.split(".", 1)[0].split("[", 1)[0] == node_name
        ]

    def asset_value(self, asset_key: Any) -> Any:
        key = to_asset_key(asset_key)
        for (handle, output), found in self.job.asset_layer.output_keys.items():
            if found == key:
                return self.output_for_node(handle, output)
        raise OpgraphError(f"asset {key.to_user_string()} was not materialized in this run")


class AssetMaterializationRecord:
    """An ASSET_MATERIALIZATION event's payload, shaped like Dagster's AssetMaterialization."""

    def __init__(self, data: Mapping[str, Any]):
        self.asset_key = AssetKey(data["asset_key"])
        self.metadata = dict(data.get("metadata") or {})
        self.partition = data.get("partition")
        self.description = data.get("description")


class AssetCheckEvaluation:
    def __init__(self, data: Mapping[str, Any]):
        self.asset_key = AssetKey(data["asset_key"])
        self.check_name: str = data["check_name"]
        self.passed: bool = data["passed"]
        self.severity: str = data["severity"]
        self.metadata = dict(data.get("metadata") or {})
        self.description = data.get("description")


def _graph(assets: Iterable[Any]) -> AssetGraph:
    defs: list[AssetsDefinition] = []
    for value in assets:
        if isinstance(value, AssetSpec):
            defs.extend(external_assets([value]))
        elif isinstance(value, AssetsDefinition):
            defs.append(value)
        else:
            raise DefinitionError(f"materialize: expected assets or asset checks, got {value!r}")
    return AssetGraph(defs)


def materialize(
    assets: Iterable[Any],
    run_config: Mapping[str, Any] | None = None,
    instance: Any = None,
    resources: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = True,
    selection: Any = None,
    partition_key: str | None = None,
    _in_memory: bool = False,
) -> MaterializeResult:
    """Materialize `assets` (or the `selection` of them) in this process; values go through
    the filesystem IO manager unless `resources` give an `io_manager`."""
    from opgraph.execute import execute_in_process
    from opgraph.resources import fs_io_manager, mem_io_manager

    assets = list(assets)
    graph = _graph(assets)
    keys = to_selection(selection).resolve(graph) if selection is not None else None
    if keys is None:
        keys = set(graph.materializable_keys)
    checks = None
    if selection is None:
        checks = set(graph.check_specs)
    elif any(isinstance(a, AssetChecksDefinition) for a in assets):
        checks = {ck for ck in graph.check_specs if ck.asset_key in keys}
    default_io = mem_io_manager if _in_memory else fs_io_manager
    all_resources = {"io_manager": default_io, **(resources or {})}
    if _in_memory:
        all_resources["io_manager"] = mem_io_manager
    job = build_asset_job(_MATERIALIZE_JOB, graph, keys, check_keys=checks, resources=all_resources)
    if partition_key is not None:
        from opgraph.partitions.runs import partition_run

        run_config, tags = partition_run(
            job, partition_key, run_config, tags, dynamic_partitions_store=instance
        )
    result = execute_in_process(
        job, run_config=run_config, instance=instance, raise_on_error=raise_on_error, tags=tags
    )
    result.__class__ = MaterializeResult
    return result  # type: ignore[return-value]


def materialize_to_memory(
    assets: Iterable[Any],
    run_config: Mapping[str, Any] | None = None,
    instance: Any = None,
    resources: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = True,
    selection: Any = None,
    partition_key: str | None = None,
) -> MaterializeResult:
    """materialize() with every value kept in memory (no files written)."""
    return materialize(
        assets,
        run_config,
        instance,
        resources,
        tags,
        raise_on_error,
        selection,
        partition_key,
        _in_memory=True,
    )

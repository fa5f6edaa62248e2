"""materialize() and materialize_to_memory(): run assets in this process (tests, scripts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.assets.asset_graph import AssetGraph
from opgraph.assets.checks import AssetChecksDefinition
from opgraph.assets.definition import AssetsDefinition, external_assets
from opgraph.assets.job import build_asset_job
from opgraph.assets.selection import to_selection
from opgraph.assets.specs import AssetSpec
from opgraph.errors import DefinitionError
from opgraph.execute import ExecuteJobResult

_MATERIALIZE_JOB = "__ephemeral_asset_job__"


class MaterializeResult(ExecuteJobResult):
    """What materialize() returns: a run result (its asset accessors are every run's)."""


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

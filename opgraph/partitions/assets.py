"""Partitioned assets: a job's partitions from its assets', the partitions a run
materializes, and the upstream partitions an asset input reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.errors import DefinitionError
from opgraph.partitions import context as partition_context
from opgraph.partitions.mappings import infer_partition_mapping


def job_partitions_def(
    name: str, assets_defs: Iterable[Any], explicit: Any = None, implicit_job: bool = False
) -> Any:
    """The asset job's partitions: `explicit`, else the one its partitioned assets share
    (Dagster: a job's partitioned assets have one partitions definition). The implicit job
    of all assets may mix them: it is then unpartitioned, and a partition's run is of a
    subset of it, which has one."""
    found: dict[Any, list[str]] = {}
    for definition in assets_defs:
        partitions_def = getattr(definition, "partitions_def", None)
        if partitions_def is None:
            continue
        keys = sorted(k.to_user_string() for k in definition.keys)
        found.setdefault(partitions_def, []).extend(keys)
    if explicit is not None:
        others = {p: keys for p, keys in found.items() if p != explicit}
        if others:
            named = "; ".join(f"{keys} have {p}" for p, keys in others.items())
            raise DefinitionError(
                f"asset job {name!r} has partitions_def={explicit} but {named}: a job runs "
                "assets of one partitions definition"
            )
        return explicit
    if len(found) > 1 and implicit_job:
        return None
    if len(found) > 1:
        named = "; ".join(f"{keys} have {p}" for p, keys in found.items())
        raise DefinitionError(
            f"asset job {name!r} selects assets with different partitions ({named}): a job "
            "runs assets of one partitions definition; make one job per definition"
        )
    return next(iter(found), None)


def run_partition_keys(tags: Mapping[str, str], partitions_def: Any) -> list[str] | None:
    """The partitions of `partitions_def` a run with `tags` is for; None when the run is
    not for partitions (or the asset is not partitioned)."""
    if partitions_def is None or not partition_context.has_partition_key_range(tags):
        return None
    return [str(k) for k in partition_context.partition_keys(tags, partitions_def)]


def input_partition_keys(
    downstream_def: Any,
    upstream_def: Any,
    upstream_key: Any,
    tags: Mapping[str, str],
    instance: Any = None,
) -> list[str] | None:
    """The upstream partitions an input of `downstream_def` reads in this run (None: the
    upstream asset is not partitioned, so the input is the whole asset)."""
    upstream_partitions = getattr(upstream_def, "partitions_def", None) if upstream_def else None
    if upstream_partitions is None:
        return None
    downstream_partitions = getattr(downstream_def, "partitions_def", None)
    mapping = infer_partition_mapping(
        getattr(downstream_def, "partition_mappings", {}).get(upstream_key),
        downstream_partitions,
        upstream_partitions,
    )
    store = instance if hasattr(instance, "get_dynamic_partitions") else None
    downstream_keys = run_partition_keys(tags, downstream_partitions)
    return mapping.get_upstream_partition_keys(
        downstream_keys, downstream_partitions, upstream_partitions, dynamic_partitions_store=store
    )


def step_asset_partitions(
    job: Any, handle: str, output_names: Iterable[str], tags: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The {asset_key: path, partition} pairs a step of a partitioned run is to materialize: its
    STEP_START marks them IN_PROGRESS and its STEP_FAILURE FAILED in `asset_partitions`
    (opgraph_storage.partitions_sql.index_asset_partitions). Empty outside such runs."""
    from opgraph.assets.step_events import asset_layer_of

    if not partition_context.has_partition_key_range(tags):
        return []
    layer = asset_layer_of(job)
    graph = getattr(job, "asset_graph", None)
    if layer is None or graph is None:
        return []
    pairs: list[dict[str, Any]] = []
    for output_name in output_names:
        key = layer.key_for_output(handle, output_name)
        if key is None:
            continue
        definition = graph.assets_def_by_key.get(key)
        keys = run_partition_keys(tags, getattr(definition, "partitions_def", None))
        pairs.extend({"asset_key": list(key.path), "partition": p} for p in keys or ())
    return pairs

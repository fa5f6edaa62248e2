"""The asset events a step emits: ASSET_MATERIALIZATION after an asset's output is stored,
ASSET_CHECK_EVALUATION for a check result, and those an op logs itself. The catalog
tables in storage are written from these events, in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opgraph.assets.data_versions import to_data_version, version_tags
from opgraph.assets.layer import asset_layer_of
from opgraph.assets.results import AssetMaterialization, AssetObservation
from opgraph.events import EventType
from opgraph.metadata import metadata_to_json

AssetEvent = tuple[EventType, str, dict[str, Any]]


def is_logged_asset_event(item: Any) -> bool:
    return isinstance(item, (AssetMaterialization, AssetObservation))


def logged_event(item: AssetMaterialization | AssetObservation) -> AssetEvent:
    kind = (
        EventType.ASSET_MATERIALIZATION
        if isinstance(item, AssetMaterialization)
        else EventType.ASSET_OBSERVATION
    )
    verb = "Materialized" if kind is EventType.ASSET_MATERIALIZATION else "Observed"
    return (
        kind,
        f'{verb} value for asset "{item.asset_key.to_user_string()}"',
        {
            "asset_key": list(item.asset_key.path),
            "metadata": metadata_to_json(item.metadata),
            "description": item.description,
            "partition": item.partition,
            "tags": item.tags,
        },
    )


def asset_key_for_output(job: Any, handle: str, output_name: str) -> Any:
    layer = asset_layer_of(job)
    return layer.key_for_output(handle, output_name) if layer is not None else None


def asset_key_for_input(job: Any, handle: str, input_name: str) -> Any:
    layer = asset_layer_of(job)
    return layer.key_for_input(handle, input_name) if layer is not None else None


def events_for_output(
    job: Any,
    handle: str,
    output: Any,
    metadata: dict,
    run_tags: Mapping[str, str] | None = None,
    run_id: str = "",
    storage: Any = None,
) -> list[AssetEvent]:
    """What storing `output` of op `handle` means for the catalog: a partitioned asset's
    run materializes each partition it is for (one event each). Each carries the data
    version tags; `storage` gives the versions of upstream assets materialized elsewhere."""
    layer = asset_layer_of(job)
    if layer is None:
        return []
    events: list[AssetEvent] = []
    key = layer.key_for_output(handle, output.output_name)
    if key is not None:
        tags = version_tags(
            key,
            to_data_version(getattr(output, "data_version", None), f"output of {handle}"),
            layer.code_versions.get(key),
            run_id,
            layer.upstream_keys.get(key, ()),
            storage,
        )
        from opgraph.partitions.assets import run_partition_keys

        graph = getattr(job, "asset_graph", None)
        definition = graph.assets_def_by_key.get(key) if graph is not None else None
        partitions = run_partition_keys(run_tags or {}, getattr(definition, "partitions_def", None))
        for partition in partitions if partitions is not None else [None]:
            events.append(
                (
                    EventType.ASSET_MATERIALIZATION,
                    f'Materialized value for asset "{key.to_user_string()}"'
                    + (f" partition {partition!r}" if partition is not None else ""),
                    {
                        "asset_key": list(key.path),
                        "metadata": metadata,
                        "output_name": output.output_name,
                        "code_version": layer.code_versions.get(key),
                        "partition": partition,
                        "tags": tags,
                    },
                )
            )
    check_key = layer.check_for_output(handle, output.output_name)
    result = getattr(output, "check_result", None)
    if check_key is not None and result is not None:
        outcome = "passed" if result.passed else "failed"
        events.append(
            (
                EventType.ASSET_CHECK_EVALUATION,
                f'Asset check "{check_key.to_user_string()}" {outcome}',
                {
                    "asset_key": list(check_key.asset_key.path),
                    "check_name": check_key.name,
                    "passed": bool(result.passed),
                    "severity": str(getattr(result.severity, "value", result.severity)),
                    "metadata": metadata,
                    "description": result.description,
                    "blocking": layer.check_severity_blocking.get(check_key, False),
                },
            )
        )
    return events

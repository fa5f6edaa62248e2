"""Asset nodes as JSON: what a code location tells the webserver about its assets (the
webserver never imports user code)."""

from __future__ import annotations

from typing import Any

from opgraph.assets.job import AssetJobDefinition
from opgraph.metadata import metadata_to_json
from opgraph.partitions.snapshot import partition_mappings_snapshot, partitions_snapshot


def asset_node_snapshots(definitions: Any) -> list[dict[str, Any]]:
    """One JSON node per asset key of a Definitions, sorted by key."""
    graph = definitions.asset_repo.graph
    job_names: dict[Any, list[str]] = {}
    for job in definitions.jobs:
        if isinstance(job, AssetJobDefinition):
            for key in job.asset_layer.selected_keys:
                job_names.setdefault(key, []).append(job.name)
    checks_by_key: dict[Any, list[dict[str, Any]]] = {}
    for spec in graph.check_specs.values():
        checks_by_key.setdefault(spec.asset_key, []).append(
            {"name": spec.name, "description": spec.description, "blocking": spec.blocking}
        )
    nodes = []
    for key in sorted(graph.all_keys):
        definition = graph.assets_def_by_key.get(key)
        attrs = graph.attributes(key)
        nodes.append(
            {
                "key": list(key.path),
                "group_name": attrs.group_name,
                "description": attrs.description,
                "metadata": metadata_to_json(dict(attrs.metadata)),
                "tags": dict(attrs.tags),
                "kinds": sorted(attrs.kinds),
                "owners": list(attrs.owners),
                "code_version": attrs.code_version,
                "deps": [list(k.path) for k in sorted(graph.parents.get(key, ()))],
                "dependents": [list(k.path) for k in sorted(graph.children.get(key, ()))],
                "op_name": definition.node_name if definition is not None else None,
                "is_executable": bool(definition is not None and definition.is_executable),
                "job_names": sorted(job_names.get(key, [])),
                "checks": sorted(checks_by_key.get(key, []), key=lambda c: c["name"]),
                # opgraph.partitions.snapshot JSON; None: not partitioned.
                "partitions": partitions_snapshot(getattr(definition, "partitions_def", None)),
                # The mappings its deps name ({upstream key: mapping JSON}); a dep without
                # one takes Dagster's default (opgraph.partitions.mappings).
                "partition_mappings": partition_mappings_snapshot(definition),
                # opgraph.partitions.backfill_policy JSON; None: one run per partition.
                "backfill_policy": (
                    definition.backfill_policy.to_json()
                    if getattr(definition, "backfill_policy", None) is not None
                    else None
                ),
                # opgraph.automation.condition JSON; None: no automation condition.
                "automation_condition": (
                    attrs.automation_condition.resolved(graph).to_json()
                    if attrs.automation_condition is not None
                    else None
                ),
            }
        )
    return nodes

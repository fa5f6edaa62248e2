"""Staleness as Dagster computes it: an asset is stale when its code version changed since
its last materialization, or when an upstream asset's data version is not the one its last
materialization read (a new materialization of the upstream with the same code and inputs
has the same data version, and leaves it fresh). A materialization recorded without input
data versions falls back to event order: an upstream materialized after it makes it stale.
Computed from asset nodes and catalog rows only (never the event log)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opgraph.assets.data_versions import data_version_of, input_data_versions_of


@dataclass(frozen=True)
class Staleness:
    status: str  # FRESH | STALE | MISSING
    causes: list[str] = field(default_factory=list)


def staleness(
    node: Mapping[str, Any], records: Mapping[str, Any], upstream_nodes: Mapping[str, Any]
) -> Staleness:
    """`records`: catalog rows by key text, for this key and its upstream keys."""
    key = "/".join(node["key"])
    record = records.get(key)
    if record is None or record.last_materialization_id is None:
        return Staleness("MISSING", ["never materialized"] if node.get("is_executable") else [])
    causes = []
    recorded = record.last_materialization_data.get("code_version")
    if node.get("code_version") is not None and recorded != node["code_version"]:
        causes.append(f"code version changed from {recorded!r} to {node['code_version']!r}")
    read = input_data_versions_of(record.last_materialization_data)
    for dep in node.get("deps", []):
        dep_key = "/".join(dep)
        upstream = records.get(dep_key)
        if upstream is None or upstream.last_materialization_id is None:
            continue
        current = data_version_of(upstream.last_materialization_data)
        if dep_key in read and current is not None:
            if read[dep_key] != current.value:
                causes.append(f"upstream {dep_key} has a new data version")
        elif upstream.last_materialization_id > (record.last_materialization_id or 0):
            causes.append(f"upstream {dep_key} was materialized after it")
    del upstream_nodes
    return Staleness("STALE" if causes else "FRESH", causes)

"""Partitions definitions as JSON, for processes that do not load user code.

The webserver and the daemon list a job's partitions (the launchpad, backfills) from its
snapshot; keys are computed there, with the instance's dynamic partitions. A definition
whose keys come from a function (`DynamicPartitionsDefinition(partition_fn=...)`) is
snapshotted as the keys the function gave when the code was loaded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from opgraph.errors import DefinitionError
from opgraph.partitions.cron import get_timezone
from opgraph.partitions.definitions import (
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    StaticPartitionsDefinition,
)
from opgraph.partitions.multi_mapping import DimensionPartitionMapping, MultiPartitionMapping
from opgraph.partitions.time_window import TimeWindowPartitionsDefinition


def partitions_snapshot(partitions_def: PartitionsDefinition | None) -> dict[str, Any] | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        return {
            "type": "time_window",
            "cron_schedule": partitions_def.cron_schedule,
            "start": partitions_def.start_timestamp,
            "end": partitions_def.end_timestamp,
            "timezone": partitions_def.timezone,
            "fmt": partitions_def.fmt,
            "end_offset": partitions_def.end_offset,
        }
    if isinstance(partitions_def, StaticPartitionsDefinition):
        return {"type": "static", "keys": list(partitions_def.get_partition_keys())}
    if isinstance(partitions_def, DynamicPartitionsDefinition):
        if partitions_def.name is not None:
            return {"type": "dynamic", "name": partitions_def.name}
        return {"type": "static", "keys": list(partitions_def.get_partition_keys())}
    if isinstance(partitions_def, MultiPartitionsDefinition):
        return {
            "type": "multi",
            "dimensions": {
                d.name: partitions_snapshot(d.partitions_def)
                for d in partitions_def.partitions_defs
            },
        }
    raise DefinitionError(f"cannot snapshot partitions definition {partitions_def!r}")


def partitions_from_snapshot(snapshot: dict[str, Any] | None) -> PartitionsDefinition | None:
    if snapshot is None:
        return None
    kind = snapshot.get("type")
    if kind == "time_window":
        end = snapshot.get("end")
        return TimeWindowPartitionsDefinition(
            start=_wall(snapshot["start"], snapshot["timezone"]),
            fmt=snapshot["fmt"],
            end=_wall(end, snapshot["timezone"]) if end is not None else None,
            timezone=snapshot["timezone"],
            end_offset=snapshot.get("end_offset", 0),
            cron_schedule=snapshot["cron_schedule"],
        )
    if kind == "static":
        return StaticPartitionsDefinition(list(snapshot["keys"]))
    if kind == "dynamic":
        return DynamicPartitionsDefinition(name=snapshot["name"])
    if kind == "multi":
        dimensions = {
            name: partitions_from_snapshot(dim) for name, dim in snapshot["dimensions"].items()
        }
        return MultiPartitionsDefinition({n: d for n, d in dimensions.items() if d is not None})
    raise DefinitionError(f"unknown partitions snapshot {snapshot!r}")


def _wall(timestamp: float, timezone: str) -> dt.datetime:
    """The wall time of `timestamp` in `timezone`, naive, as a definition reads a bound
    (its `fold` kept: the second 01:30 of a fall-back night stays the second)."""
    return dt.datetime.fromtimestamp(timestamp, get_timezone(timezone)).replace(tzinfo=None)


def mapping_snapshot(mapping: Any) -> dict[str, Any]:
    """A partition mapping as JSON (an asset node's `partition_mappings`), for the backfill
    part to order an asset backfill's partitions without loading user code."""
    from opgraph.partitions import mappings as m

    if isinstance(mapping, m.TimeWindowPartitionMapping):
        return {
            "type": "time_window",
            "start_offset": mapping.start_offset,
            "end_offset": mapping.end_offset,
            "allow_nonexistent_upstream_partitions": mapping.allow_nonexistent_upstream_partitions,
        }
    if isinstance(mapping, m.StaticPartitionMapping):
        by_upstream = mapping._downstream_by_upstream
        return {
            "type": "static",
            "downstream_by_upstream": {k: sorted(v) for k, v in by_upstream.items()},
        }
    if isinstance(mapping, m.MultiToSingleDimensionPartitionMapping):
        return {"type": "multi_to_single", "dimension": mapping.partition_dimension_name}
    if isinstance(mapping, MultiPartitionMapping):
        return {
            "type": "multi",
            "dimensions": {
                upstream: {
                    "dimension_name": dim.dimension_name,
                    "mapping": mapping_snapshot(dim.partition_mapping),
                }
                for upstream, dim in mapping.downstream_mappings_by_upstream_dimension.items()
            },
        }
    for kind, cls in _PLAIN_MAPPINGS.items():
        if type(mapping) is getattr(m, cls):
            return {"type": kind}
    raise DefinitionError(f"cannot snapshot partition mapping {mapping!r}")


_PLAIN_MAPPINGS = {
    "identity": "IdentityPartitionMapping",
    "all": "AllPartitionMapping",
    "last": "LastPartitionMapping",
}


def mapping_from_snapshot(snapshot: dict[str, Any]) -> Any:
    from opgraph.partitions import mappings as m

    kind = snapshot.get("type")
    if kind == "time_window":
        return m.TimeWindowPartitionMapping(
            snapshot["start_offset"],
            snapshot["end_offset"],
            snapshot["allow_nonexistent_upstream_partitions"],
        )
    if kind == "static":
        return m.StaticPartitionMapping(snapshot["downstream_by_upstream"])
    if kind == "multi_to_single":
        return m.MultiToSingleDimensionPartitionMapping(snapshot["dimension"])
    if kind == "multi":
        return MultiPartitionMapping(
            {
                upstream: DimensionPartitionMapping(
                    dim["dimension_name"], mapping_from_snapshot(dim["mapping"])
                )
                for upstream, dim in snapshot["dimensions"].items()
            }
        )
    if kind in _PLAIN_MAPPINGS:
        return getattr(m, _PLAIN_MAPPINGS[kind])()
    raise DefinitionError(f"unknown partition mapping snapshot {snapshot!r}")


def partition_mappings_snapshot(definition: Any) -> dict[str, Any]:
    """The explicit partition mappings of an asset's deps, by upstream key string."""
    given = getattr(definition, "partition_mappings", None) or {}
    return {
        upstream.to_user_string(): mapping_snapshot(mapping)
        for upstream, mapping in sorted(given.items(), key=lambda item: item[0].to_user_string())
        if mapping is not None
    }

"""What a run's context knows of its partition(s): read from the run's tags, interpreted
by the job's (or asset's) partitions definition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opgraph.dagster_errors import DagsterInvariantViolationError
from opgraph.partitions.definitions import (
    MultiPartitionsDefinition,
    PartitionKeyRange,
    PartitionsDefinition,
    TimeWindow,
)
from opgraph.partitions.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from opgraph.partitions.time_window import TimeWindowPartitionsDefinition


def has_partition_key(tags: Mapping[str, str]) -> bool:
    return PARTITION_NAME_TAG in tags


def has_partition_key_range(tags: Mapping[str, str]) -> bool:
    return PARTITION_NAME_TAG in tags or ASSET_PARTITION_RANGE_START_TAG in tags


def _as_key(key: str, partitions_def: PartitionsDefinition | None) -> str:
    if isinstance(partitions_def, MultiPartitionsDefinition):
        return partitions_def.get_partition_key_from_str(key)
    return key


def partition_key(tags: Mapping[str, str], partitions_def: PartitionsDefinition | None) -> str:
    if PARTITION_NAME_TAG in tags:
        return _as_key(tags[PARTITION_NAME_TAG], partitions_def)
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start is not None and start == end:
        return _as_key(start, partitions_def)
    if start is not None:
        raise DagsterInvariantViolationError(
            f"this run is for the partition range {start}...{end}, not one partition: "
            "use context.partition_key_range or context.partition_keys"
        )
    raise DagsterInvariantViolationError(
        "this run is not for a partition: context.partition_key is only set in runs of a "
        f"partitioned job or asset (the run has no {PARTITION_NAME_TAG!r} tag)"
    )


def partition_key_range(
    tags: Mapping[str, str], partitions_def: PartitionsDefinition | None
) -> PartitionKeyRange:
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start is not None and end is not None:
        return PartitionKeyRange(_as_key(start, partitions_def), _as_key(end, partitions_def))
    key = partition_key(tags, partitions_def)
    return PartitionKeyRange(key, key)


def partition_keys(
    tags: Mapping[str, str], partitions_def: PartitionsDefinition | None
) -> Sequence[str]:
    key_range = partition_key_range(tags, partitions_def)
    if key_range.start == key_range.end:
        return [key_range.start]
    if partitions_def is None:
        raise DagsterInvariantViolationError(
            "this run is for a partition range but its job has no partitions_def to list it"
        )
    return partitions_def.get_partition_keys_in_range(key_range)


def partition_time_window(
    tags: Mapping[str, str], partitions_def: PartitionsDefinition | None
) -> TimeWindow:
    key_range = partition_key_range(tags, partitions_def)
    time_def: TimeWindowPartitionsDefinition | None = None
    start_key, end_key = str(key_range.start), str(key_range.end)
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        time_def = partitions_def
    elif isinstance(partitions_def, MultiPartitionsDefinition):
        for dim in partitions_def.partitions_defs:
            if isinstance(dim.partitions_def, TimeWindowPartitionsDefinition):
                time_def = dim.partitions_def
                start_key = partitions_def.get_partition_key_from_str(start_key).keys_by_dimension[
                    dim.name
                ]
                end_key = partitions_def.get_partition_key_from_str(end_key).keys_by_dimension[
                    dim.name
                ]
    if time_def is None:
        raise DagsterInvariantViolationError(
            f"context.partition_time_window needs time-window partitions; this run's are {partitions_def}"
        )
    return TimeWindow(
        time_def.time_window_for_partition_key(start_key).start,
        time_def.time_window_for_partition_key(end_key).end,
    )

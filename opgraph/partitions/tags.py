"""The run tags that say which partition a run is for.

These are Dagster's names, not `opgraph/*` ones, on purpose: Dagster's clients (its UI,
its GraphQL client, `dagster-graphql` scripts) launch a partition's run by setting
`dagster/partition` and find a partition's runs by filtering on it, and a job file ported
from Dagster reads `context.get_tag("dagster/partition")`. opgraph reserves only
`opgraph/*` (opgraph/client_tags.py), so a client may set these, as in Dagster.
"""

from __future__ import annotations

from collections.abc import Mapping

PARTITION_NAME_TAG = "dagster/partition"
# One tag per dimension of a multi-partition key: dagster/partition/<dimension>.
MULTIDIMENSIONAL_PARTITION_PREFIX = "dagster/partition/"
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_SET_TAG = "dagster/partition_set"
BACKFILL_ID_TAG = "dagster/backfill"


def partition_tags(partition_key: str) -> dict[str, str]:
    """The tags of a run of one partition (and of each dimension of a multi key)."""
    tags = {PARTITION_NAME_TAG: str(partition_key)}
    dimensions: Mapping[str, str] = getattr(partition_key, "keys_by_dimension", {})
    for name, key in dimensions.items():
        tags[MULTIDIMENSIONAL_PARTITION_PREFIX + name] = key
    return tags


def partition_range_tags(start: str, end: str) -> dict[str, str]:
    """The tags of a run of a range of partitions (a single-run backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}

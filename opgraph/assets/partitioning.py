"""What partitions an asset definition has and how its deps' partitions map to them:
`partitions_def=`, `backfill_policy=` and the partition mappings of ins and `AssetDep`s, for
every asset decorator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opgraph.assets.definition import AssetsDefinition
from opgraph.assets.keys import AssetKey
from opgraph.assets.specs import AssetIn
from opgraph.errors import DefinitionError


def set_partitioning(
    assets_def: AssetsDefinition,
    partitions_def: Any,
    ins: Mapping[str, AssetIn] | None,
    backfill_policy: Any = None,
    dep_mappings: Mapping[AssetKey, Any] | None = None,
) -> None:
    """partitions_def=, backfill_policy= and the partition mappings of the ins and of the
    `AssetDep`s among deps (opgraph.partitions)."""
    if backfill_policy is not None:
        from opgraph.partitions.backfill_policy import BackfillPolicy

        if not isinstance(backfill_policy, BackfillPolicy):
            raise DefinitionError(
                f"{assets_def!r}: backfill_policy must be a BackfillPolicy, got {backfill_policy!r}"
            )
        assets_def.backfill_policy = backfill_policy
    if partitions_def is not None:
        from opgraph.partitions.definitions import PartitionsDefinition

        if not isinstance(partitions_def, PartitionsDefinition):
            raise DefinitionError(
                f"{assets_def!r}: partitions_def must be a PartitionsDefinition, got {partitions_def!r}"
            )
        assets_def.partitions_def = partitions_def
    mappings = {
        **(dep_mappings or {}),
        **{
            asset_in.resolve_key(name): asset_in.partition_mapping
            for name, asset_in in (ins or {}).items()
            if asset_in.partition_mapping is not None
        },
    }
    if mappings:
        assets_def.partition_mappings = mappings

"""MultiPartitionMapping: between two multi-partitioned assets, dimension by dimension.

Dagster's semantics: `downstream_mappings_by_upstream_dimension` maps an upstream dimension
to a downstream one (`DimensionPartitionMapping(dimension_name, partition_mapping)`), whose
keys are mapped with that dimension's mapping. A dimension that no entry names, upstream or
downstream, maps all to all: a downstream key reads every key of an unmapped upstream
dimension, and an upstream key feeds every key of an unmapped downstream dimension.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from opgraph.errors import DefinitionError
from opgraph.partitions.definitions import (
    DynamicPartitionsStore,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    PartitionsDefinition,
)
from opgraph.partitions.mappings import PartitionMapping


class DimensionPartitionMapping(NamedTuple):
    """The downstream dimension an upstream dimension maps to, and how its keys map."""

    dimension_name: str
    partition_mapping: PartitionMapping


# (keys of the source dimension, its definition, the target dimension's definition) -> keys
_DimensionMapper = Callable[[Sequence[str], PartitionsDefinition, PartitionsDefinition], list[str]]


class MultiPartitionMapping(PartitionMapping):
    def __init__(
        self, downstream_mappings_by_upstream_dimension: Mapping[str, DimensionPartitionMapping]
    ):
        if not isinstance(downstream_mappings_by_upstream_dimension, Mapping):
            raise DefinitionError(
                "MultiPartitionMapping takes {upstream dimension: DimensionPartitionMapping}, "
                f"got {downstream_mappings_by_upstream_dimension!r}"
            )
        for upstream, mapping in downstream_mappings_by_upstream_dimension.items():
            if not isinstance(mapping, DimensionPartitionMapping) or not isinstance(
                mapping.partition_mapping, PartitionMapping
            ):
                raise DefinitionError(
                    f"MultiPartitionMapping: dimension {upstream!r} maps to {mapping!r}; expected "
                    "DimensionPartitionMapping(dimension_name, a PartitionMapping)"
                )
        downstream_names = [
            m.dimension_name for m in downstream_mappings_by_upstream_dimension.values()
        ]
        if len(set(downstream_names)) != len(downstream_names):
            raise DefinitionError(
                f"MultiPartitionMapping maps two upstream dimensions to one downstream dimension: "
                f"{downstream_names}"
            )
        self.downstream_mappings_by_upstream_dimension = dict(
            downstream_mappings_by_upstream_dimension
        )

    def _check(
        self, upstream: PartitionsDefinition | None, downstream: PartitionsDefinition | None
    ) -> tuple[MultiPartitionsDefinition, MultiPartitionsDefinition]:
        if not isinstance(upstream, MultiPartitionsDefinition) or not isinstance(
            downstream, MultiPartitionsDefinition
        ):
            raise DefinitionError(
                "MultiPartitionMapping maps between two multi-partitioned assets; got "
                f"{upstream} upstream and {downstream} downstream"
            )
        for up_name, mapping in self.downstream_mappings_by_upstream_dimension.items():
            if up_name not in upstream.partition_dimension_names:
                raise DefinitionError(
                    f"MultiPartitionMapping: no upstream dimension {up_name!r}; the upstream's "
                    f"dimensions are {upstream.partition_dimension_names}"
                )
            if mapping.dimension_name not in downstream.partition_dimension_names:
                raise DefinitionError(
                    f"MultiPartitionMapping: no downstream dimension {mapping.dimension_name!r}; "
                    f"the downstream's dimensions are {downstream.partition_dimension_names}"
                )
        return upstream, downstream

    def _map(
        self,
        keys: Sequence[str],
        from_def: MultiPartitionsDefinition,
        to_def: MultiPartitionsDefinition,
        source_of: Mapping[str, tuple[str, _DimensionMapper]],
        current_time: dt.datetime | None,
        store: DynamicPartitionsStore | None,
    ) -> list[str]:
        """For each key of `from_def`, the keys of `to_def` it maps to: each target dimension
        mapped from its source dimension (`source_of`), or all of its keys."""
        every = {
            d.name: list(d.partitions_def.get_partition_keys(current_time, store))
            for d in to_def.partitions_defs
        }
        found: dict[str, None] = {}
        for key in keys:
            by_dimension = from_def.get_partition_key_from_str(key).keys_by_dimension
            per_dimension = []
            for dim in to_def.partitions_defs:
                if dim.name not in source_of:
                    per_dimension.append(every[dim.name])
                    continue
                source, mapper = source_of[dim.name]
                source_def = from_def.get_partitions_def_for_dimension(source)
                per_dimension.append(mapper([by_dimension[source]], source_def, dim.partitions_def))
            for combo in itertools.product(*per_dimension):
                names = to_def.partition_dimension_names
                found[MultiPartitionKey(dict(zip(names, combo, strict=True)))] = None
        return list(found)

    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        up, down = self._check(upstream_partitions_def, downstream_partitions_def)
        if downstream_partition_keys is None:
            return list(up.get_partition_keys(current_time, dynamic_partitions_store))

        def upstream_of(mapping: PartitionMapping) -> _DimensionMapper:
            return lambda keys, down_def, up_def: mapping.get_upstream_partition_keys(
                keys, down_def, up_def, current_time, dynamic_partitions_store
            )

        source_of = {
            up_name: (m.dimension_name, upstream_of(m.partition_mapping))
            for up_name, m in self.downstream_mappings_by_upstream_dimension.items()
        }
        return self._map(
            downstream_partition_keys, down, up, source_of, current_time, dynamic_partitions_store
        )

    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        up, down = self._check(upstream_partitions_def, downstream_partitions_def)
        if upstream_partition_keys is None:
            return list(down.get_partition_keys(current_time, dynamic_partitions_store))

        def downstream_of(mapping: PartitionMapping) -> _DimensionMapper:
            return lambda keys, up_def, down_def: mapping.get_downstream_partition_keys(
                keys, up_def, down_def, current_time, dynamic_partitions_store
            )

        source_of = {
            m.dimension_name: (up_name, downstream_of(m.partition_mapping))
            for up_name, m in self.downstream_mappings_by_upstream_dimension.items()
        }
        return self._map(
            upstream_partition_keys, up, down, source_of, current_time, dynamic_partitions_store
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, MultiPartitionMapping)
            and self.downstream_mappings_by_upstream_dimension
            == other.downstream_mappings_by_upstream_dimension
        )

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.downstream_mappings_by_upstream_dimension)))

    def __repr__(self) -> str:
        return f"MultiPartitionMapping({self.downstream_mappings_by_upstream_dimension!r})"

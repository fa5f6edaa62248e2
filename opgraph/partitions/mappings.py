"""Partition mappings: which partitions of an upstream asset a downstream partition reads
(and, the other way, which downstream partitions an upstream partition feeds).

Names, defaults and semantics are Dagster's:

- no mapping given: both time windows -> TimeWindowPartitionMapping(); both partitioned
  otherwise -> IdentityPartitionMapping(); either side unpartitioned -> AllPartitionMapping();
- TimeWindowPartitionMapping(start_offset, end_offset) shifts the downstream window by
  whole downstream partitions, then takes every upstream partition overlapping it (a daily
  partition reads its 24 hourly ones; an hourly one reads its day);
- a mapped upstream partition that does not exist (before the upstream's start, or not
  yet ended) is an error, unless allow_nonexistent_upstream_partitions=True drops it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence

from opgraph.errors import DefinitionError
from opgraph.partitions.cron import iterate_ticks
from opgraph.partitions.definitions import (
    DynamicPartitionsStore,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    PartitionKeyError,
    PartitionsDefinition,
    TimeWindow,
)
from opgraph.partitions.time_window import TimeWindowPartitionsDefinition


class PartitionMapping(ABC):
    @abstractmethod
    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        """The upstream keys the downstream keys read (None: an unpartitioned downstream)."""

    @abstractmethod
    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        """The downstream keys that read the upstream keys."""


def _existing(
    keys: Sequence[str],
    partitions_def: PartitionsDefinition,
    current_time: dt.datetime | None,
    store: DynamicPartitionsStore | None,
) -> tuple[list[str], list[str]]:
    """(keys the definition has, keys it does not), in the given order."""
    known = set(partitions_def.get_partition_keys(current_time, store))
    return [k for k in keys if k in known], [k for k in keys if k not in known]


class IdentityPartitionMapping(PartitionMapping):
    """Each downstream partition reads the upstream partition with the same key."""

    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        if downstream_partition_keys is None:
            return list(
                upstream_partitions_def.get_partition_keys(current_time, dynamic_partitions_store)
            )
        found, missing = _existing(
            downstream_partition_keys,
            upstream_partitions_def,
            current_time,
            dynamic_partitions_store,
        )
        if missing:
            raise PartitionKeyError(
                f"upstream partitions {missing} do not exist in {upstream_partitions_def} "
                "(IdentityPartitionMapping reads the partition with the same key)"
            )
        return found

    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        if upstream_partition_keys is None:
            return list(
                downstream_partitions_def.get_partition_keys(current_time, dynamic_partitions_store)
            )
        return _existing(
            upstream_partition_keys,
            downstream_partitions_def,
            current_time,
            dynamic_partitions_store,
        )[0]

    def __eq__(self, other: object) -> bool:
        return type(other) is IdentityPartitionMapping

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return "IdentityPartitionMapping()"


class AllPartitionMapping(PartitionMapping):
    """Every downstream partition reads every upstream partition."""

    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        return list(
            upstream_partitions_def.get_partition_keys(current_time, dynamic_partitions_store)
        )

    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        return list(
            downstream_partitions_def.get_partition_keys(current_time, dynamic_partitions_store)
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is AllPartitionMapping

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return "AllPartitionMapping()"


class LastPartitionMapping(PartitionMapping):
    """Every downstream partition reads the upstream's last partition."""

    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        last = upstream_partitions_def.get_last_partition_key(
            current_time, dynamic_partitions_store
        )
        return [last] if last is not None else []

    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        if upstream_partitions_def is None:
            return []
        last = upstream_partitions_def.get_last_partition_key(
            current_time, dynamic_partitions_store
        )
        if upstream_partition_keys is not None and last not in upstream_partition_keys:
            return []
        return list(
            downstream_partitions_def.get_partition_keys(current_time, dynamic_partitions_store)
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is LastPartitionMapping

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return "LastPartitionMapping()"


class StaticPartitionMapping(PartitionMapping):
    """An explicit map: upstream key -> the downstream key(s) that read it."""

    def __init__(
        self,
        downstream_partition_keys_by_upstream_partition_key: Mapping[str, str | Collection[str]],
    ):
        self._downstream_by_upstream: dict[str, frozenset[str]] = {}
        for up, down in downstream_partition_keys_by_upstream_partition_key.items():
            self._downstream_by_upstream[up] = frozenset([down] if isinstance(down, str) else down)

    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        wanted = set(downstream_partition_keys or ())
        return [
            up
            for up in upstream_partitions_def.get_partition_keys(
                current_time, dynamic_partitions_store
            )
            if self._downstream_by_upstream.get(up, frozenset()) & wanted
        ]

    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        mapped = set().union(
            *(
                self._downstream_by_upstream.get(k, frozenset())
                for k in upstream_partition_keys or ()
            )
        )
        return [
            k
            for k in downstream_partitions_def.get_partition_keys(
                current_time, dynamic_partitions_store
            )
            if k in mapped
        ]

    def __repr__(self) -> str:
        return f"StaticPartitionMapping({ {k: sorted(v) for k, v in self._downstream_by_upstream.items()} })"


def _shift(
    partitions_def: TimeWindowPartitionsDefinition, moment: dt.datetime, partitions: int
) -> dt.datetime:
    """`moment` (a tick of the definition) moved by whole partitions."""
    if partitions == 0:
        return moment
    ticks = iterate_ticks(
        partitions_def.cron_schedule,
        partitions_def.timezone,
        moment.timestamp(),
        ascending=partitions > 0,
    )
    steps = [t for t in itertools.islice(ticks, abs(partitions) + 1)]
    if steps[0].timestamp() != moment.timestamp():
        return steps[abs(partitions) - 1]
    return steps[abs(partitions)]


class TimeWindowPartitionMapping(PartitionMapping):
    """A downstream time window, shifted by `start_offset`/`end_offset` downstream
    partitions, reads every upstream partition that overlaps it."""

    def __init__(
        self,
        start_offset: int = 0,
        end_offset: int = 0,
        allow_nonexistent_upstream_partitions: bool = False,
    ):
        for name, value in (("start_offset", start_offset), ("end_offset", end_offset)):
            if not isinstance(value, int):
                raise DefinitionError(
                    f"TimeWindowPartitionMapping {name} must be an integer, got {value!r}"
                )
        self.start_offset = start_offset
        self.end_offset = end_offset
        self.allow_nonexistent_upstream_partitions = allow_nonexistent_upstream_partitions

    @staticmethod
    def _time_defs(
        from_def: PartitionsDefinition | None, to_def: PartitionsDefinition | None
    ) -> tuple[TimeWindowPartitionsDefinition, TimeWindowPartitionsDefinition]:
        if not isinstance(from_def, TimeWindowPartitionsDefinition) or not isinstance(
            to_def, TimeWindowPartitionsDefinition
        ):
            raise DefinitionError(
                "TimeWindowPartitionMapping maps between time-window partitions; got "
                f"{from_def} and {to_def}"
            )
        if from_def.timezone != to_def.timezone:
            raise DefinitionError(
                f"TimeWindowPartitionMapping: time zones {from_def.timezone} and {to_def.timezone} differ"
            )
        return from_def, to_def

    @staticmethod
    def _windows(
        partitions_def: TimeWindowPartitionsDefinition, keys: Sequence[str]
    ) -> list[TimeWindow]:
        """The keys' windows, contiguous ones merged."""
        windows = sorted(
            (partitions_def.time_window_for_partition_key(k) for k in keys),
            key=lambda w: w.start.timestamp(),
        )
        merged: list[TimeWindow] = []
        for window in windows:
            if merged and window.start.timestamp() <= merged[-1].end.timestamp():
                if window.end.timestamp() > merged[-1].end.timestamp():
                    merged[-1] = TimeWindow(merged[-1].start, window.end)
            else:
                merged.append(window)
        return merged

    @staticmethod
    def _align(
        from_def: TimeWindowPartitionsDefinition,
        to_def: TimeWindowPartitionsDefinition,
        window: TimeWindow,
    ) -> TimeWindow:
        """The `to_def` partitions overlapping `window`, as one window."""
        if from_def.cron_schedule == to_def.cron_schedule:
            return window
        start_key = to_def.get_partition_key_for_timestamp(window.start.timestamp())
        end_key = to_def.get_partition_key_for_timestamp(window.end.timestamp(), end_closed=True)
        return TimeWindow(
            to_def.start_time_for_partition_key(start_key),
            to_def.end_time_for_partition_key(end_key),
        )

    def _keys_in(
        self,
        to_def: TimeWindowPartitionsDefinition,
        windows: Sequence[TimeWindow],
        current_time: dt.datetime | None,
        upstream: bool,
    ) -> list[str]:
        keys: list[str] = []
        for window in windows:
            if window.start.timestamp() < window.end.timestamp():
                keys.extend(to_def.get_partition_keys_in_time_window(window))
        keys = list(dict.fromkeys(keys))
        first = to_def.get_first_partition_window(current_time)
        last = to_def.get_last_partition_window(current_time)
        found: list[str] = []
        missing: list[str] = []
        if first is None or last is None:
            missing = keys
        else:
            low, high = first.start.timestamp(), last.start.timestamp()
            for key in keys:
                start = to_def.start_time_for_partition_key(key).timestamp()
                (found if low <= start <= high else missing).append(key)
        if missing and upstream and not self.allow_nonexistent_upstream_partitions:
            raise PartitionKeyError(
                f"upstream partitions {missing[:5]}{' ...' if len(missing) > 5 else ''} do not "
                f"exist in {to_def}; TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True) "
                "skips them"
            )
        return found

    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        down, up = self._time_defs(downstream_partitions_def, upstream_partitions_def)
        if downstream_partition_keys is None:
            return list(up.get_partition_keys(current_time))
        windows = [
            self._align(
                down,
                up,
                TimeWindow(
                    _shift(down, w.start, self.start_offset), _shift(down, w.end, self.end_offset)
                ),
            )
            for w in self._windows(down, downstream_partition_keys)
        ]
        return self._keys_in(up, windows, current_time, upstream=True)

    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        up, down = self._time_defs(upstream_partitions_def, downstream_partitions_def)
        if upstream_partition_keys is None:
            return list(down.get_partition_keys(current_time))
        windows = []
        for window in self._windows(up, upstream_partition_keys):
            aligned = self._align(up, down, window)
            # The other way round the offsets change sides and sign (Dagster's rule).
            windows.append(
                TimeWindow(
                    _shift(down, aligned.start, -self.end_offset),
                    _shift(down, aligned.end, -self.start_offset),
                )
            )
        return self._keys_in(down, windows, current_time, upstream=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeWindowPartitionMapping) and (
            self.start_offset,
            self.end_offset,
            self.allow_nonexistent_upstream_partitions,
        ) == (other.start_offset, other.end_offset, other.allow_nonexistent_upstream_partitions)

    def __hash__(self) -> int:
        return hash(
            (self.start_offset, self.end_offset, self.allow_nonexistent_upstream_partitions)
        )

    def __repr__(self) -> str:
        return f"TimeWindowPartitionMapping(start_offset={self.start_offset}, end_offset={self.end_offset})"


class MultiToSingleDimensionPartitionMapping(PartitionMapping):
    """Between a multi-partitioned asset and a single-partitioned one sharing one of its
    dimensions: a single key maps to every multi key with it in that dimension."""

    def __init__(self, partition_dimension_name: str | None = None):
        self.partition_dimension_name = partition_dimension_name

    def _dimension(self, multi: MultiPartitionsDefinition, single: PartitionsDefinition) -> str:
        if self.partition_dimension_name is not None:
            multi.get_partitions_def_for_dimension(self.partition_dimension_name)
            return self.partition_dimension_name
        matches = [d.name for d in multi.partitions_defs if d.partitions_def == single]
        if len(matches) != 1:
            raise DefinitionError(
                f"MultiToSingleDimensionPartitionMapping: name the dimension of {multi} that "
                f"{single} is (partition_dimension_name=)"
            )
        return matches[0]

    def _split(
        self, from_def: PartitionsDefinition | None, to_def: PartitionsDefinition | None
    ) -> tuple[MultiPartitionsDefinition, PartitionsDefinition, bool]:
        if isinstance(from_def, MultiPartitionsDefinition) and to_def is not None:
            return from_def, to_def, True
        if isinstance(to_def, MultiPartitionsDefinition) and from_def is not None:
            return to_def, from_def, False
        raise DefinitionError(
            f"MultiToSingleDimensionPartitionMapping maps a multi-partitions definition to one of its dimensions; got {from_def} and {to_def}"
        )

    def _map(
        self,
        keys: Sequence[str] | None,
        from_def: PartitionsDefinition | None,
        to_def: PartitionsDefinition,
        current_time: dt.datetime | None,
        store: DynamicPartitionsStore | None,
    ) -> list[str]:
        if keys is None:
            return list(to_def.get_partition_keys(current_time, store))
        multi, single, from_multi = self._split(from_def, to_def)
        dimension = self._dimension(multi, single)
        if from_multi:
            values = [
                multi.get_partition_key_from_str(k).keys_by_dimension[dimension] for k in keys
            ]
            return list(dict.fromkeys(values))
        wanted = set(keys)
        return [
            k
            for k in multi.get_partition_keys(current_time, store)
            if isinstance(k, MultiPartitionKey) and k.keys_by_dimension[dimension] in wanted
        ]

    def get_upstream_partition_keys(
        self,
        downstream_partition_keys: Sequence[str] | None,
        downstream_partitions_def: PartitionsDefinition | None,
        upstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        return self._map(
            downstream_partition_keys,
            downstream_partitions_def,
            upstream_partitions_def,
            current_time,
            dynamic_partitions_store,
        )

    def get_downstream_partition_keys(
        self,
        upstream_partition_keys: Sequence[str] | None,
        upstream_partitions_def: PartitionsDefinition | None,
        downstream_partitions_def: PartitionsDefinition,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> list[str]:
        return self._map(
            upstream_partition_keys,
            upstream_partitions_def,
            downstream_partitions_def,
            current_time,
            dynamic_partitions_store,
        )

    def __repr__(self) -> str:
        return f"MultiToSingleDimensionPartitionMapping({self.partition_dimension_name!r})"


def _single_to_multi_dimension(
    upstream: PartitionsDefinition | None, downstream: PartitionsDefinition | None
) -> bool:
    """Whether one side is multi and the other is exactly one of its dimensions."""
    pair = (upstream, downstream)
    for multi, single in (pair, pair[::-1]):
        if (
            isinstance(multi, MultiPartitionsDefinition)
            and single is not None
            and not isinstance(single, MultiPartitionsDefinition)
        ):
            return sum(d.partitions_def == single for d in multi.partitions_defs) == 1
    return False


def infer_partition_mapping(
    partition_mapping: PartitionMapping | None,
    downstream_partitions_def: PartitionsDefinition | None,
    upstream_partitions_def: PartitionsDefinition | None,
) -> PartitionMapping:
    """The mapping Dagster applies when an asset dependency names none."""
    if partition_mapping is not None:
        return partition_mapping
    if upstream_partitions_def is not None and downstream_partitions_def is not None:
        if _single_to_multi_dimension(upstream_partitions_def, downstream_partitions_def):
            return MultiToSingleDimensionPartitionMapping()
        if isinstance(upstream_partitions_def, TimeWindowPartitionsDefinition) and isinstance(
            downstream_partitions_def, TimeWindowPartitionsDefinition
        ):
            return TimeWindowPartitionMapping()
        return IdentityPartitionMapping()
    return AllPartitionMapping()

"""Partitions definitions that are not time windows: static, dynamic and multi-dimensional.

Names and semantics are Dagster's (a job file written for Dagster runs unchanged): keys
are strings, listed in a definition's own order; a key range names its first and last key
and includes both.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from opgraph.errors import DefinitionError, OpgraphError

# Dagster reserves these: `a...b` is how a range of keys is written (UI, CLI), and control
# characters do not display.
INVALID_KEY_SUBSTRINGS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")
MULTIPARTITION_KEY_DELIMITER = "|"
# A static key of a multi-partitions dimension may not hold the delimiter or range syntax.
INVALID_MULTI_DIMENSION_CHARACTERS = frozenset("|,[]")


class PartitionKeyError(OpgraphError):
    """A partition key (or range) that the definition does not have."""


class PartitionKeyRange(NamedTuple):
    """The keys from `start` to `end`, both included, in the definition's order."""

    start: str
    end: str


class TimeWindow(NamedTuple):
    """[start, end) of a time partition, aware datetimes in the definition's time zone."""

    start: dt.datetime
    end: dt.datetime


@runtime_checkable
class DynamicPartitionsStore(Protocol):
    """Where a DynamicPartitionsDefinition's keys live: the instance (its storage)."""

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]: ...

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool: ...


# The store that dynamic definitions read when the caller passes none: set while a run,
# a sensor or a schedule is evaluated (Dagster's partition loading context).
_current_store: contextvars.ContextVar[DynamicPartitionsStore | None] = contextvars.ContextVar(
    "opgraph_dynamic_partitions_store", default=None
)


@contextlib.contextmanager
def dynamic_partitions_store(store: DynamicPartitionsStore | None) -> Iterator[None]:
    """Within the block, dynamic definitions read their keys from `store`."""
    token = _current_store.set(store)
    try:
        yield
    finally:
        _current_store.reset(token)


def check_key_characters(keys: Sequence[str], field: str) -> list[str]:
    """The keys, if each is a string without the substrings Dagster reserves."""
    if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
        raise DefinitionError(f"{field} must be a list of strings, got {keys!r}")
    for key in keys:
        found = [s for s in INVALID_KEY_SUBSTRINGS if s in key]
        if found:
            raise DefinitionError(
                f"partition key {key!r} in {field} contains {found}: '...' writes a range "
                "of keys and control characters do not display"
            )
    return list(keys)


def check_partition_keys(keys: Sequence[str], field: str) -> list[str]:
    checked = check_key_characters(keys, field)
    seen: set[str] = set()
    duplicates = sorted({k for k in checked if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    if duplicates:
        raise DefinitionError(f"partition keys must be unique; {field} repeats {duplicates}")
    return checked


class PartitionsDefinition(ABC):
    """How an asset or a job splits into partition keys."""

    @abstractmethod
    def get_partition_keys(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[str]:
        """Every key, in order, as of `current_time` (time windows) and `dynamic_partitions_store`."""

    def get_partition_keys_in_range(
        self,
        partition_key_range: PartitionKeyRange,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[str]:
        keys = list(self.get_partition_keys(dynamic_partitions_store=dynamic_partitions_store))
        start, end = partition_key_range
        for which, key in (("start", start), ("end", end)):
            if key not in keys:
                raise PartitionKeyError(
                    f"partition key range {which} {key!r} is not a key of {self}"
                )
        first, last = keys.index(start), keys.index(end)
        if first > last:
            raise PartitionKeyError(
                f"partition key range {start!r}...{end!r} is backwards: {start!r} comes "
                f"after {end!r} in {self}"
            )
        return keys[first : last + 1]

    def has_partition_key(
        self,
        partition_key: str,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> bool:
        return partition_key in self.get_partition_keys(current_time, dynamic_partitions_store)

    def get_first_partition_key(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> str | None:
        keys = self.get_partition_keys(current_time, dynamic_partitions_store)
        return keys[0] if keys else None

    def get_last_partition_key(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> str | None:
        keys = self.get_partition_keys(current_time, dynamic_partitions_store)
        return keys[-1] if keys else None

    def get_num_partitions(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> int:
        return len(self.get_partition_keys(current_time, dynamic_partitions_store))

    def validate_partition_key(
        self,
        partition_key: str,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> str:
        """The key, or a PartitionKeyError naming it and the definition."""
        if not isinstance(partition_key, str) or not self.has_partition_key(
            partition_key, current_time, dynamic_partitions_store
        ):
            raise PartitionKeyError(f"{partition_key!r} is not a partition key of {self}")
        return partition_key


class StaticPartitionsDefinition(PartitionsDefinition):
    """A fixed list of keys (regions, customers)."""

    def __init__(self, partition_keys: Sequence[str]):
        self._partition_keys = check_partition_keys(partition_keys, "partition_keys")
        self._index = set(self._partition_keys)

    def get_partition_keys(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[str]:
        return list(self._partition_keys)

    def has_partition_key(
        self,
        partition_key: str,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> bool:
        return partition_key in self._index

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StaticPartitionsDefinition)
            and self._partition_keys == other._partition_keys
        )

    def __hash__(self) -> int:
        return hash(tuple(self._partition_keys))

    def __repr__(self) -> str:
        return f"StaticPartitionsDefinition(partition_keys={self._partition_keys})"

    __str__ = __repr__


class DynamicPartitionsDefinition(PartitionsDefinition):
    """Keys added and deleted at run time (`instance.add_dynamic_partitions`, a sensor's
    `SensorResult(dynamic_partitions_requests=...)`), stored under `name`."""

    def __init__(self, partition_fn: Any = None, name: str | None = None):
        if (partition_fn is None) == (name is None):
            raise DefinitionError(
                "DynamicPartitionsDefinition takes exactly one of name= (keys stored in "
                "the instance) or partition_fn= (keys computed by a function)"
            )
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise DefinitionError(
                f"DynamicPartitionsDefinition name must be a non-empty string, got {name!r}"
            )
        self.name = name
        self.partition_fn = partition_fn

    def _store(self, store: DynamicPartitionsStore | None) -> DynamicPartitionsStore:
        found = store if store is not None else _current_store.get()
        if found is None:
            raise PartitionKeyError(
                f"the keys of DynamicPartitionsDefinition {self.name!r} are stored in the "
                "instance: pass dynamic_partitions_store=instance"
            )
        return found

    def get_partition_keys(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[str]:
        if self.partition_fn is not None:
            return list(self.partition_fn(current_time))
        assert self.name is not None
        return list(self._store(dynamic_partitions_store).get_dynamic_partitions(self.name))

    def has_partition_key(
        self,
        partition_key: str,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> bool:
        if self.partition_fn is not None:
            return partition_key in self.get_partition_keys(current_time)
        assert self.name is not None
        return self._store(dynamic_partitions_store).has_dynamic_partition(self.name, partition_key)

    def build_add_request(self, partition_keys: Sequence[str]) -> AddDynamicPartitionsRequest:
        return AddDynamicPartitionsRequest(self._named(), list(partition_keys))

    def build_delete_request(self, partition_keys: Sequence[str]) -> DeleteDynamicPartitionsRequest:
        return DeleteDynamicPartitionsRequest(self._named(), list(partition_keys))

    def _named(self) -> str:
        if self.name is None:
            raise DefinitionError(
                "only a DynamicPartitionsDefinition with a name= stores keys; this one "
                "computes them with partition_fn"
            )
        return self.name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DynamicPartitionsDefinition)
            and self.name == other.name
            and self.partition_fn == other.partition_fn
        )

    def __hash__(self) -> int:
        return hash((self.name, self.partition_fn))

    def __repr__(self) -> str:
        return f"DynamicPartitionsDefinition(name={self.name!r})"

    __str__ = __repr__


class AddDynamicPartitionsRequest(NamedTuple):
    """A sensor asks to add these keys to a dynamic partitions definition."""

    partitions_def_name: str
    partition_keys: Sequence[str]


class DeleteDynamicPartitionsRequest(NamedTuple):
    partitions_def_name: str
    partition_keys: Sequence[str]


class MultiPartitionKey(str):
    """A key of a MultiPartitionsDefinition: the dimensions' keys, ordered by dimension
    name and joined by '|' (`"2024-01-01|eu"`), with `keys_by_dimension` to read them."""

    keys_by_dimension: dict[str, str]

    def __new__(cls, keys_by_dimension: Mapping[str, str]) -> MultiPartitionKey:
        ordered = dict(sorted(keys_by_dimension.items()))
        for name, key in ordered.items():
            if not isinstance(key, str):
                raise DefinitionError(
                    f"dimension {name!r} of a MultiPartitionKey must be a string key, got {key!r}"
                )
        instance = super().__new__(cls, MULTIPARTITION_KEY_DELIMITER.join(ordered.values()))
        instance.keys_by_dimension = ordered
        return instance

    def __getnewargs__(self) -> tuple[dict[str, str]]:  # type: ignore[override]
        return (self.keys_by_dimension,)


class PartitionDimensionDefinition(NamedTuple):
    name: str
    partitions_def: PartitionsDefinition


class MultiPartitionsDefinition(PartitionsDefinition):
    """The cross product of two definitions; keys are MultiPartitionKeys, ordered by the
    dimension whose name sorts first, then by the other."""

    def __init__(self, partitions_defs: Mapping[str, PartitionsDefinition]):
        from opgraph.partitions.time_window import TimeWindowPartitionsDefinition

        if not isinstance(partitions_defs, Mapping) or len(partitions_defs) != 2:
            raise DefinitionError(
                "MultiPartitionsDefinition takes exactly two dimensions {name: "
                f"PartitionsDefinition}}, got {partitions_defs!r}"
            )
        allowed = (
            StaticPartitionsDefinition,
            TimeWindowPartitionsDefinition,
            DynamicPartitionsDefinition,
        )
        for name, part in partitions_defs.items():
            if not isinstance(part, allowed):
                raise DefinitionError(
                    f"dimension {name!r} of a MultiPartitionsDefinition is a "
                    f"{type(part).__name__}; expected a static, time-window or dynamic definition"
                )
            if isinstance(part, DynamicPartitionsDefinition) and part.name is None:
                raise DefinitionError(
                    f"dimension {name!r}: a DynamicPartitionsDefinition needs a name="
                )
            if isinstance(part, StaticPartitionsDefinition):
                bad = [
                    k
                    for k in part.get_partition_keys()
                    if INVALID_MULTI_DIMENSION_CHARACTERS & set(k)
                ]
                if bad:
                    raise DefinitionError(
                        f"dimension {name!r} has keys {bad} with one of | , [ ]; a "
                        "multi-partition key cannot contain them"
                    )
        self._dimensions = sorted(
            (PartitionDimensionDefinition(n, p) for n, p in partitions_defs.items()),
            key=lambda d: d.name,
        )

    @property
    def partitions_defs(self) -> Sequence[PartitionDimensionDefinition]:
        return list(self._dimensions)

    @property
    def partition_dimension_names(self) -> list[str]:
        return [d.name for d in self._dimensions]

    def get_partitions_def_for_dimension(self, dimension_name: str) -> PartitionsDefinition:
        for dim in self._dimensions:
            if dim.name == dimension_name:
                return dim.partitions_def
        raise DefinitionError(
            f"no dimension {dimension_name!r}; the dimensions are {self.partition_dimension_names}"
        )

    def get_partition_key_from_str(self, partition_key_str: str) -> MultiPartitionKey:
        parts = partition_key_str.split(MULTIPARTITION_KEY_DELIMITER)
        if len(parts) != len(self._dimensions):
            raise PartitionKeyError(
                f"{partition_key_str!r} is not a key of {self}: expected "
                f"{len(self._dimensions)} keys joined by '|' "
                f"({'|'.join(self.partition_dimension_names)})"
            )
        return MultiPartitionKey({d.name: k for d, k in zip(self._dimensions, parts, strict=True)})

    def _product(self, key_lists: Sequence[Sequence[str]]) -> list[MultiPartitionKey]:
        names = self.partition_dimension_names
        return [
            MultiPartitionKey(dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*key_lists)
            # A time key in a custom format could hold '|': it cannot be told apart.
            if not any(MULTIPARTITION_KEY_DELIMITER in k for k in combo)
        ]

    def get_partition_keys(
        self,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[MultiPartitionKey]:
        return self._product(
            [
                d.partitions_def.get_partition_keys(current_time, dynamic_partitions_store)
                for d in self._dimensions
            ]
        )

    def get_partition_keys_in_range(
        self,
        partition_key_range: PartitionKeyRange,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> Sequence[str]:
        start = self.get_partition_key_from_str(partition_key_range.start)
        end = self.get_partition_key_from_str(partition_key_range.end)
        return self._product(
            [
                d.partitions_def.get_partition_keys_in_range(
                    PartitionKeyRange(
                        start.keys_by_dimension[d.name], end.keys_by_dimension[d.name]
                    ),
                    dynamic_partitions_store,
                )
                for d in self._dimensions
            ]
        )

    def has_partition_key(
        self,
        partition_key: str,
        current_time: dt.datetime | None = None,
        dynamic_partitions_store: DynamicPartitionsStore | None = None,
    ) -> bool:
        try:
            key = self.get_partition_key_from_str(partition_key)
        except PartitionKeyError:
            return False
        return all(
            d.partitions_def.has_partition_key(
                key.keys_by_dimension[d.name], current_time, dynamic_partitions_store
            )
            for d in self._dimensions
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, MultiPartitionsDefinition) and self._dimensions == other._dimensions
        )

    def __hash__(self) -> int:
        return hash(tuple((d.name, repr(d.partitions_def)) for d in self._dimensions))

    def __repr__(self) -> str:
        dims = ", ".join(f"{d.name}: {d.partitions_def!r}" for d in self._dimensions)
        return f"MultiPartitionsDefinition({{{dims}}})"

    __str__ = __repr__

"""The declarative parts of assets: AssetIn, AssetOut, AssetSpec, AssetCheckSpec."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from opgraph.assets.keys import AssetCheckKey, AssetKey, to_asset_key
from opgraph.errors import DefinitionError

KIND_TAG_PREFIX = "dagster/kind/"


class AssetCheckSeverity(str, Enum):
    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True, init=False)
class AssetDep:
    """A dependency without data, given in `deps=[...]`, with the partition mapping that
    says which upstream partitions a partition waits for (Dagster's `AssetDep`)."""

    asset_key: AssetKey
    partition_mapping: Any = None

    def __init__(self, asset: Any, *, partition_mapping: Any = None):
        from opgraph.partitions.mappings import PartitionMapping

        if partition_mapping is not None and not isinstance(partition_mapping, PartitionMapping):
            raise DefinitionError(
                f"AssetDep({asset!r}): partition_mapping must be a PartitionMapping, "
                f"got {partition_mapping!r}"
            )
        object.__setattr__(self, "asset_key", to_asset_key(asset))
        object.__setattr__(self, "partition_mapping", partition_mapping)

    @property
    def key(self) -> AssetKey:  # what to_asset_key reads
        return self.asset_key


def dep_partition_mappings(values: Iterable[Any] | None) -> dict[AssetKey, Any]:
    """The partition mappings the `AssetDep`s among `deps=[...]` give, by upstream key."""
    return {
        v.asset_key: v.partition_mapping
        for v in values or ()
        if isinstance(v, AssetDep) and v.partition_mapping is not None
    }


def to_asset_deps(values: Iterable[Any] | None) -> tuple[AssetDep, ...]:
    """`deps=[...]` of an AssetSpec as Dagster keeps them: one AssetDep per upstream key."""
    values = list(values or ())
    given = {v.asset_key: v for v in values if isinstance(v, AssetDep)}
    keys = to_asset_keys(values)
    return tuple(given.get(key) or AssetDep(key) for key in keys)


def to_asset_keys(values: Iterable[Any] | None) -> list[AssetKey]:
    """Keys from `deps=[...]`: asset defs (all their keys), specs, keys, strings."""
    keys: list[AssetKey] = []
    for value in values or ():
        many = getattr(value, "keys", None)
        if isinstance(many, (set, frozenset, list, tuple)) and not isinstance(value, (list, tuple)):
            keys.extend(sorted(many))
        else:
            keys.append(to_asset_key(value))
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class AssetIn:
    """An upstream asset a parameter loads: `ins={"orders": AssetIn(key="raw/orders")}`."""

    key: Any = None
    metadata: Mapping[str, Any] | None = None
    key_prefix: str | Sequence[str] | None = None
    input_manager_key: str | None = None
    dagster_type: Any = None
    # Which upstream partitions a partition reads (opgraph.partitions.mappings; None:
    # Dagster's default for the two partitions definitions).
    partition_mapping: Any = None

    def __post_init__(self) -> None:  # Dagster's AssetIn.key is an AssetKey
        if self.key is not None:
            object.__setattr__(self, "key", to_asset_key(self.key))

    def resolve_key(self, param_name: str) -> AssetKey:
        if self.key is not None:
            return to_asset_key(self.key)
        key = AssetKey([param_name])
        return key.with_prefix(self.key_prefix) if self.key_prefix else key


@dataclass(frozen=True)
class AssetOut:
    """One output of a `@multi_asset`; the asset key defaults to the output's name."""

    key: Any = None
    key_prefix: str | Sequence[str] | None = None
    dagster_type: Any = None
    description: str | None = None
    is_required: bool = True
    io_manager_key: str | None = None
    metadata: Mapping[str, Any] | None = None
    group_name: str | None = None
    code_version: str | None = None
    tags: Mapping[str, str] | None = None
    kinds: set[str] | None = None
    owners: Sequence[str] | None = None
    automation_condition: Any = None

    def __post_init__(self) -> None:  # Dagster's AssetOut.key is an AssetKey
        if self.key is not None:
            object.__setattr__(self, "key", to_asset_key(self.key))

    def resolve_key(self, output_name: str) -> AssetKey:
        if self.key is not None:
            return to_asset_key(self.key)
        key = AssetKey([output_name])
        return key.with_prefix(self.key_prefix) if self.key_prefix else key


@dataclass(frozen=True)
class AssetSpec:
    """An asset described without a function: an external asset, or one output of a
    `@multi_asset(specs=[...])`."""

    key: AssetKey
    deps: tuple[AssetDep, ...] = ()  # Dagster's: AssetDeps (their keys: dep.asset_key)
    description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    group_name: str | None = None
    skippable: bool = False
    code_version: str | None = None
    owners: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    kinds: frozenset[str] = frozenset()
    automation_condition: Any = None
    # From AssetDep(partition_mapping=) among deps, by upstream key.
    partition_mappings: Mapping[AssetKey, Any] = field(default_factory=dict)

    def __init__(
        self,
        key: Any,
        *,
        deps: Iterable[Any] | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        group_name: str | None = None,
        skippable: bool = False,
        code_version: str | None = None,
        owners: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: set[str] | None = None,
        automation_condition: Any = None,
        partition_mappings: Mapping[AssetKey, Any] | None = None,  # kept by replace()
    ):
        object.__setattr__(self, "key", to_asset_key(key))
        object.__setattr__(self, "deps", to_asset_deps(deps))
        mappings = {**(partition_mappings or {}), **dep_partition_mappings(deps)}
        object.__setattr__(self, "partition_mappings", mappings)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "metadata", dict(metadata or {}))
        object.__setattr__(self, "group_name", group_name)
        object.__setattr__(self, "skippable", skippable)
        object.__setattr__(self, "code_version", code_version)
        object.__setattr__(self, "owners", tuple(owners or ()))
        # As in Dagster, kinds are tags too: each is `dagster/kind/<kind>` in `tags`, and
        # such a tag given in `tags` is a kind.
        all_tags = {**(tags or {}), **{KIND_TAG_PREFIX + kind: "" for kind in kinds or ()}}
        tagged = {k[len(KIND_TAG_PREFIX) :] for k in all_tags if k.startswith(KIND_TAG_PREFIX)}
        object.__setattr__(self, "tags", all_tags)
        object.__setattr__(self, "kinds", frozenset(tagged))
        object.__setattr__(self, "automation_condition", automation_condition)

    def replace_attributes(self, **changes: Any) -> AssetSpec:
        return replace(self, **changes)


@dataclass(frozen=True)
class AssetCheckSpec:
    """A check of one asset, declared on `@asset(check_specs=[...])` or by `@asset_check`."""

    name: str
    asset: Any
    description: str | None = None
    blocking: bool = False
    additional_deps: tuple[Any, ...] = ()
    metadata: Mapping[str, Any] | None = None

    @property
    def asset_key(self) -> AssetKey:
        return to_asset_key(self.asset)

    @property
    def key(self) -> AssetCheckKey:
        return AssetCheckKey(self.asset_key, self.name)

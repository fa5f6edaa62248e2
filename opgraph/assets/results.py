"""What asset functions return or log: MaterializeResult, AssetCheckResult, and the
AssetMaterialization / AssetObservation events an op may log itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opgraph.assets.keys import AssetKey, to_asset_key
from opgraph.assets.specs import AssetCheckSeverity


@dataclass
class AssetCheckResult:
    passed: bool
    asset_key: Any = None
    check_name: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR
    description: str | None = None

    def __post_init__(self) -> None:
        if self.asset_key is not None:
            self.asset_key = to_asset_key(self.asset_key)


@dataclass
class MaterializeResult:
    """An asset's result when its function stores the data itself (no IO manager)."""

    asset_key: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    check_results: Sequence[AssetCheckResult] = ()
    data_version: Any = None
    value: Any = None  # Dagster 1.9+: a value for the IO manager

    def __post_init__(self) -> None:
        if self.asset_key is not None:
            self.asset_key = to_asset_key(self.asset_key)


@dataclass
class ObserveResult:
    asset_key: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


class _AssetEvent:
    kind = ""

    def __init__(
        self,
        asset_key: Any,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        partition: str | None = None,
        tags: Mapping[str, str] | None = None,
    ):
        self.asset_key: AssetKey = to_asset_key(asset_key)
        self.description = description
        self.metadata = dict(metadata or {})
        self.partition = partition
        self.tags = dict(tags or {})


class AssetMaterialization(_AssetEvent):
    """Logged by an op (yield it, or `context.log_event(...)`) for data it wrote itself."""

    @staticmethod
    def file(path: str, description: str | None = None) -> AssetMaterialization:
        from opgraph.metadata import MetadataValue

        return AssetMaterialization(path, description, {"path": MetadataValue.path(path)})


class AssetObservation(_AssetEvent):
    """Metadata seen about an asset without materializing it."""

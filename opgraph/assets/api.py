"""The asset API names `opgraph` exports (Dagster's names)."""

from opgraph.assets.checks import AssetChecksDefinition, asset_check
from opgraph.assets.context import AssetExecutionContext
from opgraph.assets.data_versions import DataVersion
from opgraph.assets.decorators import asset, multi_asset
from opgraph.assets.definition import AssetsDefinition
from opgraph.assets.graph_assets import graph_asset, graph_multi_asset
from opgraph.assets.job import define_asset_job
from opgraph.assets.keys import AssetCheckKey, AssetKey
from opgraph.assets.materialize import materialize, materialize_to_memory
from opgraph.assets.results import (
    AssetCheckResult,
    AssetMaterialization,
    AssetObservation,
    MaterializeResult,
    ObserveResult,
)
from opgraph.assets.selection import AssetSelection
from opgraph.assets.sensors import (
    AssetSensorDefinition,
    MultiAssetSensorDefinition,
    MultiAssetSensorEvaluationContext,
    asset_sensor,
    multi_asset_sensor,
)
from opgraph.assets.specs import (
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetIn,
    AssetOut,
    AssetSpec,
)

__all__ = [
    "AssetCheckKey",
    "AssetCheckResult",
    "AssetCheckSeverity",
    "AssetCheckSpec",
    "AssetChecksDefinition",
    "AssetDep",
    "AssetExecutionContext",
    "AssetIn",
    "AssetKey",
    "AssetMaterialization",
    "AssetObservation",
    "AssetOut",
    "AssetSelection",
    "AssetSensorDefinition",
    "AssetSpec",
    "AssetsDefinition",
    "DataVersion",
    "MaterializeResult",
    "MultiAssetSensorDefinition",
    "MultiAssetSensorEvaluationContext",
    "ObserveResult",
    "asset",
    "asset_check",
    "asset_sensor",
    "define_asset_job",
    "graph_asset",
    "graph_multi_asset",
    "materialize",
    "materialize_to_memory",
    "multi_asset",
    "multi_asset_sensor",
]

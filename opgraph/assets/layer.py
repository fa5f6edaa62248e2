"""The asset layer of a compiled job: which op outputs materialize which asset, which op
inputs load which asset, which outputs carry check results. The step runner asks it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opgraph.assets.keys import AssetCheckKey, AssetKey


@dataclass
class AssetLayer:
    # (flattened op handle, output name) -> key it materializes
    output_keys: dict[tuple[str, str], AssetKey] = field(default_factory=dict)
    # (flattened op handle, input name) -> key it loads (when no upstream step feeds it)
    input_keys: dict[tuple[str, str], AssetKey] = field(default_factory=dict)
    check_outputs: dict[tuple[str, str], AssetCheckKey] = field(default_factory=dict)
    code_versions: dict[AssetKey, str | None] = field(default_factory=dict)
    # key -> the keys it depends on (data inputs and deps=): its input data versions
    upstream_keys: dict[AssetKey, frozenset[AssetKey]] = field(default_factory=dict)
    selected_keys: frozenset[AssetKey] = frozenset()
    selected_checks: frozenset[AssetCheckKey] = frozenset()
    check_severity_blocking: dict[AssetCheckKey, bool] = field(default_factory=dict)
    # top-level node name -> its assets definition: what an op inside a graph asset is part of
    assets_by_node: dict[str, Any] = field(default_factory=dict)

    def assets_def_for_handle(self, handle: str) -> Any:
        return self.assets_by_node.get(handle.split(".", 1)[0])

    def key_for_output(self, handle: str, output_name: str) -> AssetKey | None:
        return self.output_keys.get((handle, output_name))

    def key_for_input(self, handle: str, input_name: str) -> AssetKey | None:
        return self.input_keys.get((handle, input_name))

    def check_for_output(self, handle: str, output_name: str) -> AssetCheckKey | None:
        return self.check_outputs.get((handle, output_name))


def asset_layer_of(job: Any) -> AssetLayer | None:
    return getattr(job, "asset_layer", None)

"""An asset graph read from asset nodes (JSON from a code location), so that a selection
(`AssetSelection`, the CLI's `--select`) resolves without importing user code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opgraph.assets.asset_graph import AssetGraph
from opgraph.assets.definition import AssetAttributes
from opgraph.assets.keys import AssetKey


class NodeGraph:
    """The parts of AssetGraph a selection reads."""

    def __init__(self, nodes: Iterable[Mapping[str, Any]]):
        self.nodes = {AssetKey(n["key"]): n for n in nodes}
        self.parents = {k: frozenset(AssetKey(d) for d in n["deps"]) for k, n in self.nodes.items()}
        self.children: dict[AssetKey, set[AssetKey]] = {k: set() for k in self.nodes}
        for key, parents in self.parents.items():
            for parent in parents:
                self.children.setdefault(parent, set()).add(key)
        self.assets_def_by_key: dict[AssetKey, Any] = {}  # subsetting is the location's call

    @property
    def all_keys(self) -> set[AssetKey]:
        return set(self.nodes)

    @property
    def materializable_keys(self) -> set[AssetKey]:
        return {k for k, n in self.nodes.items() if n.get("is_executable")}

    def attributes(self, key: AssetKey) -> AssetAttributes:
        node = self.nodes.get(key)
        if node is None:
            return AssetAttributes()
        return AssetAttributes(
            description=node.get("description"),
            group_name=node.get("group_name") or "default",
            tags=dict(node.get("tags") or {}),
            kinds=frozenset(node.get("kinds") or ()),
            code_version=node.get("code_version"),
        )

    upstream = AssetGraph.upstream
    downstream = AssetGraph.downstream
    _walk = staticmethod(AssetGraph._walk)

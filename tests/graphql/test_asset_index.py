"""The asset index is kept while no code location's version changes, and rebuilt when one
does (or when a location has no version to compare)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opgraph.workspace.base import LocationState, LocationStatus
from opgraph_app.graphql.asset_index import asset_index


@dataclass
class FakeLocation:
    name: str
    version: str | None
    nodes: list[dict[str, Any]] = field(default_factory=list)
    reads: int = 0

    def status(self) -> LocationStatus:
        return LocationStatus(name=self.name, state=LocationState.LOADED, version=self.version)

    def asset_nodes(self) -> list[dict[str, Any]]:
        self.reads += 1
        return list(self.nodes)


@dataclass
class FakeWorkspace:
    located: list[FakeLocation]

    def locations(self) -> list[FakeLocation]:
        return self.located


def _node(
    key: str, group: str, deps: tuple[str, ...] = (), executable: bool = True
) -> dict[str, Any]:
    return {
        "key": key.split("/"),
        "group_name": group,
        "deps": [d.split("/") for d in deps],
        "kinds": ["table"],
        "owners": [f"team:{group}"],
        "is_executable": executable,
    }


def test_kept_while_versions_hold_and_rebuilt_when_one_changes() -> None:
    raw = FakeLocation("raw", "v1", [_node("a", "raw"), _node("shared", "raw", executable=False)])
    marts = FakeLocation("marts", "v1", [_node("b", "marts", ("a",)), _node("shared", "marts")])
    workspace = FakeWorkspace([raw, marts])

    first = asset_index(workspace)
    assert [("/".join(n["key"]), loc) for loc, n in first.nodes] == [
        ("a", "raw"),
        ("b", "marts"),
        ("shared", "marts"),  # the materializable definition wins over the external spec
    ]
    assert [(g.name, g.asset_count, g.upstream_groups) for g in first.groups] == [
        ("marts", 2, ["raw"]),
        ("raw", 1, []),
    ]
    assert first.owners == ["team:marts", "team:raw"]
    assert asset_index(workspace) is first and raw.reads == 1

    marts.version, marts.nodes = "v2", [_node("c", "marts", ("a",))]
    second = asset_index(workspace)
    assert second is not first and set(second.by_key) == {"a", "shared", "c"}

    raw.version = None  # no version: nothing to compare, so read every time
    assert asset_index(workspace) is not asset_index(workspace)

"""An in-memory AutomationData and a driver that keeps the state between evaluations as the
daemon does (condition semantics without storage or a clock), and a home for the part."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opgraph.automation.condition import EMPTY, AutomationCondition, Subset
from opgraph.automation.context import AssetEvaluation, evaluate_assets

UNPARTITIONED: Subset = frozenset({""})


@dataclass
class FakeAsset:
    deps: tuple[str, ...] = ()
    partitions: tuple[str, ...] | None = None  # None: unpartitioned; last = latest window
    code_version: str | None = None
    executable: bool = True


@dataclass
class FakeData:
    assets: dict[str, FakeAsset]
    updates: dict[str, dict[str, int]] = field(default_factory=dict)  # key -> partition -> id
    in_progress: dict[str, Subset] = field(default_factory=dict)
    failed: dict[str, Subset] = field(default_factory=dict)
    newest: int = 0

    def materialize(self, key: str, partition: str = "") -> None:
        self.newest += 1
        self.updates.setdefault(key, {})[partition] = self.newest

    def deps(self, key: str) -> list[str]:
        return list(self.assets[key].deps)

    def full_subset(self, key: str) -> Subset:
        parts = self.assets[key].partitions
        return UNPARTITIONED if parts is None else frozenset(parts)

    def materialized(self, key: str, candidate: Subset) -> Subset:
        return frozenset(p for p in candidate if p in self.updates.get(key, {}))

    def updated_since(self, key: str, after_event_id: int) -> Subset:
        return frozenset(p for p, i in self.updates.get(key, {}).items() if i > after_event_id)

    def run_in_progress(self, key: str) -> Subset:
        return self.in_progress.get(key, EMPTY)

    def backfill_in_progress(self, key: str) -> Subset:
        return EMPTY

    def execution_failed(self, key: str) -> Subset:
        return self.failed.get(key, EMPTY)

    def code_version(self, key: str) -> str | None:
        return self.assets[key].code_version

    def latest_time_window(self, key: str, lookback_seconds: float | None) -> Subset:
        parts = self.assets[key].partitions
        return UNPARTITIONED if parts is None else frozenset(parts[-1:])

    def same_run(self, parent: str, child: str) -> bool:
        return self.assets[parent].partitions == self.assets[child].partitions

    def upstream_subset(self, key: str, dep: str, subset: Subset) -> Subset:
        if self.assets[dep].partitions is None:
            return UNPARTITIONED if subset else EMPTY
        if self.assets[key].partitions is None:
            return self.full_subset(dep) if subset else EMPTY
        return subset

    def downstream_subset(self, dep: str, key: str, subset: Subset) -> Subset:
        if not subset:
            return EMPTY
        if self.assets[key].partitions is None:
            return UNPARTITIONED
        if self.assets[dep].partitions is None:
            return self.full_subset(key)
        return subset

    def executable(self, key: str) -> bool:
        return self.assets[key].executable

    def max_event_id(self) -> int:
        return self.newest


class Driver:
    """Evaluates every tick with the state the previous one left, like the daemon."""

    def __init__(self, data: FakeData, conditions: dict[str, AutomationCondition]):
        self.data = data
        self.conditions = {k: (c, c.unique_id()) for k, c in conditions.items()}
        self.states: dict[str, dict[str, Any]] = {}
        self.evaluation_id = 0
        self.last: dict[str, AssetEvaluation] = {}

    def tick(self, now: float = 0.0) -> dict[str, Subset]:
        self.evaluation_id += 1
        order = sorted(self.data.assets, key=self._depth)
        results = evaluate_assets(
            self.data, self.conditions, order, self.states, now, self.evaluation_id
        )
        self.last = {r.key: r for r in results}
        for result in results:
            self.states[result.key] = result.state
        return {r.key: r.requested for r in results if r.requested}

    def _depth(self, key: str) -> int:
        deps = self.data.assets[key].deps
        return 1 + max((self._depth(d) for d in deps), default=0)


def write_home(home: Path, assets: str, config: dict[str, Any]) -> Path:
    """OPGRAPH_HOME with `config` as instance.yaml and one location `auto` of `assets`."""
    home.mkdir(parents=True)
    (home / "assets.py").write_text(assets)
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": "assets.py", "location_name": "auto"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    return home

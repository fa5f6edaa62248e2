"""Evaluating conditions: the context a node sees, and one evaluation of every asset.

`evaluate_assets` is a function of the asset graph, the data of this tick (`AutomationData`,
read from storage once per tick and per asset as needed), the state the previous
evaluation left and `now`: tests and the benchmark call it with any `now`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from opgraph.automation.condition import AutomationCondition, Subset, node_id


class AutomationData(Protocol):
    """What conditions read about assets in one tick (see opgraph.automation.data)."""

    def deps(self, key: str) -> list[str]: ...
    def full_subset(self, key: str) -> Subset: ...
    def materialized(self, key: str, candidate: Subset) -> Subset: ...
    def updated_since(self, key: str, after_event_id: int) -> Subset: ...
    def run_in_progress(self, key: str) -> Subset: ...
    def backfill_in_progress(self, key: str) -> Subset: ...
    def execution_failed(self, key: str) -> Subset: ...
    def code_version(self, key: str) -> str | None: ...
    def latest_time_window(self, key: str, lookback_seconds: float | None) -> Subset: ...
    def same_run(self, parent: str, child: str) -> bool: ...
    def upstream_subset(self, key: str, dep: str, subset: Subset) -> Subset: ...
    def downstream_subset(self, dep: str, key: str, subset: Subset) -> Subset: ...
    def executable(self, key: str) -> bool: ...
    def max_event_id(self) -> int: ...


@dataclass
class _Tick:
    """Shared by every context of one asset's evaluation."""

    data: AutomationData
    now: float
    root_key: str
    condition_id: str
    previous: dict[str, Any] | None  # the root asset's state from the previous evaluation
    requested: Mapping[str, Subset]
    node_states: dict[str, Any] = field(default_factory=dict)  # new state, by node id


class AutomationContext:
    def __init__(
        self,
        tick: _Tick,
        condition: AutomationCondition,
        key: str,
        candidate: Subset,
        node: str,
        record: dict[str, Any],
    ):
        self._tick = tick
        self.condition = condition
        self.key = key
        self.candidate = candidate
        self.node = node
        self.record = record  # this node in the evaluation tree that is stored

    # -- what conditions read -------------------------------------------------------------
    @property
    def data(self) -> AutomationData:
        return self._tick.data

    @property
    def now(self) -> float:
        return self._tick.now

    @property
    def root_key(self) -> str:
        return self._tick.root_key

    @property
    def condition_id(self) -> str:
        return self._tick.condition_id

    @property
    def requested(self) -> Mapping[str, Subset]:
        return self._tick.requested

    @property
    def previous_asset_state(self) -> dict[str, Any] | None:
        return self._tick.previous

    def previous_node_state(self) -> Any:
        previous = self._tick.previous
        if previous is None or previous.get("condition_id") != self.condition_id:
            return None  # a changed condition starts afresh (as Dagster's cursor does)
        return previous.get("nodes", {}).get(self.node)

    def set_node_state(self, state: Any) -> None:
        if state is not None:
            self._tick.node_states[self.node] = state

    # -- the tree -------------------------------------------------------------------------
    def evaluate(self) -> Subset:
        if not self.candidate and not self.condition.stateful:
            self.record["candidates"] = self.record["true"] = 0
            return self.candidate  # nothing to decide, nothing to remember
        true = self.condition.evaluate(self)
        self.record["candidates"] = len(self.candidate)
        self.record["true"] = len(true)
        if 0 < len(true) <= 5 and "" not in true:
            self.record["true_partitions"] = sorted(true)
        return true

    def child(
        self, condition: AutomationCondition, index: int, candidate: Subset
    ) -> AutomationContext:
        return self._sub(condition, self.key, candidate, node_id(self.node, index, condition.name))

    def for_dep(
        self, condition: AutomationCondition, dep: str, candidate: Subset
    ) -> AutomationContext:
        context = self._sub(condition, dep, candidate, node_id(self.node, dep, condition.name))
        context.record["dep"] = dep
        return context

    def _sub(
        self, condition: AutomationCondition, key: str, candidate: Subset, node: str
    ) -> AutomationContext:
        record = new_record(condition)
        self.record.setdefault("children", []).append(record)
        return AutomationContext(self._tick, condition, key, candidate, node, record)


def new_record(condition: AutomationCondition) -> dict[str, Any]:
    record: dict[str, Any] = {"name": condition.name}
    if condition.label:
        record["label"] = condition.label
    return record


@dataclass(frozen=True)
class AssetEvaluation:
    """One asset's evaluation: what to request, the state to keep, and the tree of why."""

    key: str
    requested: Subset
    state: dict[str, Any]
    tree: dict[str, Any]

    @property
    def reason(self) -> str:
        return explain(self.tree, bool(self.requested))


def evaluate_asset(
    data: AutomationData,
    key: str,
    condition: AutomationCondition,
    condition_id: str,
    previous: dict[str, Any] | None,
    requested: Mapping[str, Subset],
    now: float,
    evaluation_id: int,
) -> AssetEvaluation:
    tick = _Tick(data, now, key, condition_id, previous, requested)
    record = new_record(condition)
    root = node_id(None, None, condition.name)
    context = AutomationContext(tick, condition, key, data.full_subset(key), root, record)
    true = context.evaluate()
    wanted = true if data.executable(key) else frozenset()
    state = {
        "condition_id": condition_id,
        "evaluation_id": evaluation_id,
        "timestamp": now,
        "max_event_id": data.max_event_id(),
        "requested": sorted(wanted),
        "nodes": tick.node_states,
    }
    return AssetEvaluation(key, wanted, state, record)


def evaluate_assets(
    data: AutomationData,
    conditions: Mapping[str, tuple[AutomationCondition, str]],
    order: Iterable[str],
    previous: Mapping[str, dict[str, Any]],
    now: float,
    evaluation_id: int,
    on_error: Callable[[str, Exception], None] | None = None,
) -> list[AssetEvaluation]:
    """Every asset with a condition, parents before children (`order`): a child's
    `will_be_requested()` sees what its parents' evaluations requested. With `on_error`,
    an asset whose evaluation raises is reported there and left out (its state kept)."""
    requested: dict[str, Subset] = {}
    results = []
    for key in order:
        if key not in conditions:
            continue
        condition, condition_id = conditions[key]
        try:
            result = evaluate_asset(
                data, key, condition, condition_id, previous.get(key), requested, now, evaluation_id
            )
        except Exception as exc:
            if on_error is None:
                raise
            on_error(key, exc)
            continue
        if result.requested:
            requested[key] = result.requested
        results.append(result)
    return results


def explain(tree: dict[str, Any], requested: bool) -> str:
    """One line: why the asset was requested, or the first part of its condition that was
    false (an AND's first operand with nothing true)."""
    name = tree.get("label") or tree["name"]
    if requested:
        return f"requested: {name} is true for {_count(tree['true'])}"
    node = tree
    while node.get("name") == "AND" and node.get("children"):
        false = [c for c in node["children"] if c.get("true", 0) == 0]
        if not false:
            break
        node = false[0]
        if node.get("label"):
            break
    what = _name(node)
    if node is tree:
        return f"not requested: {what} is false"
    return f"not requested: {what} is false (in {name})"


def _name(node: dict[str, Any]) -> str:
    if not node.get("label") and node["name"] == "NOT" and node.get("children"):
        return "~" + _name(node["children"][0])
    return str(node.get("label") or node["name"])


def _count(n: int) -> str:
    return "the asset" if n == 1 else f"{n} partitions"

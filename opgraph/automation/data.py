"""The asset graph the daemon evaluates (from code location snapshots) and what conditions
read about its assets in one tick (from storage, each read once per tick).

Updates come from the indexed catalog (`asset_keys`, `asset_partitions`), never from the
event log: the newest event id is read first, so "updated since the previous tick" is the
range (previous newest, this newest] and an event stored during the tick counts next tick.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from opgraph.automation.condition import EMPTY, AutomationCondition, Subset, condition_from_json
from opgraph.partitions.assets import run_partition_keys
from opgraph.partitions.definitions import MultiPartitionsDefinition, PartitionsDefinition
from opgraph.partitions.mappings import infer_partition_mapping
from opgraph.partitions.snapshot import mapping_from_snapshot, partitions_from_snapshot
from opgraph.partitions.time_window import TimeWindowPartitionsDefinition
from opgraph_storage.partitions_base import BackfillPartitionStatus, BackfillStatus
from opgraph_storage.records import RunsFilter, RunStatus

UNPARTITIONED: Subset = frozenset({""})
ASSET_SELECTION_TAG = "opgraph/asset_selection"
LIVE_RUN_STATUSES = [
    RunStatus.NOT_STARTED,
    RunStatus.QUEUED,
    RunStatus.STARTING,
    RunStatus.STARTED,
    RunStatus.CANCELING,
]
# execution_failed() looks at failed runs created this far back (at most FAILED_RUNS_READ).
FAILED_RUNS_LOOKBACK_SECONDS = 24 * 3600
FAILED_RUNS_READ = 500


@dataclass(frozen=True)
class AutomationAsset:
    key: str
    location: str
    deps: tuple[str, ...]
    partitions: dict[str, Any] | None  # the snapshot (opgraph.partitions.snapshot)
    partitions_def: PartitionsDefinition | None
    code_version: str | None
    executable: bool
    job_names: tuple[str, ...]
    condition: AutomationCondition | None
    condition_id: str | None
    # The deps' declared partition mappings (by upstream key); others are inferred.
    partition_mappings: Mapping[str, Any] = field(default_factory=dict)


class AutomationGraph:
    """Assets of every loaded location, parents first (`order`)."""

    def __init__(self, assets: Iterable[AutomationAsset]):
        self.assets = {a.key: a for a in assets}
        self.order = _topological(self.assets)
        self.keys_by_job: dict[str, set[str]] = {}
        for asset in self.assets.values():
            for job in asset.job_names:
                self.keys_by_job.setdefault(job, set()).add(asset.key)

    @property
    def conditions(self) -> dict[str, tuple[AutomationCondition, str]]:
        return {
            k: (a.condition, a.condition_id or "")
            for k, a in self.assets.items()
            if a.condition is not None
        }

    @classmethod
    def from_nodes(
        cls, nodes_by_location: Mapping[str, list[dict[str, Any]]], cache: ConditionCache
    ) -> AutomationGraph:
        assets = []
        for location, nodes in nodes_by_location.items():
            for node in nodes:
                parsed = cache.get(node.get("automation_condition"))
                partitions = node.get("partitions")
                assets.append(
                    AutomationAsset(
                        key="/".join(node["key"]),
                        location=location,
                        deps=tuple("/".join(d) for d in node.get("deps", ())),
                        partitions=partitions,
                        partitions_def=cache.partitions(partitions),
                        code_version=node.get("code_version"),
                        executable=bool(node.get("is_executable")),
                        job_names=tuple(node.get("job_names", ())),
                        condition=parsed[0] if parsed else None,
                        condition_id=parsed[1] if parsed else None,
                        partition_mappings={
                            upstream: mapping_from_snapshot(mapping)
                            for upstream, mapping in node.get("partition_mappings", {}).items()
                        },
                    )
                )
        return cls(assets)


class ConditionCache:
    """Parsed conditions and partitions definitions by their JSON: a tick does not parse
    1,000 identical trees again."""

    def __init__(self) -> None:
        self._conditions: dict[str, tuple[AutomationCondition, str]] = {}
        self._partitions: dict[str, PartitionsDefinition | None] = {}

    def get(self, data: dict[str, Any] | None) -> tuple[AutomationCondition, str] | None:
        if data is None:
            return None
        text = json.dumps(data, sort_keys=True)
        if text not in self._conditions:
            condition = condition_from_json(data)
            self._conditions[text] = (condition, condition.unique_id())
        return self._conditions[text]

    def partitions(self, snapshot: dict[str, Any] | None) -> PartitionsDefinition | None:
        if snapshot is None:
            return None
        text = json.dumps(snapshot, sort_keys=True)
        if text not in self._partitions:
            self._partitions[text] = partitions_from_snapshot(snapshot)
        return self._partitions[text]


def _topological(assets: Mapping[str, AutomationAsset]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}
    for start in sorted(assets):
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            key, done = stack.pop()
            if done:
                state[key] = 2
                order.append(key)
                continue
            if state.get(key):
                continue
            state[key] = 1
            stack.append((key, True))
            for dep in assets[key].deps:
                if dep in assets and not state.get(dep):
                    stack.append((dep, False))
    return order


class StorageData:
    """AutomationData over the instance's storage, for one tick at `now`."""

    def __init__(self, instance: Any, graph: AutomationGraph, now: float):
        self.instance = instance
        self.storage = instance.storage
        self.graph = graph
        self.now = now
        self._current = dt.datetime.fromtimestamp(now, dt.UTC)
        self._max_event_id: int = self.storage.newest_event_id()  # first: see the docstring
        self._full: dict[str, Subset] = {}
        self._partitions: dict[str, dict[str, tuple[int, float, str | None]]] = {}

    # -- the graph ------------------------------------------------------------------------
    def deps(self, key: str) -> list[str]:
        return [d for d in self.graph.assets[key].deps if d in self.graph.assets]

    def executable(self, key: str) -> bool:
        return self.graph.assets[key].executable

    def code_version(self, key: str) -> str | None:
        return self.graph.assets[key].code_version

    def max_event_id(self) -> int:
        return self._max_event_id

    def full_subset(self, key: str) -> Subset:
        if key not in self._full:
            partitions_def = self.graph.assets[key].partitions_def
            if partitions_def is None:
                self._full[key] = UNPARTITIONED
            else:
                self._full[key] = frozenset(
                    str(k)
                    for k in partitions_def.get_partition_keys(
                        current_time=self._current, dynamic_partitions_store=self.instance
                    )
                )
        return self._full[key]

    def latest_time_window(self, key: str, lookback_seconds: float | None) -> Subset:
        partitions_def = self.graph.assets[key].partitions_def
        time_def, dimension = _time_dimension(partitions_def)
        if time_def is None:
            return self.full_subset(key)
        latest = time_def.get_last_partition_window(self._current)
        if latest is None:
            return EMPTY
        keys = {time_def.format_key(latest.start)}
        if lookback_seconds:
            bound = latest.end.timestamp() - lookback_seconds
            for window_key in time_def.get_partition_keys(current_time=self._current):
                if time_def.end_time_for_partition_key(window_key).timestamp() > bound:
                    keys.add(window_key)
        if dimension is None:
            return frozenset(keys)
        return frozenset(
            k for k in self.full_subset(key) if _dimension_key(partitions_def, k, dimension) in keys
        )

    def same_run(self, parent: str, child: str) -> bool:
        a, b = self.graph.assets[parent], self.graph.assets[child]
        return (
            a.executable
            and b.executable
            and a.location == b.location
            and a.partitions == b.partitions
        )

    def upstream_subset(self, key: str, dep: str, subset: Subset) -> Subset:
        down, up = self.graph.assets[key], self.graph.assets[dep]
        if up.partitions_def is None:
            return UNPARTITIONED if subset else EMPTY
        if not subset:
            return EMPTY
        explicit = down.partition_mappings.get(dep)
        if down.partitions_def is None:
            return self._read_by_unpartitioned(explicit, dep)
        if explicit is None and down.partitions == up.partitions:
            return subset
        mapping = infer_partition_mapping(explicit, down.partitions_def, up.partitions_def)
        return frozenset(
            mapping.get_upstream_partition_keys(
                sorted(subset),
                down.partitions_def,
                up.partitions_def,
                current_time=self._current,
                dynamic_partitions_store=self.instance,
            )
        )

    def downstream_subset(self, dep: str, key: str, subset: Subset) -> Subset:
        up, down = self.graph.assets[dep], self.graph.assets[key]
        if not subset:
            return EMPTY
        explicit = down.partition_mappings.get(dep)
        if down.partitions_def is None:
            read = self._read_by_unpartitioned(explicit, dep)
            return UNPARTITIONED if subset & read else EMPTY
        if up.partitions_def is None:
            return self.full_subset(key)
        if explicit is None and down.partitions == up.partitions:
            return subset
        mapping = infer_partition_mapping(explicit, down.partitions_def, up.partitions_def)
        return frozenset(
            mapping.get_downstream_partition_keys(
                sorted(subset),
                up.partitions_def,
                down.partitions_def,
                current_time=self._current,
                dynamic_partitions_store=self.instance,
            )
        )

    def _read_by_unpartitioned(self, explicit: Any, dep: str) -> Subset:
        """The partitions of `dep` an unpartitioned asset reads: all of them, or what its
        declared mapping says (e.g. LastPartitionMapping: the last one)."""
        if explicit is None or self.graph.assets[dep].partitions_def is None:
            return self.full_subset(dep)
        return frozenset(
            explicit.get_upstream_partition_keys(
                None,
                None,
                self.graph.assets[dep].partitions_def,
                current_time=self._current,
                dynamic_partitions_store=self.instance,
            )
        )

    # -- the catalog ----------------------------------------------------------------------
    @cached_property
    def _catalog(self) -> dict[str, Any]:
        keys = sorted(self.graph.assets)
        return {r.asset_key: r for r in self.storage.get_asset_records(asset_keys=keys)}

    def _partition_rows(self, key: str) -> dict[str, tuple[int, float, str | None]]:
        if key not in self._partitions:
            self._partitions[key] = self.storage.get_materialized_partitions(key)
        return self._partitions[key]

    def _updates(self, key: str) -> dict[str, tuple[int, float, str | None]]:
        """Partition ("" when unpartitioned) -> (event id, time, run id) of its newest
        materialization (an observation, for an asset nothing here materializes)."""
        if self.graph.assets[key].partitions_def is not None:
            return self._partition_rows(key)
        record = self._catalog.get(key)
        if record is None:
            return {}
        if record.last_materialization_id is not None:
            return {
                "": (
                    record.last_materialization_id,
                    record.last_materialization_at or 0.0,
                    record.last_materialization_run_id,
                )
            }
        if record.last_observation_id is not None and not self.executable(key):
            return {"": (record.last_observation_id, record.last_observation_at or 0.0, None)}
        return {}

    def materialized(self, key: str, candidate: Subset) -> Subset:
        updates = self._updates(key)
        return frozenset(p for p in candidate if p in updates)

    def updated_since(self, key: str, after_event_id: int) -> Subset:
        top = self._max_event_id
        return frozenset(
            p for p, (i, _, _) in self._updates(key).items() if after_event_id < i <= top
        )

    # -- runs and backfills ---------------------------------------------------------------
    def _run_targets(self, run: Any) -> dict[str, Subset]:
        selection = run.tags.get(ASSET_SELECTION_TAG)
        keys = set(selection.split(",")) if selection else self.graph.keys_by_job.get(run.job_name)
        found = {}
        for key in keys or ():
            asset = self.graph.assets.get(key)
            if asset is None:
                continue
            if asset.partitions_def is None:
                found[key] = UNPARTITIONED
                continue
            partitions = run_partition_keys(run.tags, asset.partitions_def)
            found[key] = self.full_subset(key) if partitions is None else frozenset(partitions)
        return found

    @cached_property
    def _in_progress(self) -> dict[str, Subset]:
        found: dict[str, Subset] = {}
        for run in self.storage.get_runs(RunsFilter(statuses=LIVE_RUN_STATUSES)):
            for key, subset in self._run_targets(run).items():
                found[key] = found.get(key, EMPTY) | subset
        return found

    def run_in_progress(self, key: str) -> Subset:
        return self._in_progress.get(key, EMPTY)

    @cached_property
    def _failed(self) -> dict[str, Subset]:
        """Partitions a failed run targeted and nothing materialized after it ended."""
        runs = self.storage.get_runs(
            RunsFilter(
                statuses=[RunStatus.FAILURE],
                created_after=self.now - FAILED_RUNS_LOOKBACK_SECONDS,
            ),
            limit=FAILED_RUNS_READ,
        )
        found: dict[str, set[str]] = {}
        for run in runs:
            ended = run.ended_at or run.updated_at
            for key, subset in self._run_targets(run).items():
                updates = self._updates(key)
                for partition in subset:
                    update = updates.get(partition)
                    if update is None or (update[1] < ended and update[2] != run.run_id):
                        found.setdefault(key, set()).add(partition)
        return {k: frozenset(v) for k, v in found.items()}

    def execution_failed(self, key: str) -> Subset:
        return self._failed.get(key, EMPTY)

    @cached_property
    def _backfilling(self) -> dict[str, Subset]:
        found: dict[str, set[str]] = {}
        live = [BackfillStatus.REQUESTED, BackfillStatus.CANCELING]
        waiting = [BackfillPartitionStatus.PENDING, BackfillPartitionStatus.SUBMITTED]
        for backfill in self.storage.get_backfills(statuses=live):
            for row in self.storage.get_backfill_partitions(backfill.backfill_id, statuses=waiting):
                keys = (
                    {row.target}
                    if row.target in self.graph.assets
                    else self.graph.keys_by_job.get(row.target, set())
                )
                for key in keys:
                    found.setdefault(key, set()).add(row.partition_key)
        return {k: frozenset(v) for k, v in found.items()}

    def backfill_in_progress(self, key: str) -> Subset:
        subset = self._backfilling.get(key, EMPTY)
        if subset and self.graph.assets[key].partitions_def is None:
            return UNPARTITIONED
        return subset


def _time_dimension(
    partitions_def: PartitionsDefinition | None,
) -> tuple[TimeWindowPartitionsDefinition | None, str | None]:
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        return partitions_def, None
    if isinstance(partitions_def, MultiPartitionsDefinition):
        for dimension in partitions_def.partitions_defs:
            if isinstance(dimension.partitions_def, TimeWindowPartitionsDefinition):
                return dimension.partitions_def, dimension.name
    return None, None


def _dimension_key(partitions_def: Any, key: str, dimension: str) -> str:
    return str(partitions_def.get_partition_key_from_str(key).keys_by_dimension[dimension])

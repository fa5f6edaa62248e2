"""Backfills of a selection of assets, in dependency order across partition mappings.

A backfill of assets stores one row per (asset key, partition key) it must materialize;
the rows' primary key keeps one asset partition from getting two runs in the backfill.
Its `data` holds what the daemon needs to order them without loading user code: each
selected asset's partitions (opgraph.partitions.snapshot) and, for each of its parents
in the selection, the partition mapping (the dep's own, or Dagster's default).

The backfill part (opgraph.partitions.backfill) claims a PENDING row only once every
upstream partition it reads that is a row of this backfill has MATERIALIZED; a row whose
upstream partition FAILED or was CANCELED can never run and FAILS too, so the backfill
ends. Each run materializes one asset partition (the location's asset job cut down to
the asset, with the partition's tags).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opgraph.errors import OpgraphError
from opgraph.partitions.definitions import PartitionKeyError, PartitionKeyRange
from opgraph.partitions.mappings import infer_partition_mapping
from opgraph.partitions.snapshot import (
    mapping_from_snapshot,
    mapping_snapshot,
    partitions_from_snapshot,
)
from opgraph_storage.partitions_base import (
    AssetPartitionStatus,
    BackfillPartitionStatus,
    BackfillRecord,
    BackfillStatus,
)

P = BackfillPartitionStatus
Row = tuple[str, str]


def launch_asset_backfill(
    instance: Any,
    workspace: Any,
    asset_keys: Sequence[str],
    partitions: Any,
    *,
    max_runs_in_flight: int | None = None,
    tags: Mapping[str, str] | None = None,
    backfill_id: str | None = None,
    now: float | None = None,
) -> BackfillRecord:
    """Store a backfill of the assets `asset_keys` (`a/b` strings) over `partitions` (a
    PartitionSelection): every partition, the missing or the failed ones of each asset;
    or a range / list of the root assets' partitions (those without a parent in the
    selection), the others taking the partitions that read them (Dagster's rule)."""
    from opgraph.assets.keys import AssetKey
    from opgraph.assets.launch import asset_location

    if max_runs_in_flight is not None and max_runs_in_flight < 1:
        raise OpgraphError(f"max_runs_in_flight must be at least 1, got {max_runs_in_flight}")
    wanted = list(dict.fromkeys(asset_keys))
    if not wanted:
        raise OpgraphError("an asset backfill needs at least one asset")
    location = asset_location(workspace, [AssetKey.from_user_string(k) for k in wanted])
    nodes = {"/".join(n["key"]): n for n in location.asset_nodes()}
    unpartitioned = [k for k in wanted if nodes[k].get("partitions") is None]
    if unpartitioned:
        raise OpgraphError(
            f"assets {unpartitioned} are not partitioned: a backfill runs partitioned assets "
            "(materialize the others with launchRun)"
        )
    assets: dict[str, dict[str, Any]] = {}
    for key in wanted:
        node = nodes[key]
        own = partitions_from_snapshot(node["partitions"])
        parents = {}
        for dep in ("/".join(d) for d in node.get("deps", ())):
            if dep not in wanted:
                continue
            given = (node.get("partition_mappings") or {}).get(dep)
            if given is None:
                upstream = partitions_from_snapshot(nodes[dep]["partitions"])
                given = mapping_snapshot(infer_partition_mapping(None, own, upstream))
            parents[dep] = given
        assets[key] = {"partitions": node["partitions"], "parents": parents}
        if node.get("backfill_policy") is not None:
            assets[key]["backfill_policy"] = node["backfill_policy"]
    plan = AssetBackfillPlan.from_data({"assets": assets})
    rows = plan.select(instance, partitions)
    if not rows:
        raise PartitionKeyError(
            f"the selection {partitions.describe()} has no partitions of {wanted}"
        )
    at = time.time() if now is None else now
    record = BackfillRecord(
        backfill_id=backfill_id or uuid.uuid4().hex[:12],
        status=BackfillStatus.REQUESTED,
        num_partitions=len(rows),
        created_at=at,
        updated_at=at,
        job_name=None,
        location_name=location.name,
        max_runs_in_flight=max_runs_in_flight,
        data={
            "assets": assets,
            "order": plan.order,
            "partitions": partitions.describe(),
            "tags": dict(tags or {}),
        },
    )
    return instance.storage.add_backfill(record, rows)


@dataclass
class AssetBackfillPlan:
    """A backfill's assets in dependency order, their partitions and parents' mappings."""

    order: list[str]
    partitions_defs: dict[str, Any]
    parents: dict[str, dict[str, Any]]  # asset -> its selected parents -> mapping

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AssetBackfillPlan:
        assets = data["assets"]
        defs = {k: partitions_from_snapshot(a["partitions"]) for k, a in assets.items()}
        parents = {
            k: {p: mapping_from_snapshot(m) for p, m in a["parents"].items()}
            for k, a in assets.items()
        }
        order: list[str] = []
        placed: set[str] = set()
        while len(order) < len(assets):  # Kahn's order, by key among the ready ones
            ready = sorted(k for k in assets if k not in placed and set(parents[k]) <= placed)
            if not ready:
                raise OpgraphError(f"the assets {sorted(set(assets) - placed)} depend in a cycle")
            order.extend(ready)
            placed.update(ready)
        return cls(order, defs, parents)

    def select(self, instance: Any, selection: Any) -> list[Row]:
        """The (asset, partition) rows of `selection`, in dependency order."""
        rows: list[Row] = []
        chosen: dict[str, list[str]] = {}
        for key in self.order:
            pdef = self.partitions_defs[key]
            every = [str(k) for k in pdef.get_partition_keys(dynamic_partitions_store=instance)]
            if selection.all:
                keys = every
            elif selection.missing or selection.failed:
                statuses = instance.storage.get_asset_partition_statuses(key)
                if selection.missing:
                    keys = [k for k in every if k not in statuses]
                else:
                    failed = AssetPartitionStatus.FAILED
                    keys = [k for k in every if statuses.get(k) is failed]
            elif not self.parents[key]:
                keys = _given_keys(pdef, every, selection, key, instance)
            else:  # downstream of the roots: the partitions that read the chosen ones
                known = set(every)
                found: set[str] = set()
                for parent, mapping in self.parents[key].items():
                    try:
                        found.update(
                            mapping.get_downstream_partition_keys(
                                chosen[parent],
                                self.partitions_defs[parent],
                                pdef,
                                dynamic_partitions_store=instance,
                            )
                        )
                    except Exception:  # upstream keys this asset has no partition for
                        continue
                keys = [k for k in every if k in found and k in known]
            chosen[key] = keys
            rows.extend((key, k) for k in keys)
        return rows

    def upstream_rows(self, rows: Sequence[Row], instance: Any = None) -> dict[Row, list[Row]]:
        """For each row, the rows of this backfill it waits for."""
        present: dict[str, set[str]] = {}
        for asset, key in rows:
            present.setdefault(asset, set()).add(key)
        waits: dict[Row, list[Row]] = {}
        for asset, key in rows:
            deps: list[Row] = []
            for parent, mapping in self.parents.get(asset, {}).items():
                theirs = present.get(parent, set())
                if not theirs:
                    continue
                ups = self._upstream(asset, parent, mapping, key, instance)
                reads = theirs if ups is None else [u for u in ups if u in theirs]
                deps.extend((parent, up) for up in sorted(reads))
            if deps:
                waits[(asset, key)] = deps
        return waits

    def _upstream(
        self, asset: str, parent: str, mapping: Any, key: str, instance: Any
    ) -> list[str] | None:
        """The parent's keys the row reads; None when the mapping cannot say (the row
        then waits for all of the parent's rows)."""
        from opgraph.partitions.mappings import (
            IdentityPartitionMapping,
            TimeWindowPartitionMapping,
        )

        if isinstance(mapping, IdentityPartitionMapping):
            return [key]  # no need to list the definitions' keys for each row
        if isinstance(mapping, TimeWindowPartitionMapping):
            # Upstream windows that do not exist (before the upstream's start) are not rows
            # to wait for: the run's own step reports them if the mapping forbids them.
            mapping = TimeWindowPartitionMapping(mapping.start_offset, mapping.end_offset, True)
        try:
            return [
                str(k)
                for k in mapping.get_upstream_partition_keys(
                    [key],
                    self.partitions_defs[asset],
                    self.partitions_defs[parent],
                    dynamic_partitions_store=instance,
                )
            ]
        except Exception:
            return None


def _given_keys(
    pdef: Any, every: list[str], selection: Any, asset: str, instance: Any
) -> list[str]:
    if selection.range is not None:
        return [
            str(k)
            for k in pdef.get_partition_keys_in_range(
                PartitionKeyRange(*selection.range), dynamic_partitions_store=instance
            )
        ]
    known = set(every)
    unknown = [k for k in selection.keys or () if k not in known]
    if unknown:
        raise PartitionKeyError(
            f"{unknown[:5]}{' ...' if len(unknown) > 5 else ''} are not partitions of asset "
            f"{asset!r} ({pdef})"
        )
    return list(dict.fromkeys(selection.keys or ()))


def ready_rows(
    pending: Sequence[Row], statuses: Mapping[Row, P], waits: Mapping[Row, list[Row]]
) -> tuple[list[Row], list[Row]]:
    """(the pending rows whose upstream rows all MATERIALIZED, those that can never run:
    an upstream row FAILED or was CANCELED), in the given order."""
    ready: list[Row] = []
    blocked: list[Row] = []
    dead = {P.FAILED, P.CANCELED}
    for row in pending:
        ups = [statuses.get(u) for u in waits.get(row, ())]
        if any(s in dead for s in ups):
            blocked.append(row)
        elif all(s is P.MATERIALIZED for s in ups):
            ready.append(row)
    return ready, blocked

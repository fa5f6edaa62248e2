"""The automation daemon part (heartbeat name `AUTOMATION`): Dagster's default automation
condition sensor, run by the daemon.

Every `auto_materialize.minimum_interval_seconds` it evaluates the automation condition of
every asset of the loaded code locations, parents first, and requests runs for what the
conditions are true for. One tick:

1. finishes a tick a crash left STARTED: makes its runs (run keys `automation/<evaluation
   id>/<n>` and run ids derived from them, so a run made before the crash is found, not
   made again);
2. evaluates with evaluation id = the newest tick's + 1, reading each asset's state from
   the previous evaluation;
3. commits in one transaction the tick (STARTED, listing the runs it will make), every
   asset's new state (what it requested becomes `newly_requested()`, so `since_last_handled`
   resets: an asset partition is requested once per time its condition becomes true) and
   the evaluations that changed; a second daemon committing the same evaluation id fails;
4. makes the runs (one per code location and partition, of the assets requested together)
   and marks the tick SUCCESS with their ids.

Evaluations are stored when an asset is requested, on its first evaluation, and when what
its condition's nodes were true for changed: an asset whose condition stays false is not
written on every tick (the tick row counts it as evaluated).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from opgraph.assets.keys import AssetKey
from opgraph.assets.launch import create_asset_run
from opgraph.automation.context import AssetEvaluation, evaluate_assets
from opgraph.automation.data import AutomationGraph, ConditionCache, StorageData
from opgraph.daemon.instigators import loaded_locations
from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.instance import OpgraphInstance
from opgraph.partitions.tags import partition_tags
from opgraph.workspace.base import Workspace
from opgraph_storage.automation_base import (
    AutomationEvaluationRecord,
    AutomationTick,
    AutomationTickExists,
)
from opgraph_storage.base import DuplicateRunKey, RunAlreadyExists
from opgraph_storage.records import RunStatus

AUTOMATION_TAG = "dagster/from_automation_condition"
EVALUATION_ID_TAG = "opgraph/automation_evaluation_id"
_RUN_NAMESPACE = uuid.UUID("6f706772-6170-682d-6175-746f6d617465")
PURGE_EVERY_SECONDS = 3600.0


def automation_run_id(evaluation_id: int, index: int) -> str:
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{evaluation_id}/{index}"))


class AutomationDaemon(DaemonPart):
    name = "AUTOMATION"

    def __init__(
        self,
        instance: OpgraphInstance,
        workspace: Workspace,
        interval_seconds: float = 30.0,
        run_tags: dict[str, str] | None = None,
        purge_after_days: int | None = 30,
    ):
        self.instance = instance
        self.workspace = workspace
        self.interval_seconds = interval_seconds
        self.run_tags = dict(run_tags or {})
        self.purge_after_days = purge_after_days
        self._cache = ConditionCache()
        self._purged_at = 0.0
        self._graph: tuple[tuple[tuple[str, str | None], ...], AutomationGraph] | None = None

    # -- one tick -------------------------------------------------------------------------
    def tick(self, now: float) -> TickReport:
        report = TickReport()
        storage = self.instance.storage
        latest = storage.get_automation_ticks(limit=1)
        if latest and latest[0].status == "STARTED":
            self._make_runs(latest[0], report)
        graph = self.graph()
        conditions = graph.conditions
        report.info["assets_with_conditions"] = len(conditions)
        if not conditions:
            return report
        evaluation_id = (latest[0].evaluation_id + 1) if latest else 1
        previous = storage.get_automation_states()
        data = StorageData(self.instance, graph, now)
        results = evaluate_assets(
            data,
            conditions,
            graph.order,
            previous,
            now,
            evaluation_id,
            # One asset's trouble (say, a dynamic partitions store gone) spares the others.
            on_error=lambda key, exc: report.errors.append(
                f"asset {key}: {type(exc).__name__}: {exc}"
            ),
        )
        requests = group_requests(graph, results)
        tick = AutomationTick(
            evaluation_id=evaluation_id,
            status="STARTED" if requests else "SUCCESS",
            timestamp=now,
            num_evaluated=len(results),
            num_requested=sum(len(r.requested) for r in results),
            data={"requests": requests, "run_ids": []},
            updated_at=now,
        )
        states, records = self._changes(results, previous, evaluation_id, now)
        try:
            storage.commit_automation_tick(tick, states, records)
        except AutomationTickExists as exc:
            report.errors.append(str(exc))
            return report
        report.info["evaluation_id"] = evaluation_id
        report.count("assets_evaluated", len(results))
        report.count("asset_partitions_requested", tick.num_requested)
        if requests:
            self._make_runs(tick, report)
        self._purge(now, report)
        return report

    def graph(self) -> AutomationGraph:
        """The assets of the loaded locations; built again only when a location's version
        changed (a reload), since asking for 1,000 asset nodes costs a third of a tick."""
        locations = list(loaded_locations(self.workspace))
        versions = tuple((loc.name, loc.status().version) for loc in locations)
        if self._graph is None or None in (v for _, v in versions) or versions != self._graph[0]:
            nodes = {location.name: location.asset_nodes() for location in locations}
            self._graph = (versions, AutomationGraph.from_nodes(nodes, self._cache))
        return self._graph[1]

    @staticmethod
    def _changes(
        results: Sequence[AssetEvaluation],
        previous: dict[str, dict[str, Any]],
        evaluation_id: int,
        now: float,
    ) -> tuple[dict[str, dict[str, Any]], list[AutomationEvaluationRecord]]:
        states: dict[str, dict[str, Any]] = {}
        records = []
        for result in results:
            summary = hashlib.sha1(
                json.dumps(result.tree, sort_keys=True).encode(), usedforsecurity=False
            ).hexdigest()
            state = {**result.state, "summary": summary}
            before = previous.get(result.key)
            changed = before is None or before.get("summary") != summary
            # The timestamp and the newest event id move every tick; the rest only when
            # something happened. Either way the asset's row is written (small).
            states[result.key] = state
            if changed or result.requested:
                records.append(
                    AutomationEvaluationRecord(
                        evaluation_id=evaluation_id,
                        asset_key=result.key,
                        timestamp=now,
                        num_requested=len(result.requested),
                        data={
                            "reason": result.reason,
                            "requested_partitions": sorted(p for p in result.requested if p),
                            "condition": result.tree,
                        },
                    )
                )
        return states, records

    # -- runs -----------------------------------------------------------------------------
    def _make_runs(self, tick: AutomationTick, report: TickReport) -> None:
        run_ids = []
        errors = []
        for index, request in enumerate(tick.data.get("requests", [])):
            try:
                run_ids.append(self._make_run(tick.evaluation_id, index, request, report))
            except Exception as exc:  # one location's trouble does not stop the others
                errors.append(f"{request['asset_keys']}: {type(exc).__name__}: {exc}")
        status = "FAILURE" if errors else "SUCCESS"
        data = {**tick.data, "run_ids": run_ids, **({"errors": errors} if errors else {})}
        self.instance.storage.update_automation_tick(
            tick.evaluation_id, status, data, tick.timestamp
        )
        report.errors.extend(f"evaluation {tick.evaluation_id}: {e}" for e in errors)

    def _make_run(
        self, evaluation_id: int, index: int, request: dict[str, Any], report: TickReport
    ) -> str:
        run_id = automation_run_id(evaluation_id, index)
        location = self.workspace.get(request["location"])
        partition = request.get("partition_key") or None
        tags = {
            **self.run_tags,
            AUTOMATION_TAG: "true",
            EVALUATION_ID_TAG: str(evaluation_id),
            **(partition_tags(partition) if partition else {}),
        }
        try:
            run = create_asset_run(
                self.instance,
                location,
                [AssetKey.from_user_string(k) for k in request["asset_keys"]],
                tags=tags,
                run_id=run_id,
                run_key=f"automation/{evaluation_id}/{index}",
            )
            report.count("runs_created")
        except (DuplicateRunKey, RunAlreadyExists):
            run = self.instance.get_run(run_id)  # made before a crash: the same run
        if run.status is RunStatus.NOT_STARTED:
            self.instance.submit_run(run.run_id)
            report.count("runs_submitted")
        return run.run_id

    def _purge(self, now: float, report: TickReport) -> None:
        if self.purge_after_days is None or now - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = now
        purged = self.instance.storage.purge_automation_records(now - self.purge_after_days * 86400)
        if purged:
            report.count("records_purged", purged)


def group_requests(
    graph: AutomationGraph, results: Sequence[AssetEvaluation]
) -> list[dict[str, Any]]:
    """One run per code location, partitions definition and partition key, of every asset
    requested for it (Dagster groups an evaluation's requests into runs the same way)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for result in results:
        asset = graph.assets[result.key]
        partitions = json.dumps(asset.partitions, sort_keys=True)
        for partition in sorted(result.requested):
            groups.setdefault((asset.location, partitions, partition), []).append(result.key)
    return [
        {"location": location, "asset_keys": sorted(keys), "partition_key": partition}
        for (location, _, partition), keys in sorted(groups.items())
    ]

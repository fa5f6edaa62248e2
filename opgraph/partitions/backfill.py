"""Backfills of partitioned jobs: launching one, and the daemon part that runs it.

A backfill is stored in one transaction: its row and one PENDING row per partition
(opgraph_storage.partitions_sql). The daemon part then, each tick:

1. follows the runs it made: a SUBMITTED partition whose run finished becomes
   MATERIALIZED, FAILED or CANCELED; one whose run is missing (the daemon died between
   claiming the partition and creating its run) gets its run now;
2. claims PENDING partitions up to `max_runs_in_flight` by compare-and-set
   (PENDING -> SUBMITTED) and creates and submits their runs. A partition's run has an id
   and a run key derived from (backfill, target, partition), so a daemon that dies at any
   point, or a standby that takes over, finds the run instead of making a second one;
3. ends the backfill: COMPLETED once no partition is pending or in flight; a CANCELING one
   claims nothing, cancels its runs in flight and is CANCELED once none is left.

Only `tick(now)` does work, so tests step time instead of sleeping.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opgraph.daemon.part import DaemonPart, TickReport
from opgraph.errors import OpgraphError
from opgraph.instance import OpgraphInstance
from opgraph.partitions.backfill_policy import BackfillPolicy
from opgraph.partitions.definitions import PartitionKeyError, PartitionKeyRange
from opgraph.partitions.snapshot import partitions_from_snapshot
from opgraph.partitions.tags import BACKFILL_ID_TAG, partition_range_tags, partition_tags
from opgraph.workspace.base import Workspace
from opgraph_storage.base import DuplicateRunKey, RunAlreadyExists
from opgraph_storage.partitions_base import (
    AssetPartitionStatus,
    BackfillPartition,
    BackfillPartitionStatus,
    BackfillRecord,
    BackfillStatus,
)
from opgraph_storage.records import FINISHED_STATUSES, RunRecord, RunsFilter, RunStatus

P = BackfillPartitionStatus
_RUN_NAMESPACE = uuid.UUID("6f706772-6170-682d-6261-636b66696c6c")  # "opgraph-backfill"
# Partitions claimed per tick when the backfill has no max_runs_in_flight: a tick stays
# short, and the queue's own limits decide what runs.
UNLIMITED_BATCH = 500
_RUN_STATUS_TO_PARTITION = {
    RunStatus.SUCCESS: P.MATERIALIZED,
    RunStatus.FAILURE: P.FAILED,
    RunStatus.CANCELED: P.CANCELED,
}


@dataclass(frozen=True)
class PartitionSelection:
    """Which partitions: every one, a range (both ends included), a list, or those missing
    or failed (per asset partition status: no row yet, or FAILED)."""

    all: bool = False
    range: tuple[str, str] | None = None
    keys: tuple[str, ...] | None = None
    missing: bool = False
    failed: bool = False

    def describe(self) -> dict[str, Any]:
        if self.all:
            return {"all": True}
        if self.missing:
            return {"missing": True}
        if self.failed:
            return {"failed": True}
        if self.range is not None:
            return {"range": list(self.range)}
        return {"keys": list(self.keys or ())}


def backfill_run_id(backfill_id: str, target: str, partition_key: str) -> str:
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{backfill_id}\0{target}\0{partition_key}"))


def launch_backfill(
    instance: OpgraphInstance,
    workspace: Workspace,
    job_name: str,
    partitions: PartitionSelection,
    *,
    location_name: str | None = None,
    max_runs_in_flight: int | None = None,
    tags: Mapping[str, str] | None = None,
    backfill_id: str | None = None,
    now: float | None = None,
) -> BackfillRecord:
    """Store a backfill of `job_name` over the selected partitions (the daemon runs it).
    PartitionKeyError names a key or range the job does not have."""
    if max_runs_in_flight is not None and max_runs_in_flight < 1:
        raise OpgraphError(f"max_runs_in_flight must be at least 1, got {max_runs_in_flight}")
    location = workspace.find_job(job_name, location_name)
    snapshot = location.job(job_name)
    partitions_def = partitions_from_snapshot(snapshot.partitions)
    if partitions_def is None:
        raise OpgraphError(f"job {job_name!r} is not partitioned: it has no partitions to backfill")
    every = list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))
    if partitions.all:
        keys = every
    elif partitions.missing or partitions.failed:
        keys = _by_asset_status(instance, location, job_name, every, partitions.failed)
    elif partitions.range is not None:
        keys = list(
            partitions_def.get_partition_keys_in_range(
                PartitionKeyRange(*partitions.range), dynamic_partitions_store=instance
            )
        )
    else:
        known = set(every)
        unknown = [k for k in partitions.keys or () if k not in known]
        if unknown:
            raise PartitionKeyError(
                f"{unknown[:5]}{' ...' if len(unknown) > 5 else ''} are not partitions of job "
                f"{job_name!r} ({partitions_def})"
            )
        keys = list(dict.fromkeys(partitions.keys or ()))
    if not keys:
        raise PartitionKeyError(
            f"the selection {partitions.describe()} has no partitions of job {job_name!r}"
        )
    at = time.time() if now is None else now
    record = BackfillRecord(
        backfill_id=backfill_id or uuid.uuid4().hex[:12],
        status=BackfillStatus.REQUESTED,
        num_partitions=len(keys),
        created_at=at,
        updated_at=at,
        job_name=job_name,
        location_name=location.name,
        max_runs_in_flight=max_runs_in_flight,
        data={
            "partitions": partitions.describe(),
            "tags": dict(tags or {}),
            "has_partitioned_config": snapshot.has_partitioned_config,
        },
    )
    return instance.storage.add_backfill(record, [(job_name, key) for key in keys])


def _by_asset_status(
    instance: OpgraphInstance, location: Any, job_name: str, every: list[str], failed: bool
) -> list[str]:
    """The job's partitions where one of its partitioned assets is missing (no status) or,
    with `failed`, FAILED. An op job has no asset partitions to read: refused."""
    assets = [
        "/".join(node["key"])
        for node in location.asset_nodes()
        if job_name in node.get("job_names", ()) and node.get("partitions") is not None
    ]
    if not assets:
        raise OpgraphError(
            f"job {job_name!r} materializes no partitioned assets: missing and failed "
            "partitions are read from asset partition statuses"
        )
    chosen: set[str] = set()
    for asset in assets:
        statuses = instance.storage.get_asset_partition_statuses(asset)
        if failed:
            chosen.update(k for k, s in statuses.items() if s is AssetPartitionStatus.FAILED)
        else:
            chosen.update(k for k in every if k not in statuses)
    return [k for k in every if k in chosen]


def cancel_backfill(instance: OpgraphInstance, backfill_id: str, now: float | None = None) -> bool:
    """No new runs; the daemon cancels the runs in flight. True if this call asked it."""
    return instance.storage.move_backfill(
        backfill_id, BackfillStatus.CANCELING, [BackfillStatus.REQUESTED], now or time.time()
    )


def resume_backfill(instance: OpgraphInstance, backfill_id: str, now: float | None = None) -> bool:
    """A canceled or failed backfill goes on with the partitions it had not run."""
    at = now or time.time()
    storage = instance.storage
    canceled = [
        (p.target, p.partition_key)
        for p in storage.get_backfill_partitions(backfill_id, statuses=[P.CANCELED])
        if p.run_id is None
    ]
    moved = storage.move_backfill(
        backfill_id,
        BackfillStatus.REQUESTED,
        [BackfillStatus.CANCELED, BackfillStatus.FAILED],
        at,
    )
    if moved and canceled:
        storage.move_backfill_partitions(backfill_id, canceled, P.PENDING, [P.CANCELED], at)
    return moved


class BackfillDaemon(DaemonPart):
    name = "BACKFILL"

    def __init__(
        self, instance: OpgraphInstance, workspace: Workspace, interval_seconds: float = 5.0
    ):
        self.instance = instance
        self.workspace = workspace
        self.interval_seconds = interval_seconds
        # An asset backfill's rows and what each waits for: fixed at launch, so computed
        # once per backfill (again after a restart or takeover).
        self._waits: dict[str, dict[tuple[str, str], list[tuple[str, str]]]] = {}

    def tick(self, now: float) -> TickReport:
        report = TickReport()
        live = [BackfillStatus.REQUESTED, BackfillStatus.CANCELING]
        for backfill in self.instance.storage.get_backfills(statuses=live):
            try:
                self._advance(backfill, now, report)
            except Exception as exc:  # one backfill's trouble does not stop the others
                report.errors.append(
                    f"backfill {backfill.backfill_id}: {type(exc).__name__}: {exc}"
                )
        return report

    # -- one backfill -------------------------------------------------------------------
    def _advance(self, backfill: BackfillRecord, now: float, report: TickReport) -> None:
        storage = self.instance.storage
        in_flight = self._follow_runs(backfill, now, report)
        if backfill.status is BackfillStatus.CANCELING:
            self._cancel(backfill, in_flight, now, report)
            return
        room = (
            backfill.max_runs_in_flight - len(in_flight)
            if backfill.max_runs_in_flight is not None
            else UNLIMITED_BATCH
        )
        if room > 0:
            candidates = None
            if "assets" in backfill.data:
                candidates = self._ready_asset_rows(backfill, now, report)
            run_id_for = lambda target, key: backfill_run_id(  # noqa: E731
                backfill.backfill_id, target, key
            )
            ranges = None
            if candidates and _policies(backfill):
                ranges = _RangeRuns(self.instance, backfill, candidates)
                runs_in_flight = len({_run_id_of(backfill, p) for p in in_flight})
                room_runs = (
                    backfill.max_runs_in_flight - runs_in_flight
                    if backfill.max_runs_in_flight is not None
                    else UNLIMITED_BATCH
                )
                candidates = ranges.rows(room_runs)
                room = len(candidates)
                run_id_for = ranges.run_id_for
            claimed = (
                storage.claim_backfill_partitions(
                    backfill.backfill_id, room, now, run_id_for, candidates
                )
                if room > 0
                else []
            )
            if claimed and ranges is not None:
                ranges.submit(
                    _AssetRunMaker(self.instance, self.workspace, backfill), claimed, report
                )
                return
            if claimed:
                self._submit(backfill, claimed, report)
                return
        counts = storage.count_backfill_partitions(backfill.backfill_id)
        done = not counts.get(P.PENDING) and not counts.get(P.SUBMITTED)
        completed = BackfillStatus.COMPLETED
        if done and storage.move_backfill(
            backfill.backfill_id, completed, [BackfillStatus.REQUESTED], now
        ):
            report.count("backfills_completed")

    def _ready_asset_rows(
        self, backfill: BackfillRecord, now: float, report: TickReport
    ) -> list[tuple[str, str]]:
        """The PENDING rows whose upstream rows in this backfill all materialized; the
        ones an upstream failure blocks for good are moved to FAILED here."""
        from opgraph.partitions.asset_backfill import AssetBackfillPlan, ready_rows

        storage = self.instance.storage
        rows = storage.get_backfill_partitions(backfill.backfill_id)
        waits = self._waits.get(backfill.backfill_id)
        if waits is None:
            plan = AssetBackfillPlan.from_data(backfill.data)
            keys = [(p.target, p.partition_key) for p in rows]
            waits = self._waits[backfill.backfill_id] = plan.upstream_rows(keys, self.instance)
        statuses = {(p.target, p.partition_key): p.status for p in rows}
        rank = {asset: i for i, asset in enumerate(backfill.data.get("order", []))}
        pending = sorted(
            (row for row, status in statuses.items() if status is P.PENDING),
            key=lambda row: (rank.get(row[0], 0), row[1], row[0]),
        )
        ready, blocked = ready_rows(pending, statuses, waits)
        if blocked:
            moved = storage.move_backfill_partitions(
                backfill.backfill_id, blocked, P.FAILED, [P.PENDING], now
            )
            report.count("partitions_upstream_failed", moved)
        return ready

    def _follow_runs(
        self, backfill: BackfillRecord, now: float, report: TickReport
    ) -> list[BackfillPartition]:
        """Settle the SUBMITTED partitions whose runs finished; make the runs a crash left
        unmade (or unsubmitted). Returns the partitions still in flight."""
        storage = self.instance.storage
        submitted = storage.get_backfill_partitions(backfill.backfill_id, statuses=[P.SUBMITTED])
        if not submitted:
            return []
        runs = {
            run.run_id: run
            for run in storage.get_runs(
                RunsFilter(run_ids=[_run_id_of(backfill, p) for p in submitted])
            )
        }
        settled: dict[P, list[tuple[str, str]]] = {}
        in_flight: list[BackfillPartition] = []
        unmade_ranges: dict[str, list[BackfillPartition]] = {}
        policies = _policies(backfill)
        for partition in submitted:
            run = runs.get(_run_id_of(backfill, partition))
            if run is None or run.status is RunStatus.NOT_STARTED:
                if backfill.status is BackfillStatus.CANCELING:
                    settled.setdefault(P.CANCELED, []).append(
                        (partition.target, partition.partition_key)
                    )
                    continue
                if partition.target in policies:  # a range run: made once for its rows
                    unmade_ranges.setdefault(_run_id_of(backfill, partition), []).append(partition)
                else:
                    self._make_run(backfill, partition, report)  # recovery after a crash
                in_flight.append(partition)
            elif run.status in FINISHED_STATUSES:
                to = _RUN_STATUS_TO_PARTITION.get(run.status, P.FAILED)
                settled.setdefault(to, []).append((partition.target, partition.partition_key))
            else:
                in_flight.append(partition)
        if unmade_ranges:
            maker = _AssetRunMaker(self.instance, self.workspace, backfill)
            for run_id, partitions in unmade_ranges.items():
                keys = _RangeRuns.ordered(
                    self.instance,
                    backfill,
                    partitions[0].target,
                    [p.partition_key for p in partitions],
                )
                maker.make_range(partitions[0].target, keys, run_id, report)
        for status, rows in settled.items():
            storage.move_backfill_partitions(backfill.backfill_id, rows, status, [P.SUBMITTED], now)
            report.count(f"partitions_{status.value.lower()}", len(rows))
        return in_flight

    def _submit(
        self, backfill: BackfillRecord, claimed: Sequence[tuple[str, str]], report: TickReport
    ) -> None:
        maker = _maker(self.instance, self.workspace, backfill)
        configs = maker.partition_configs([key for _, key in claimed])
        if isinstance(maker, _RunMaker):
            maker.make_many(claimed, configs, report)
            return
        for target, key in claimed:
            maker.make(target, key, report, configs.get(key))

    def _make_run(
        self, backfill: BackfillRecord, partition: BackfillPartition, report: TickReport
    ) -> None:
        maker = _maker(self.instance, self.workspace, backfill)
        maker.make(partition.target, partition.partition_key, report)

    def _cancel(
        self,
        backfill: BackfillRecord,
        in_flight: Iterable[BackfillPartition],
        now: float,
        report: TickReport,
    ) -> None:
        storage = self.instance.storage
        pending = storage.get_backfill_partitions(backfill.backfill_id, statuses=[P.PENDING])
        if pending:
            rows = [(p.target, p.partition_key) for p in pending]
            storage.move_backfill_partitions(
                backfill.backfill_id, rows, P.CANCELED, [P.PENDING], now
            )
        still = list(in_flight)
        for partition in still:
            run = self.instance.storage.get_run(_run_id_of(backfill, partition))
            if (
                run is not None
                and run.status not in FINISHED_STATUSES
                and run.status is not RunStatus.CANCELING
            ):
                self.instance.cancel_run(run.run_id)
                report.count("runs_canceled")
        if not still and storage.move_backfill(
            backfill.backfill_id, BackfillStatus.CANCELED, [BackfillStatus.CANCELING], now
        ):
            report.count("backfills_canceled")


def _run_id_of(backfill: BackfillRecord, partition: BackfillPartition) -> str:
    return partition.run_id or backfill_run_id(
        backfill.backfill_id, partition.target, partition.partition_key
    )


def _maker(instance: OpgraphInstance, workspace: Workspace, backfill: BackfillRecord) -> Any:
    if "assets" in backfill.data:
        return _AssetRunMaker(instance, workspace, backfill)
    return _RunMaker(instance, workspace, backfill)


class _AssetRunMaker:
    """Makes an asset backfill's runs: one per asset partition, of the location's asset
    job cut down to the asset (opgraph.assets.launch.create_asset_run)."""

    def __init__(self, instance: OpgraphInstance, workspace: Workspace, backfill: BackfillRecord):
        self.instance = instance
        self.backfill = backfill
        self.location = _TickLocation(workspace.get(backfill.location_name or ""))

    def partition_configs(self, keys: Sequence[str]) -> dict[str, Any]:
        return {}

    def make(self, target: str, key: str, report: TickReport, config: Any = None) -> None:
        from opgraph.assets.keys import AssetKey
        from opgraph.assets.launch import create_asset_run

        backfill = self.backfill
        run_id = backfill_run_id(backfill.backfill_id, target, key)
        tags = {
            **backfill.data.get("tags", {}),
            **partition_tags(key),
            BACKFILL_ID_TAG: backfill.backfill_id,
        }
        _create_and_submit(
            self.instance,
            run_id,
            report,
            lambda: create_asset_run(
                self.instance,
                self.location,
                [AssetKey.from_user_string(target)],
                tags=tags,
                run_id=run_id,
                run_key=f"backfill/{backfill.backfill_id}/{target}/{key}",
            ),
        )

    def make_range(self, target: str, keys: Sequence[str], run_id: str, report: TickReport) -> None:
        """One run of the asset partitions `keys` (contiguous, in the partitions
        definition's order), tagged with their range as Dagster's backfill policies do."""
        from opgraph.assets.keys import AssetKey
        from opgraph.assets.launch import create_asset_run

        backfill = self.backfill
        start, end = keys[0], keys[-1]
        tags = {
            **backfill.data.get("tags", {}),
            **partition_range_tags(start, end),
            BACKFILL_ID_TAG: backfill.backfill_id,
        }
        _create_and_submit(
            self.instance,
            run_id,
            report,
            lambda: create_asset_run(
                self.instance,
                self.location,
                [AssetKey.from_user_string(target)],
                tags=tags,
                run_id=run_id,
                run_key=f"backfill/{backfill.backfill_id}/{target}/{start}...{end}",
            ),
        )


def _policies(backfill: BackfillRecord) -> dict[str, BackfillPolicy]:
    """The assets of an asset backfill that have a BackfillPolicy, by asset key."""
    policies: dict[str, BackfillPolicy] = {}
    for target, asset in (backfill.data.get("assets") or {}).items():
        policy = BackfillPolicy.from_json(asset.get("backfill_policy"))
        if policy is not None:
            policies[target] = policy
    return policies


class _RangeRuns:
    """An asset backfill tick's ready rows grouped into runs: the rows of an asset with a
    BackfillPolicy in runs of contiguous partitions (split where a partition between two
    ready ones is not ready, and at the policy's max_partitions_per_run); the others one
    run per row."""

    def __init__(
        self, instance: OpgraphInstance, backfill: BackfillRecord, ready: Sequence[tuple[str, str]]
    ):
        self.backfill = backfill
        policies = _policies(backfill)
        self.runs: list[tuple[str, list[str]]] = []
        by_target: dict[str, list[str]] = {}
        for target, key in ready:
            if target in policies:
                by_target.setdefault(target, []).append(key)
            else:
                self.runs.append((target, [key]))
        for target, keys in by_target.items():
            order = self.positions(instance, backfill, target)
            ranked = sorted(keys, key=lambda k: order.get(k, len(order)))
            chunks: list[list[str]] = []
            for key in ranked:
                last = chunks[-1] if chunks else None
                if (
                    last is not None
                    and key in order
                    and order.get(last[-1]) == order[key] - 1
                    and (
                        policies[target].max_partitions_per_run is None
                        or len(last) < policies[target].max_partitions_per_run  # type: ignore[operator]
                    )
                ):
                    last.append(key)
                else:
                    chunks.append([key])
            self.runs.extend((target, chunk) for chunk in chunks)
        self._run_ids = {
            (target, key): self.range_run_id(target, keys)
            if target in policies
            else backfill_run_id(backfill.backfill_id, target, key)
            for target, keys in self.runs
            for key in keys
        }
        self._policies = policies

    def range_run_id(self, target: str, keys: Sequence[str]) -> str:
        return backfill_run_id(self.backfill.backfill_id, target, f"{keys[0]}...{keys[-1]}")

    @staticmethod
    def positions(instance: Any, backfill: BackfillRecord, target: str) -> dict[str, int]:
        partitions_def = partitions_from_snapshot(backfill.data["assets"][target]["partitions"])
        if partitions_def is None:  # a backfill's assets are partitioned (launch checks)
            return {}
        keys = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
        return {str(k): i for i, k in enumerate(keys)}

    @classmethod
    def ordered(
        cls, instance: Any, backfill: BackfillRecord, target: str, keys: Sequence[str]
    ) -> list[str]:
        order = cls.positions(instance, backfill, target)
        return sorted(keys, key=lambda k: order.get(k, len(order)))

    def rows(self, room_runs: int) -> list[tuple[str, str]]:
        return [(t, k) for t, keys in self.runs[: max(room_runs, 0)] for k in keys]

    def run_id_for(self, target: str, key: str) -> str:
        return self._run_ids[(target, key)]

    def submit(
        self, maker: _AssetRunMaker, claimed: Sequence[tuple[str, str]], report: TickReport
    ) -> None:
        claimed_set = set(claimed)
        for target, keys in self.runs:
            mine = [k for k in keys if (target, k) in claimed_set]
            if not mine:
                continue
            if target in self._policies:
                maker.make_range(target, mine, self._run_ids[(target, mine[0])], report)
            else:
                maker.make(target, mine[0], report)


class _TickLocation:
    """A code location whose answers about jobs hold for one tick: each asset job subset's
    snapshot, code pointer, the code version and a run config's check are asked once,
    not once per run (HTTP requests, for a code server)."""

    def __init__(self, location: Any):
        self._location = location
        self.name = location.name
        self._answers: dict[tuple[Any, ...], Any] = {}

    def _once(self, key: tuple[Any, ...], ask: Any) -> Any:
        if key not in self._answers:
            self._answers[key] = ask()
        return self._answers[key]

    def job(self, name: str) -> Any:
        return self._once(("job", name), lambda: self._location.job(name))

    def code_pointer(self, name: str) -> Any:
        return self._once(("pointer", name), lambda: self._location.code_pointer(name))

    def status(self) -> Any:
        return self._once(("status",), self._location.status)

    def validate_run_config(self, name: str, run_config: Any) -> Any:
        import json

        key = ("valid", name, json.dumps(run_config, sort_keys=True))
        return self._once(key, lambda: self._location.validate_run_config(name, run_config))


def _create_and_submit(
    instance: OpgraphInstance, run_id: str, report: TickReport, create: Any
) -> None:
    """Create the run (or find the one made before a crash: the same id and run key) and
    submit it if it is not yet."""
    try:
        run = create()
        report.count("runs_created")
    except (DuplicateRunKey, RunAlreadyExists):
        run = instance.get_run(run_id)  # made before a crash: the same run
    if run.status is RunStatus.NOT_STARTED:
        instance.submit_run(run.run_id)
        report.count("runs_submitted")


class _RunMaker:
    """Makes one backfill's runs in one tick, asking its code location once per tick (not
    per run) for the code version, the job's tags, its code pointer and whether a run
    config fits: per run, they were four calls (HTTP for a code server) and half the
    submission time (benchmarks/partitions.py)."""

    def __init__(self, instance: OpgraphInstance, workspace: Workspace, backfill: BackfillRecord):
        self.instance = instance
        self.backfill = backfill
        self.job_name = backfill.job_name or ""
        self.location = workspace.get(backfill.location_name or "")
        self._job: Any = None
        self._checked: set[str] = set()

    def partition_configs(
        self, keys: Sequence[str]
    ) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
        if not keys or not self.backfill.data.get("has_partitioned_config"):
            return {}
        runs = self.location.partition_runs(self.job_name, keys)
        return {run.partition_key: (run.run_config, run.tags) for run in runs}

    def _fixed(self) -> Any:
        if self._job is None:
            self._job = (
                self.location.status().version,
                self.location.job(self.job_name),
                self.location.code_pointer(self.job_name),
            )
        return self._job

    def _validate(self, run_config: dict[str, Any]) -> None:
        import json

        from opgraph.errors import RunConfigError

        text = json.dumps(run_config, sort_keys=True)
        if text in self._checked:
            return
        errors = self.location.validate_run_config(self.job_name, run_config)
        if errors:
            raise RunConfigError(errors)
        self._checked.add(text)

    def record(
        self, target: str, key: str, config: tuple[dict[str, Any], dict[str, str]] | None
    ) -> RunRecord:
        """The NOT_STARTED run of partition `key`, with its id and run key derived from
        (backfill, target, partition)."""
        backfill = self.backfill
        if config is None:
            config = self.partition_configs([key]).get(key, ({}, {}))
        run_config, config_tags = config
        version, job, pointer = self._fixed()
        self._validate(run_config)
        now = time.time()
        return RunRecord(
            run_id=backfill_run_id(backfill.backfill_id, target, key),
            job_name=job.name,
            status=RunStatus.NOT_STARTED,
            run_config=run_config,
            tags={
                **job.tags,
                **config_tags,
                **backfill.data.get("tags", {}),
                **partition_tags(key),
                BACKFILL_ID_TAG: backfill.backfill_id,
            },
            code_pointer=pointer,
            location_name=self.location.name,
            code_version=version,
            run_key=f"backfill/{backfill.backfill_id}/{target}/{key}",
            created_at=now,
            updated_at=now,
        )

    def make(
        self,
        target: str,
        key: str,
        report: TickReport,
        config: tuple[dict[str, Any], dict[str, str]] | None = None,
    ) -> None:
        self.make_many([(target, key)], {key: config} if config else {}, report)

    def make_many(
        self,
        rows: Sequence[tuple[str, str]],
        configs: Mapping[str, tuple[dict[str, Any], dict[str, str]]],
        report: TickReport,
    ) -> None:
        """The tick's runs stored in one transaction (runs and tags: two statements for
        the batch, not two round trips and a commit a run), then each handed to the run
        coordinator as built, not read back."""
        records = [self.record(target, key, configs.get(key)) for target, key in rows]
        stored = set(self.instance.storage.add_backfill_runs(records))
        if stored:
            report.count("runs_created", len(stored))
        coordinator = self.instance.run_coordinator
        for record in records:
            if record.run_id in stored:
                coordinator.submit_run(record)
                report.count("runs_submitted")
                continue
            run = self.instance.get_run(record.run_id)  # made before a crash: the same run
            if run.status is RunStatus.NOT_STARTED:
                coordinator.submit_run(run)
                report.count("runs_submitted")

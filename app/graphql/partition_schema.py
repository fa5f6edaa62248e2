"""Partitions in GraphQL, with Dagster's names: a job's partition set, an asset's partition
status, backfills (launch, list, show, cancel, resume) and dynamic partitions.

Partition keys are computed here from the snapshots the code locations send
(opgraph.partitions.snapshot); the webserver never loads user code.
"""

from __future__ import annotations

from typing import Any

import graphene
import yaml
from graphql import GraphQLError

from opgraph.assets.keys import AssetKey as Key
from opgraph.errors import OpgraphError
from opgraph.partitions.asset_backfill import launch_asset_backfill
from opgraph.partitions.backfill import (
    PartitionSelection,
    cancel_backfill,
    launch_backfill,
    resume_backfill,
)
from opgraph.partitions.definitions import PartitionKeyError, check_key_characters
from opgraph.partitions.snapshot import partitions_from_snapshot
from opgraph.partitions.status_bar import MISSING_CHAR, status_bar
from opgraph.workspace.base import DefinitionNotFound
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import require_workspace, tags_dict
from opgraph_app.graphql.asset_types import AssetKey, AssetKeyInput, AssetNotFoundError
from opgraph_app.graphql.dagster_types import ExecutionTag
from opgraph_app.graphql.errors import Refused, check_mutation_allowed, typed_errors
from opgraph_app.graphql.types import Tag
from opgraph_app.graphql.unions import or_error
from opgraph_storage.partitions_base import (
    BackfillPartitionStatus,
    BackfillRecord,
    BackfillStatus,
)

MAX_BACKFILLS_PAGE = 100
MAX_PARTITIONS_PAGE = 10_000
PARTITION_SET_SUFFIX = "_partition_set"  # Dagster names a job's partition set so
# One character per partition in a status bar, in the partitions' order.
BACKFILL_STATUS_CHARS = {
    BackfillPartitionStatus.PENDING: "P",
    BackfillPartitionStatus.SUBMITTED: "S",
    BackfillPartitionStatus.MATERIALIZED: "M",
    BackfillPartitionStatus.FAILED: "F",
    BackfillPartitionStatus.CANCELED: "C",
}


def _invalid(argument: str, given: Any, expected: str, message: str) -> Refused:
    return Refused(
        e.InvalidArgumentError(
            message=message, argument=argument, given=str(given), expected=expected
        )
    )


def _check_limit(argument: str, value: int, maximum: int) -> None:
    if not 1 <= value <= maximum:
        raise _invalid(
            argument,
            value,
            f"1 to {maximum}",
            f"{argument}: expected 1 to {maximum}, given {value}",
        )


# -- types --------------------------------------------------------------------------------------
class BackfillNotFoundError(e.TypedError):
    backfill_id = graphene.String(required=True)


class BackfillStatusError(e.TypedError):
    """The backfill's status does not allow this (e.g. resuming one that is running)."""

    backfill_id = graphene.String(required=True)
    status = graphene.String(required=True)


class PartitionStatusCount(graphene.ObjectType):
    status = graphene.String(required=True)
    count = graphene.Int(required=True)


class BackfillPartition(graphene.ObjectType):
    target = graphene.String(required=True, description="the job's name (or an asset key)")
    partition_key = graphene.String(required=True)
    status = graphene.String(required=True)
    run_id = graphene.String()


class PartitionBackfill(graphene.ObjectType):
    id = graphene.String(required=True)
    status = graphene.String(required=True)
    job_name = graphene.String()
    asset_selection = graphene.List(
        graphene.NonNull(AssetKey), description="an asset backfill's assets, in dependency order"
    )
    location_name = graphene.String()
    num_partitions = graphene.Int(required=True)
    max_runs_in_flight = graphene.Int()
    timestamp = graphene.Float(required=True, description="when it was launched")
    end_timestamp = graphene.Float()
    tags = graphene.List(graphene.NonNull(graphene.String), required=True)
    partition_status_counts = graphene.List(graphene.NonNull(PartitionStatusCount), required=True)
    partition_statuses = graphene.List(
        graphene.NonNull(BackfillPartition),
        required=True,
        status=graphene.String(),
        limit=graphene.Int(default_value=1000),
    )
    # Every partition at once for a status bar, cheaply: 10,000 partitionStatuses objects
    # took about a second to answer, two lists of strings a few milliseconds.
    partition_keys = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="every partition, in partitionStatuses' order (target, then key)",
    )
    status_string = graphene.String(
        required=True,
        description="one character per partition in that order: P pending, S submitted, "
        "M materialized, F failed, C canceled",
    )

    @staticmethod
    def of(record: BackfillRecord, storage: Any) -> PartitionBackfill:
        counts = storage.count_backfill_partitions(record.backfill_id)
        backfill = PartitionBackfill(
            id=record.backfill_id,
            status=record.status.value,
            job_name=record.job_name,
            asset_selection=(
                [AssetKey(path=k.split("/")) for k in record.data["order"]]
                if "order" in record.data
                else None
            ),
            location_name=record.location_name,
            num_partitions=record.num_partitions,
            max_runs_in_flight=record.max_runs_in_flight,
            timestamp=record.created_at,
            end_timestamp=record.ended_at,
            tags=[f"{k}={v}" for k, v in sorted(record.data.get("tags", {}).items())],
            partition_status_counts=[
                PartitionStatusCount(status=s.value, count=n)
                for s, n in sorted(counts.items(), key=lambda i: i[0].value)
            ],
        )
        backfill.storage = storage  # type: ignore[attr-defined]
        return backfill

    def _all_rows(self) -> list[Any]:
        if getattr(self, "_rows", None) is None:
            self._rows = self.storage.get_backfill_partitions(self.id)  # type: ignore[attr-defined]
        return self._rows  # type: ignore[no-any-return]

    def resolve_partition_keys(self, _info: Any) -> list[str]:
        return [r.partition_key for r in self._all_rows()]

    def resolve_status_string(self, _info: Any) -> str:
        return "".join(BACKFILL_STATUS_CHARS[r.status] for r in self._all_rows())

    def resolve_partition_statuses(
        self, _info: Any, status: str | None = None, limit: int = 1000
    ) -> list[Any]:
        _check_limit("limit", limit, MAX_PARTITIONS_PAGE)
        statuses = None
        if status is not None:
            try:
                statuses = [BackfillPartitionStatus(status)]
            except ValueError:
                raise _invalid(
                    "status",
                    status,
                    str([s.value for s in BackfillPartitionStatus]),
                    "unknown status",
                ) from None
        rows = self.storage.get_backfill_partitions(self.id, statuses=statuses, limit=limit)  # type: ignore[attr-defined]
        return [
            BackfillPartition(
                target=r.target,
                partition_key=r.partition_key,
                status=r.status.value,
                run_id=r.run_id,
            )
            for r in rows
        ]


class PartitionBackfills(graphene.ObjectType):
    results = graphene.List(graphene.NonNull(PartitionBackfill), required=True)


class PartitionRun(graphene.ObjectType):
    """The run config (as YAML) and tags of a job's run for one partition, as its
    PartitionedConfig makes them (computed in the code location): what the launchpad
    fills in when a partition is picked."""

    partition_name = graphene.String(required=True)
    run_config_yaml = graphene.String(required=True)
    tags = graphene.List(graphene.NonNull(Tag), required=True)


class PartitionSet(graphene.ObjectType):
    name = graphene.String(required=True)
    pipeline_name = graphene.String(required=True)
    location_name = graphene.String(required=True)
    num_partitions = graphene.Int(required=True)
    partition_names = graphene.List(
        graphene.NonNull(graphene.String), required=True, limit=graphene.Int(default_value=1000)
    )

    partition_run = graphene.Field(
        graphene.NonNull(PartitionRun),
        partition_name=graphene.String(required=True),
        description="The run config and tags of the job's run for this partition.",
    )

    def resolve_partition_names(self, _info: Any, limit: int = 1000) -> list[str]:
        _check_limit("limit", limit, MAX_PARTITIONS_PAGE)
        return list(self.keys[:limit])  # type: ignore[attr-defined]

    def resolve_partition_run(self, _info: Any, partition_name: str) -> PartitionRun:
        if partition_name not in self.keys:  # type: ignore[attr-defined]
            raise GraphQLError(  # a bad argument: its message names only what was given
                f"partitionName: {partition_name!r} is not a partition of job "
                f"{self.pipeline_name!r} (expected one of its partitionNames)"
            )
        [run] = self.location.partition_runs(self.pipeline_name, [partition_name])  # type: ignore[attr-defined]
        return PartitionRun(
            partition_name=partition_name,
            run_config_yaml=yaml.safe_dump(run.run_config, sort_keys=False)
            if run.run_config
            else "",
            tags=[Tag(key=k, value=v) for k, v in run.tags.items()],
        )


class PartitionSets(graphene.ObjectType):
    results = graphene.List(graphene.NonNull(PartitionSet), required=True)


class AssetPartitionStatuses(graphene.ObjectType):
    """An asset's partitions by status, and one character per partition (M materialized,
    F failed, I in progress, . missing) for a status bar."""

    asset_key = graphene.Field(AssetKey, required=True)
    num_partitions = graphene.Int(required=True)
    num_materialized = graphene.Int(required=True)
    num_failed = graphene.Int(required=True)
    num_in_progress = graphene.Int(required=True)
    num_missing = graphene.Int(required=True)
    status_string = graphene.String(required=True)
    partition_keys = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="The keys, in the status string's order (a status bar's labels).",
    )

    def resolve_partition_keys(self, _info: Any) -> list[str]:
        return list(self.keys)  # type: ignore[attr-defined]


class LaunchBackfillSuccess(graphene.ObjectType):
    backfill_id = graphene.String(required=True)


class CancelBackfillSuccess(graphene.ObjectType):
    backfill_id = graphene.String(required=True)


class ResumeBackfillSuccess(graphene.ObjectType):
    backfill_id = graphene.String(required=True)


class AddDynamicPartitionSuccess(graphene.ObjectType):
    partitions_def_name = graphene.String(required=True)
    partition_key = graphene.String(required=True)


class DeleteDynamicPartitionsSuccess(graphene.ObjectType):
    partitions_def_name = graphene.String(required=True)


class PartitionSetSelector(graphene.InputObjectType):
    """Dagster's: `partitionSetName` is `<job>_partition_set`."""

    partition_set_name = graphene.String(required=True)
    repository_location_name = graphene.String()


class PartitionRangeInput(graphene.InputObjectType):
    start = graphene.String(required=True)
    end = graphene.String(required=True)


class LaunchBackfillParams(graphene.InputObjectType):
    selector = graphene.InputField(
        PartitionSetSelector, description="Dagster's way to name the job"
    )
    job_name = graphene.String(description="the partitioned job (instead of selector)")
    location_name = graphene.String()
    partition_names = graphene.List(graphene.NonNull(graphene.String))
    partition_range = graphene.InputField(PartitionRangeInput)
    all_partitions = graphene.Boolean()
    missing_partitions = graphene.Boolean(
        description="the partitions not materialized yet (per asset partition status)"
    )
    failed_partitions = graphene.Boolean(
        description="the partitions whose latest materialization failed"
    )
    asset_selection = graphene.List(
        graphene.NonNull(AssetKeyInput),
        description="instead of a job: partitioned assets, run in dependency order across "
        "their partition mappings (partitionNames / partitionRange name the root assets')",
    )
    max_runs_in_flight = graphene.Int()
    tags = graphene.List(graphene.NonNull(ExecutionTag))


PartitionBackfillsOrError = or_error("PartitionBackfillsOrError", PartitionBackfills, e.PythonError)
PartitionBackfillOrError = or_error(
    "PartitionBackfillOrError", PartitionBackfill, BackfillNotFoundError, e.PythonError
)
PartitionSetsOrError = or_error(
    "PartitionSetsOrError", PartitionSets, e.WorkspaceNotConfiguredError, e.PythonError
)
AssetPartitionStatusesOrError = or_error(
    "AssetPartitionStatusesOrError", AssetPartitionStatuses, AssetNotFoundError, e.PythonError
)
LaunchBackfillResult = or_error(
    "LaunchBackfillResult",
    LaunchBackfillSuccess,
    e.InvalidArgumentError,
    e.WorkspaceNotConfiguredError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
CancelBackfillResult = or_error(
    "CancelBackfillResult",
    CancelBackfillSuccess,
    BackfillNotFoundError,
    BackfillStatusError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
ResumeBackfillResult = or_error(
    "ResumeBackfillResult",
    ResumeBackfillSuccess,
    BackfillNotFoundError,
    BackfillStatusError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
AddDynamicPartitionResult = or_error(
    "AddDynamicPartitionResult",
    AddDynamicPartitionSuccess,
    e.InvalidArgumentError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
DeleteDynamicPartitionsResult = or_error(
    "DeleteDynamicPartitionsResult",
    DeleteDynamicPartitionsSuccess,
    e.InvalidArgumentError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)


def _backfill(info: Any, backfill_id: str) -> BackfillRecord:
    record = info.context.instance.storage.get_backfill(backfill_id)
    if record is None:
        raise Refused(
            BackfillNotFoundError(message=f"no backfill {backfill_id!r}", backfill_id=backfill_id)
        )
    return record  # type: ignore[no-any-return]


def _status_error(record: BackfillRecord, action: str, allowed: str) -> Refused:
    return Refused(
        BackfillStatusError(
            message=f"backfill {record.backfill_id} is {record.status.value}; only {allowed} can be {action}",
            backfill_id=record.backfill_id,
            status=record.status.value,
        )
    )


def _selection(params: Any) -> PartitionSelection:
    given = [
        name
        for name, value in (
            ("partitionNames", params.get("partition_names")),
            ("partitionRange", params.get("partition_range")),
            ("allPartitions", params.get("all_partitions") or None),
            ("missingPartitions", params.get("missing_partitions") or None),
            ("failedPartitions", params.get("failed_partitions") or None),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise _invalid(
            "backfillParams",
            given,
            "one of partitionNames, partitionRange, allPartitions, missingPartitions, "
            "failedPartitions",
            "name the partitions with exactly one of partitionNames, partitionRange, "
            "allPartitions, missingPartitions or failedPartitions",
        )
    if params.get("all_partitions"):
        return PartitionSelection(all=True)
    if params.get("missing_partitions") or params.get("failed_partitions"):
        return PartitionSelection(
            missing=bool(params.get("missing_partitions")),
            failed=bool(params.get("failed_partitions")),
        )
    if params.get("partition_range") is not None:
        bounds = params["partition_range"]
        return PartitionSelection(range=(bounds["start"], bounds["end"]))
    return PartitionSelection(keys=tuple(params["partition_names"]))


def _job_of(params: Any) -> tuple[str, str | None]:
    selector = params.get("selector")
    if selector is not None:
        name = selector["partition_set_name"]
        if not name.endswith(PARTITION_SET_SUFFIX):
            raise _invalid(
                "backfillParams.selector.partitionSetName",
                name,
                f"<job>{PARTITION_SET_SUFFIX}",
                f"partition set {name!r}: a job's partition set is named <job>{PARTITION_SET_SUFFIX}",
            )
        return name[: -len(PARTITION_SET_SUFFIX)], selector.get("repository_location_name")
    if not params.get("job_name"):
        raise _invalid(
            "backfillParams", None, "selector or jobName", "name the job: selector or jobName"
        )
    return params["job_name"], params.get("location_name")


class PartitionQueries(graphene.ObjectType):
    partition_backfills_or_error = graphene.Field(
        PartitionBackfillsOrError,
        required=True,
        status=graphene.String(),
        cursor=graphene.String(description="the last backfill id of the previous page"),
        limit=graphene.Int(default_value=20),
        description="Backfills, newest first.",
    )
    partition_backfill_or_error = graphene.Field(
        PartitionBackfillOrError, required=True, backfill_id=graphene.String(required=True)
    )
    partition_sets_or_error = graphene.Field(
        PartitionSetsOrError,
        required=True,
        pipeline_name=graphene.String(description="one job; all partitioned jobs if not given"),
        location_name=graphene.String(),
        description="The partition set of each partitioned job (Dagster: <job>_partition_set).",
    )
    asset_partition_statuses_or_error = graphene.Field(
        AssetPartitionStatusesOrError,
        required=True,
        asset_key=graphene.Argument(AssetKeyInput, required=True),
    )

    @staticmethod
    @typed_errors
    def resolve_partition_backfills_or_error(
        _root: Any, info: Any, status: str | None = None, cursor: str | None = None, limit: int = 20
    ) -> Any:
        _check_limit("limit", limit, MAX_BACKFILLS_PAGE)
        statuses = None
        if status is not None:
            try:
                statuses = [BackfillStatus(status)]
            except ValueError:
                raise _invalid(
                    "status", status, str([s.value for s in BackfillStatus]), "unknown status"
                ) from None
        storage = info.context.instance.storage
        found = storage.get_backfills(statuses=statuses, cursor=cursor, limit=limit)
        return PartitionBackfills(results=[PartitionBackfill.of(b, storage) for b in found])

    @staticmethod
    @typed_errors
    def resolve_partition_backfill_or_error(_root: Any, info: Any, backfill_id: str) -> Any:
        return PartitionBackfill.of(_backfill(info, backfill_id), info.context.instance.storage)

    @staticmethod
    @typed_errors
    def resolve_partition_sets_or_error(
        _root: Any, info: Any, pipeline_name: str | None = None, location_name: str | None = None
    ) -> Any:
        workspace = require_workspace(info.context.workspace)
        instance = info.context.instance
        if pipeline_name is not None:
            locations = [workspace.find_job(pipeline_name, location_name)]
        elif location_name is not None:
            locations = [workspace.get(location_name)]
        else:
            locations = workspace.locations()
        results = []
        for location in locations:
            for job in location.jobs():
                if pipeline_name is not None and job.name != pipeline_name:
                    continue
                partitions = partitions_from_snapshot(job.partitions)
                if partitions is None:
                    continue
                keys = list(partitions.get_partition_keys(dynamic_partitions_store=instance))
                result = PartitionSet(
                    name=job.name + PARTITION_SET_SUFFIX,
                    pipeline_name=job.name,
                    location_name=location.name,
                    num_partitions=len(keys),
                )
                result.keys = keys  # type: ignore[attr-defined]
                result.location = location  # type: ignore[attr-defined]
                results.append(result)
        return PartitionSets(results=results)

    @staticmethod
    @typed_errors
    def resolve_asset_partition_statuses_or_error(_root: Any, info: Any, asset_key: Any) -> Any:
        key = Key(list(asset_key.path)).to_user_string()
        workspace = info.context.workspace
        node = None
        for location in workspace.locations() if workspace is not None else []:
            try:
                node = next((n for n in location.asset_nodes() if "/".join(n["key"]) == key), node)
            except Exception:  # a location that did not load defines nothing now
                continue
        if node is None:
            raise Refused(
                AssetNotFoundError(
                    message=f"no asset {key!r} is defined", asset_key=AssetKey(path=key.split("/"))
                )
            )
        partitions = partitions_from_snapshot(node.get("partitions"))
        if partitions is None:
            raise _invalid(
                "assetKey", key, "a partitioned asset", f"asset {key!r} is not partitioned"
            )
        instance = info.context.instance
        keys = [str(k) for k in partitions.get_partition_keys(dynamic_partitions_store=instance)]
        bar = status_bar(keys, instance.storage.get_asset_partition_statuses(key))
        result = AssetPartitionStatuses(
            asset_key=AssetKey(path=key.split("/")),
            num_partitions=len(keys),
            num_materialized=bar.count("M"),
            num_failed=bar.count("F"),
            num_in_progress=bar.count("I"),
            num_missing=bar.count(MISSING_CHAR),
            status_string=bar.text,
        )
        result.keys = keys  # type: ignore[attr-defined]
        return result


class LaunchPartitionBackfill(graphene.Mutation):
    class Arguments:
        backfill_params = LaunchBackfillParams(required=True)

    Output = LaunchBackfillResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, backfill_params: Any) -> Any:
        check_mutation_allowed(info)
        workspace = require_workspace(info.context.workspace)
        assets = backfill_params.get("asset_selection")
        if assets is not None:
            job_name, location_name = "", None
        else:
            job_name, location_name = _job_of(backfill_params)
        selection = _selection(backfill_params)
        limit = backfill_params.get("max_runs_in_flight")
        if limit is not None and limit < 1:
            raise _invalid(
                "backfillParams.maxRunsInFlight",
                limit,
                "1 or more",
                "maxRunsInFlight must be at least 1",
            )
        tags = tags_dict(backfill_params.get("tags"), "backfillParams.tags", to_set=True)
        try:
            if assets is not None:
                keys = [Key(list(a.path)).to_user_string() for a in assets]
                record = launch_asset_backfill(
                    info.context.instance,
                    workspace,
                    keys,
                    selection,
                    max_runs_in_flight=limit,
                    tags=tags,
                )
            else:
                record = launch_backfill(
                    info.context.instance,
                    workspace,
                    job_name,
                    selection,
                    location_name=location_name,
                    max_runs_in_flight=limit,
                    tags=tags,
                )
        except (PartitionKeyError, DefinitionNotFound, OpgraphError) as exc:
            raise _invalid(
                "backfillParams",
                job_name or [Key(list(a.path)).to_user_string() for a in assets or ()],
                "partitions of a partitioned job or of partitioned assets",
                str(exc),
            ) from None
        return LaunchBackfillSuccess(backfill_id=record.backfill_id)


class CancelPartitionBackfill(graphene.Mutation):
    class Arguments:
        backfill_id = graphene.String(required=True)

    Output = CancelBackfillResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, backfill_id: str) -> Any:
        check_mutation_allowed(info)
        record = _backfill(info, backfill_id)
        if not cancel_backfill(info.context.instance, backfill_id):
            raise _status_error(record, "canceled", "a REQUESTED one")
        return CancelBackfillSuccess(backfill_id=backfill_id)


class ResumePartitionBackfill(graphene.Mutation):
    class Arguments:
        backfill_id = graphene.String(required=True)

    Output = ResumeBackfillResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, backfill_id: str) -> Any:
        check_mutation_allowed(info)
        record = _backfill(info, backfill_id)
        if not resume_backfill(info.context.instance, backfill_id):
            raise _status_error(record, "resumed", "a CANCELED or FAILED one")
        return ResumeBackfillSuccess(backfill_id=backfill_id)


def _keys(argument: str, keys: list[str]) -> list[str]:
    try:
        checked = check_key_characters(keys, argument)
    except Exception as exc:
        raise _invalid(argument, keys, "partition keys", str(exc)) from None
    for key in checked:
        if not key or len(key) > 255:
            raise _invalid(argument, key, "1 to 255 characters", f"{key!r} is not a partition key")
    return checked


class AddDynamicPartition(graphene.Mutation):
    class Arguments:
        partitions_def_name = graphene.String(required=True)
        partition_key = graphene.String(required=True)

    Output = AddDynamicPartitionResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, partitions_def_name: str, partition_key: str) -> Any:
        check_mutation_allowed(info)
        [key] = _keys("partitionKey", [partition_key])
        info.context.instance.add_dynamic_partitions(partitions_def_name, [key])
        return AddDynamicPartitionSuccess(
            partitions_def_name=partitions_def_name, partition_key=key
        )


class DeleteDynamicPartitions(graphene.Mutation):
    class Arguments:
        partitions_def_name = graphene.String(required=True)
        partition_keys = graphene.List(graphene.NonNull(graphene.String), required=True)

    Output = DeleteDynamicPartitionsResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, partitions_def_name: str, partition_keys: list[str]) -> Any:
        check_mutation_allowed(info)
        for key in _keys("partitionKeys", partition_keys):
            info.context.instance.delete_dynamic_partition(partitions_def_name, key)
        return DeleteDynamicPartitionsSuccess(partitions_def_name=partitions_def_name)


class PartitionMutations(graphene.ObjectType):
    launch_partition_backfill = LaunchPartitionBackfill.Field(required=True)
    cancel_partition_backfill = CancelPartitionBackfill.Field(required=True)
    resume_partition_backfill = ResumePartitionBackfill.Field(required=True)
    add_dynamic_partition = AddDynamicPartition.Field(required=True)
    delete_dynamic_partitions = DeleteDynamicPartitions.Field(required=True)

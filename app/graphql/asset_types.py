"""GraphQL types of the asset catalog: asset nodes (definitions, from code locations) and
their materializations and check results (from the catalog tables in storage)."""

from __future__ import annotations

from typing import Any

import graphene
from graphene.types.generic import GenericScalar
from graphql import GraphQLError

from opgraph.assets.staleness import staleness
from opgraph.partitions.snapshot import mapping_from_snapshot
from opgraph_app.graphql.automation_types import (
    MAX_EVALUATIONS_PAGE,
    AutomationCondition,
    AutomationEvaluation,
    condition_info,
    evaluation,
)
from opgraph_app.graphql.errors import TypedError
from opgraph_storage.assets_base import AssetCatalogRecord, AssetCheckExecutionRecord
from opgraph_storage.records import EventRecord

MAX_ASSETS_PAGE = 1000
MAX_HISTORY_PAGE = 500


class AssetKey(graphene.ObjectType):
    path = graphene.List(graphene.NonNull(graphene.String), required=True)

    def resolve_path(self, _info: Any) -> list[str]:
        return list(self.path)


class AssetKeyInput(graphene.InputObjectType):
    path = graphene.List(graphene.NonNull(graphene.String), required=True)


class AssetCheckHandleInput(graphene.InputObjectType):
    """One asset check, as Dagster names it in `assetCheckSelection`."""

    asset_key = graphene.InputField(AssetKeyInput, required=True)
    name = graphene.String(required=True)


def key_of(path: list[str]) -> AssetKey:
    return AssetKey(path=list(path))


class MaterializationEvent(graphene.ObjectType):
    event_id = graphene.ID(required=True)
    run_id = graphene.String(required=True)
    timestamp = graphene.Float(required=True, description="seconds since the epoch")
    step_key = graphene.String()
    metadata = GenericScalar(required=True)
    code_version = graphene.String()
    asset_key = graphene.Field(AssetKey, required=True)

    # Set on one built from a catalog row, whose data (the event's data) has no step key.
    _storage: Any = None

    def resolve_step_key(self, _info: Any) -> str | None:
        if self.step_key is None and self._storage is not None:
            # The event itself, by its indexed key and id, read only when asked for: a
            # catalog page that does not ask for stepKey reads no event.
            key = "/".join(self.asset_key.path)
            [event] = self._storage.get_asset_events(key, before_id=int(self.event_id) + 1, limit=1)
            self.step_key = event.step_key
        return self.step_key  # type: ignore[no-any-return]


def materialization_from_record(
    record: AssetCatalogRecord, storage: Any
) -> MaterializationEvent | None:
    if record.last_materialization_id is None:
        return None
    data = record.last_materialization_data
    found = MaterializationEvent(
        event_id=str(record.last_materialization_id),
        run_id=record.last_materialization_run_id,
        timestamp=record.last_materialization_at,
        metadata=data.get("metadata") or {},
        code_version=data.get("code_version"),
        asset_key=key_of(record.asset_key.split("/")),
    )
    found._storage = storage
    return found


def materialization_from_event(event: EventRecord) -> MaterializationEvent:
    return MaterializationEvent(
        event_id=str(event.storage_id),
        run_id=event.run_id,
        timestamp=event.timestamp,
        step_key=event.step_key,
        metadata=event.data.get("metadata") or {},
        code_version=event.data.get("code_version"),
        asset_key=key_of(event.data["asset_key"]),
    )


class AssetCheckSeverity(graphene.Enum):
    WARN = "WARN"
    ERROR = "ERROR"


class AssetCheckExecution(graphene.ObjectType):
    event_id = graphene.ID(required=True)
    check_name = graphene.String(required=True)
    run_id = graphene.String(required=True)
    timestamp = graphene.Float(required=True)
    passed = graphene.Boolean(required=True)
    status = graphene.String(required=True, description="SUCCEEDED or FAILED")
    severity = graphene.Field(AssetCheckSeverity, required=True)
    metadata = GenericScalar(required=True)
    description = graphene.String()


def check_execution(record: AssetCheckExecutionRecord) -> AssetCheckExecution:
    return AssetCheckExecution(
        event_id=str(record.event_id),
        check_name=record.check_name,
        run_id=record.run_id,
        timestamp=record.timestamp,
        passed=record.passed,
        status="SUCCEEDED" if record.passed else "FAILED",
        severity=record.severity,
        metadata=record.data.get("metadata") or {},
        description=record.data.get("description"),
    )


class AssetCheck(graphene.ObjectType):
    name = graphene.String(required=True)
    description = graphene.String()
    blocking = graphene.Boolean(required=True)
    latest_execution = graphene.Field(AssetCheckExecution)


class AssetStaleness(graphene.ObjectType):
    status = graphene.String(required=True, description="FRESH, STALE or MISSING")
    causes = graphene.List(graphene.NonNull(graphene.String), required=True)


class BackfillPolicy(graphene.ObjectType):
    """How a backfill groups the asset's partitions into runs (Dagster's BackfillPolicy)."""

    max_partitions_per_run = graphene.Int()
    policy_type = graphene.String(required=True)
    description = graphene.String(required=True)


def describe_mapping(snapshot: dict[str, Any]) -> str:
    """A partition mapping's snapshot as a sentence: which upstream partitions a partition reads."""
    kind = snapshot.get("type")
    if kind == "identity":
        return "the upstream partition of the same key"
    if kind == "all":
        return "every upstream partition"
    if kind == "last":
        return "the last upstream partition"
    if kind == "time_window":
        start, end = snapshot.get("start_offset", 0), snapshot.get("end_offset", 0)
        if start == end == 0:
            return "the upstream partitions of the same time window"
        return f"the upstream time windows offset {start} to {end}"
    if kind == "static":
        pairs = snapshot.get("downstream_by_upstream", {})
        return "; ".join(f"{up} → {', '.join(down)}" for up, down in pairs.items())
    if kind == "multi_to_single":
        dimension = snapshot.get("dimension")
        return f"every upstream partition of the same {dimension or 'dimension'} key"
    if kind == "multi":
        dimensions = snapshot.get("dimensions", {})
        return "; ".join(
            f"{up} → {dim.get('dimension_name')}: {describe_mapping(dim.get('mapping', {}))}"
            for up, dim in dimensions.items()
        )
    return str(kind)


class PartitionMapping(graphene.ObjectType):
    """How a dependency's partitions map onto its downstream asset's (Dagster's GraphQL
    PartitionMapping): the mapping's class, and which upstream partitions a partition reads."""

    class_name = graphene.String(required=True)
    description = graphene.String(required=True)


class AssetDependency(graphene.ObjectType):
    """One upstream asset of an asset node."""

    asset_key = graphene.Field(AssetKey, required=True)
    partition_mapping = graphene.Field(
        PartitionMapping,
        description="The partition mapping the dependency names; null when it names none "
        "(Dagster's default for the two partitions definitions applies).",
    )


class AssetNode(graphene.ObjectType):
    """An asset as its code location defines it, with its catalog state."""

    id = graphene.ID(required=True)
    asset_key = graphene.Field(AssetKey, required=True)
    location_name = graphene.String(required=True)
    group_name = graphene.String(required=True)
    description = graphene.String()
    op_name = graphene.String()
    is_executable = graphene.Boolean(required=True)
    code_version = graphene.String()
    kinds = graphene.List(graphene.NonNull(graphene.String), required=True)
    owners = graphene.List(graphene.NonNull(graphene.String), required=True)
    tags = GenericScalar(required=True)
    metadata = GenericScalar(required=True)
    job_names = graphene.List(graphene.NonNull(graphene.String), required=True)
    dependency_keys = graphene.List(graphene.NonNull(AssetKey), required=True)
    depended_by_keys = graphene.List(graphene.NonNull(AssetKey), required=True)
    dependencies = graphene.List(
        graphene.NonNull(AssetDependency),
        required=True,
        description="Its upstream assets (as dependencyKeys), each with its partition mapping.",
    )
    asset_checks = graphene.List(graphene.NonNull(AssetCheck), required=True)
    latest_materialization = graphene.Field(MaterializationEvent)
    staleness = graphene.Field(AssetStaleness, required=True)
    automation_condition = graphene.Field(AutomationCondition)
    backfill_policy = graphene.Field(BackfillPolicy)
    automation_evaluations = graphene.List(
        graphene.NonNull(AutomationEvaluation),
        required=True,
        limit=graphene.Int(default_value=20, description=f"1 to {MAX_EVALUATIONS_PAGE}"),
        before_id=graphene.ID(description="id of the last evaluation of the previous page"),
        description="Evaluations of its automation condition, newest first: stored when it "
        "was requested or when what its condition was true for changed.",
    )

    def __init__(self, node: dict[str, Any], location_name: str, catalog: Any) -> None:
        key = "/".join(node["key"])
        super().__init__(
            id=f"{location_name}:{key}",
            asset_key=key_of(node["key"]),
            location_name=location_name,
            group_name=node["group_name"],
            description=node.get("description"),
            op_name=node.get("op_name"),
            is_executable=node.get("is_executable", False),
            code_version=node.get("code_version"),
            kinds=node.get("kinds", []),
            owners=node.get("owners", []),
            tags=node.get("tags", {}),
            metadata=node.get("metadata", {}),
            job_names=node.get("job_names", []),
            dependency_keys=[key_of(k) for k in node.get("deps", [])],
            depended_by_keys=[key_of(k) for k in node.get("dependents", [])],
        )
        self._node = node
        self._key = key
        self._catalog = catalog

    def resolve_dependencies(self, _info: Any) -> list[AssetDependency]:
        mappings = self._node.get("partition_mappings") or {}
        found = []
        for dep in self._node.get("deps", []):
            mapping = mappings.get("/".join(dep))
            found.append(
                AssetDependency(
                    asset_key=key_of(dep),
                    partition_mapping=PartitionMapping(
                        class_name=type(mapping_from_snapshot(mapping)).__name__,
                        description=describe_mapping(mapping),
                    )
                    if mapping
                    else None,
                )
            )
        return found

    def resolve_latest_materialization(self, _info: Any) -> Any:
        record = self._catalog.record(self._key)
        return materialization_from_record(record, self._catalog.storage) if record else None

    def resolve_asset_checks(self, _info: Any) -> list[AssetCheck]:
        if not self._node.get("checks"):  # no query for an asset without checks
            return []
        latest = {r.check_name: r for r in self._catalog.latest_checks(self._key)}
        return [
            AssetCheck(
                name=c["name"],
                description=c.get("description"),
                blocking=c.get("blocking", False),
                latest_execution=check_execution(latest[c["name"]])
                if c["name"] in latest
                else None,
            )
            for c in self._node.get("checks", [])
        ]

    def resolve_backfill_policy(self, _info: Any) -> BackfillPolicy | None:
        policy = self._node.get("backfill_policy")
        if policy is None:
            return None
        return BackfillPolicy(
            max_partitions_per_run=policy.get("max_partitions_per_run"),
            policy_type=policy["policy_type"],
            description=policy["description"],
        )

    def resolve_automation_condition(self, _info: Any) -> AutomationCondition | None:
        return condition_info(self._node)

    def resolve_automation_evaluations(
        self, _info: Any, limit: int = 20, before_id: str | None = None
    ) -> list[AutomationEvaluation]:
        if not 1 <= limit <= MAX_EVALUATIONS_PAGE:  # a field error: the asset still answers
            raise GraphQLError(f"limit: expected 1 to {MAX_EVALUATIONS_PAGE}, given {limit}")
        before = int(before_id) if before_id else None
        records = self._catalog.storage.get_automation_evaluations(
            self._key, limit=limit, before_id=before
        )
        return [evaluation(r) for r in records]

    def resolve_staleness(self, _info: Any) -> AssetStaleness:
        keys = [self._key, *("/".join(d) for d in self._node.get("deps", []))]
        records = self._catalog.records(keys)
        found = staleness(self._node, records, {})
        return AssetStaleness(status=found.status, causes=found.causes)


class Asset(graphene.ObjectType):
    """A key of the catalog: its definition (if a location defines it) and its history."""

    id = graphene.ID(required=True)
    key = graphene.Field(AssetKey, required=True)
    definition = graphene.Field(AssetNode)
    latest_materialization = graphene.Field(MaterializationEvent)
    asset_materializations = graphene.List(
        graphene.NonNull(MaterializationEvent),
        required=True,
        limit=graphene.Int(default_value=50, description=f"1 to {MAX_HISTORY_PAGE}"),
        before_event_id=graphene.ID(description="eventId of the last event of the previous page"),
        description="Materializations, newest first (paged by event id).",
    )

    def __init__(self, key: str, definition: AssetNode | None, catalog: Any) -> None:
        super().__init__(id=key, key=key_of(key.split("/")), definition=definition)
        self._key = key
        self._catalog = catalog

    def resolve_latest_materialization(self, _info: Any) -> Any:
        record = self._catalog.record(self._key)
        return materialization_from_record(record, self._catalog.storage) if record else None

    def resolve_asset_materializations(
        self, _info: Any, limit: int = 50, before_event_id: str | None = None
    ) -> list[MaterializationEvent]:
        from opgraph_app.graphql.asset_schema import check_page_limit

        check_page_limit("limit", limit, MAX_HISTORY_PAGE)
        before = int(before_event_id) if before_event_id else None
        events = self._catalog.storage.get_asset_events(self._key, before_id=before, limit=limit)
        return [materialization_from_event(e) for e in events]


class AssetConnection(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(Asset), required=True)
    cursor = graphene.String(description="pass as `cursor` for the next page; null at the end")


class AssetNotFoundError(TypedError):
    """No code location defines this key and the catalog has no history of it."""

    asset_key = graphene.Field(AssetKey, required=True)


class AssetWipeSuccess(graphene.ObjectType):
    asset_keys = graphene.List(graphene.NonNull(AssetKey), required=True)
    wiped = graphene.Int(required=True, description="how many keys had catalog rows")

"""Asset queries and mutations: the catalog (assetsOrError, assetOrError, assetNodes,
assetCheckExecutions), materializing a selection, and wiping history."""

from __future__ import annotations

from typing import Any

import graphene

from opgraph.assets.keys import AssetKey as Key
from opgraph.assets.launch import asset_location, create_asset_run
from opgraph.errors import OpgraphError, RunConfigError
from opgraph.run_lifecycle import submit_or_fail
from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import parse_run_config, require_workspace, tags_dict
from opgraph_app.graphql.asset_index import AssetIndex, asset_index
from opgraph_app.graphql.asset_types import (
    MAX_ASSETS_PAGE,
    Asset,
    AssetCheckExecution,
    AssetConnection,
    AssetKeyInput,
    AssetNode,
    AssetNotFoundError,
    AssetWipeSuccess,
    check_execution,
    key_of,
)
from opgraph_app.graphql.errors import Refused, check_mutation_allowed, typed_errors
from opgraph_app.graphql.mutations import LaunchRunSuccess
from opgraph_app.graphql.unions import or_error
from opgraph_storage.assets_base import AssetCatalogRecord


def check_page_limit(argument: str, value: int, maximum: int) -> None:
    if not 1 <= value <= maximum:
        raise Refused(
            e.InvalidArgumentError(
                message=f"{argument}: expected 1 to {maximum}, given {value}",
                argument=argument,
                given=str(value),
                expected=f"1 to {maximum}",
            )
        )


class Catalog:
    """One request's view of the catalog: asset nodes from the code locations, catalog
    rows from storage, each read once."""

    def __init__(self, context: Any):
        self.context = context
        self.storage = context.instance.storage
        self._records: dict[str, AssetCatalogRecord | None] = {}
        self._index: AssetIndex | None = None

    def index(self) -> AssetIndex:
        if self._index is None:
            self._index = asset_index(self.context.workspace)
        return self._index

    def nodes(self) -> list[tuple[str, dict[str, Any]]]:
        """(location name, node) of every defined asset, by key."""
        return self.index().nodes

    def node(self, key: str) -> AssetNode | None:
        found = self.index().by_key.get(key)
        return AssetNode(found[1], found[0], self) if found else None

    def records(self, keys: list[str]) -> dict[str, AssetCatalogRecord]:
        missing = [k for k in keys if k not in self._records]
        if missing:
            found = {r.asset_key: r for r in self.storage.get_asset_records(missing)}
            for key in missing:
                self._records[key] = found.get(key)
        return {k: r for k in keys if (r := self._records[k]) is not None}

    def record(self, key: str) -> AssetCatalogRecord | None:
        return self.records([key]).get(key)

    def latest_checks(self, key: str) -> list[Any]:
        return self.storage.get_asset_check_executions(key, latest_only=True)  # type: ignore[no-any-return]


def _catalog(info: Any) -> Catalog:
    cache = info.context.cache
    if "asset_catalog" not in cache:
        cache["asset_catalog"] = Catalog(info.context)
    return cache["asset_catalog"]  # type: ignore[no-any-return]


def _key_text(key_input: Any) -> str:
    try:
        return Key(list(key_input.path)).to_user_string()
    except OpgraphError as exc:
        raise Refused(
            e.InvalidArgumentError(
                message=str(exc), argument="assetKey", given=str(key_input.path), expected="names"
            )
        ) from None


def _filtered_nodes(
    catalog: Catalog, prefix: list[str] | None, group: str | None, kind: str | None
) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, node in catalog.nodes():
        if prefix and node["key"][: len(prefix)] != prefix:
            continue
        if group is not None and node["group_name"] != group:
            continue
        if kind is not None and kind not in node.get("kinds", []):
            continue
        out.append((name, node))
    return out


AssetsOrError = or_error("AssetsOrError", AssetConnection, e.PythonError)
AssetOrError = or_error("AssetOrError", Asset, AssetNotFoundError, e.PythonError)
LaunchAssetRunResult = or_error(
    "LaunchAssetRunResult",
    LaunchRunSuccess,
    AssetNotFoundError,
    e.RunConfigValidationInvalid,
    e.WorkspaceNotConfiguredError,
    *e.MUTATION_REFUSALS,
    e.PythonError,
)
WipeAssetsResult = or_error(
    "WipeAssetsResult", AssetWipeSuccess, *e.MUTATION_REFUSALS, e.PythonError
)


class AssetQueries(graphene.ObjectType):
    assets_or_error = graphene.Field(
        AssetsOrError,
        required=True,
        prefix=graphene.List(graphene.NonNull(graphene.String)),
        group=graphene.String(),
        kind=graphene.String(),
        cursor=graphene.String(description="the last key (a/b) of the previous page"),
        limit=graphene.Int(default_value=100, description=f"1 to {MAX_ASSETS_PAGE}"),
        description="Assets defined in the workspace or recorded in the catalog, by key.",
    )
    asset_or_error = graphene.Field(
        AssetOrError, required=True, asset_key=graphene.Argument(AssetKeyInput, required=True)
    )
    asset_nodes = graphene.List(
        graphene.NonNull(AssetNode),
        required=True,
        group=graphene.String(),
        prefix=graphene.List(graphene.NonNull(graphene.String)),
        kind=graphene.String(),
        description="Asset definitions of every code location.",
    )
    asset_check_executions = graphene.List(
        graphene.NonNull(AssetCheckExecution),
        required=True,
        asset_key=graphene.Argument(AssetKeyInput, required=True),
        check_name=graphene.String(),
        limit=graphene.Int(default_value=50),
        description="Evaluations of an asset's checks, newest first.",
    )

    @staticmethod
    @typed_errors
    def resolve_assets_or_error(
        _root: Any,
        info: Any,
        prefix: list[str] | None = None,
        group: str | None = None,
        kind: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Any:
        check_page_limit("limit", limit, MAX_ASSETS_PAGE)
        catalog = _catalog(info)
        nodes = {
            "/".join(n["key"]): (name, n)
            for name, n in _filtered_nodes(catalog, prefix, group, kind)
        }
        keys = {k for k in nodes if cursor is None or k > cursor}
        if group is None and kind is None:  # catalog rows have no group or kind
            rows = catalog.storage.get_asset_records(
                prefix="/".join(prefix) if prefix else None, after_key=cursor, limit=limit
            )
            catalog._records.update({r.asset_key: r for r in rows})
            keys |= {r.asset_key for r in rows}
        page = sorted(keys)[:limit]
        # One query for the page's catalog rows and their upstreams' (staleness reads both).
        upstream = ["/".join(d) for k in page if k in nodes for d in nodes[k][1].get("deps", [])]
        catalog.records([*page, *upstream])
        assets = [
            Asset(k, AssetNode(nodes[k][1], nodes[k][0], catalog) if k in nodes else None, catalog)
            for k in page
        ]
        return AssetConnection(nodes=assets, cursor=page[-1] if len(page) == limit else None)

    @staticmethod
    @typed_errors
    def resolve_asset_or_error(_root: Any, info: Any, asset_key: Any) -> Any:
        key = _key_text(asset_key)
        catalog = _catalog(info)
        definition = catalog.node(key)
        if definition is None and catalog.record(key) is None:
            return AssetNotFoundError(
                message=f"no asset {key}: no code location defines it and it has no history",
                asset_key=key_of(key.split("/")),
            )
        return Asset(key, definition, catalog)

    @staticmethod
    def resolve_asset_nodes(
        _root: Any,
        info: Any,
        group: str | None = None,
        prefix: list[str] | None = None,
        kind: str | None = None,
    ) -> list[AssetNode]:
        catalog = _catalog(info)
        found = _filtered_nodes(catalog, prefix, group, kind)
        if group is not None or prefix or kind is not None:
            # One query for their catalog rows and their upstreams' (staleness and the
            # latest materialization read them), instead of one per asset: a group of 200
            # took 150 ms, mostly those reads. (Unfiltered, the rows are read as asked:
            # a field list without them reads none.)
            keys = ["/".join(n["key"]) for _, n in found]
            catalog.records([*keys, *("/".join(d) for _, n in found for d in n.get("deps", []))])
        return [AssetNode(n, name, catalog) for name, n in found]

    @staticmethod
    def resolve_asset_check_executions(
        _root: Any, info: Any, asset_key: Any, check_name: str | None = None, limit: int = 50
    ) -> list[AssetCheckExecution]:
        key = Key(list(asset_key.path)).to_user_string()
        storage = info.context.instance.storage
        records = storage.get_asset_check_executions(key, check_name, limit=min(limit, 500))
        return [check_execution(r) for r in records]


class LaunchAssetRun(graphene.Mutation):
    """Materialize these assets: a run of the location's asset job cut down to them."""

    class Arguments:
        asset_keys = graphene.List(graphene.NonNull(AssetKeyInput), required=True)
        run_config_data = graphene.JSONString()
        tags = graphene.JSONString(description='{"key": "value"}')

    Output = LaunchAssetRunResult

    @staticmethod
    @typed_errors
    def mutate(
        _root: Any, info: Any, asset_keys: list[Any], run_config_data: Any = None, tags: Any = None
    ) -> Any:
        check_mutation_allowed(info)
        keys = [Key.from_user_string(_key_text(k)) for k in asset_keys]
        if not keys:
            raise Refused(
                e.InvalidArgumentError(
                    message="assetKeys: expected at least one key",
                    argument="assetKeys",
                    given="[]",
                    expected="one or more asset keys",
                )
            )
        run_config = parse_run_config(run_config_data, info.context.limits.run_config)
        if tags is not None and not isinstance(tags, dict):
            raise Refused(
                e.InvalidArgumentError(
                    message="tags: expected a JSON object of strings",
                    argument="tags",
                    given=str(tags)[:200],
                    expected='{"key": "value"}',
                )
            )
        tag_values = tags_dict(
            [{"key": k, "value": v} for k, v in (tags or {}).items()], "tags", to_set=True
        )
        workspace = require_workspace(info.context.workspace)
        try:
            location = asset_location(workspace, keys)
        except OpgraphError as exc:
            return AssetNotFoundError(message=str(exc), asset_key=key_of(list(keys[0].path)))
        try:
            run = create_asset_run(info.context.instance, location, keys, run_config, tag_values)
        except RunConfigError as exc:
            return e.config_errors(run_config_name(keys), exc.errors)
        return LaunchRunSuccess(run=submit_or_fail(info.context.instance, run))


def run_config_name(keys: list[Key]) -> str:
    from opgraph.assets.job import ASSET_JOB_NAME, subset_job_name

    return subset_job_name(ASSET_JOB_NAME, keys)


class WipeAssets(graphene.Mutation):
    """Forget the history of these assets (catalog rows and their events)."""

    class Arguments:
        asset_keys = graphene.List(graphene.NonNull(AssetKeyInput), required=True)

    Output = WipeAssetsResult

    @staticmethod
    @typed_errors
    def mutate(_root: Any, info: Any, asset_keys: list[Any]) -> Any:
        check_mutation_allowed(info)
        keys = [_key_text(k) for k in asset_keys]
        wiped = info.context.instance.storage.wipe_assets(keys)
        return AssetWipeSuccess(asset_keys=[key_of(k.split("/")) for k in keys], wiped=wiped)


class AssetMutations(graphene.ObjectType):
    launch_asset_run = LaunchAssetRun.Field()
    wipe_assets = WipeAssets.Field()

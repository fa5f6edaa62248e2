"""`assetCatalogOrError`: one page of the asset catalog, filtered and searched on the
server, with what the catalog page's filters and group lineage need.

Why a page: with 10,000 assets, `assetNodes` with the catalog's columns (latest
materialization, staleness, checks) took 7.7 s in graphene alone (about 0.7 ms an asset,
most of it one catalog read per asset), and even keys and groups 1 s; a browser table of
10,000 rows adds its own seconds. A page of 100 reads the catalog rows of its assets (and
their upstreams, for staleness) in one query. The groups (with the groups they read from)
summarize all of it, so that the page can draw a lineage of groups when a lineage of
10,000 assets would be unreadable and slow to lay out.
"""

from __future__ import annotations

from typing import Any

import graphene

from opgraph_app.graphql import errors as e
from opgraph_app.graphql.arguments import check_offset
from opgraph_app.graphql.asset_schema import _catalog, check_page_limit
from opgraph_app.graphql.asset_types import AssetNode
from opgraph_app.graphql.errors import typed_errors
from opgraph_app.graphql.unions import or_error

MAX_CATALOG_PAGE = 500


class AssetGroup(graphene.ObjectType):
    name = graphene.String(required=True)
    asset_count = graphene.Int(required=True)
    upstream_groups = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Groups holding an asset that an asset of this group depends on.",
    )


class AssetCatalogPage(graphene.ObjectType):
    total = graphene.Int(required=True, description="Assets matching the filters.")
    asset_count = graphene.Int(required=True, description="Assets of every code location.")
    offset = graphene.Int(required=True)
    nodes = graphene.List(graphene.NonNull(AssetNode), required=True)
    groups = graphene.List(graphene.NonNull(AssetGroup), required=True)
    kinds = graphene.List(graphene.NonNull(graphene.String), required=True)
    owners = graphene.List(graphene.NonNull(graphene.String), required=True)


AssetCatalogOrError = or_error(
    "AssetCatalogOrError", AssetCatalogPage, e.InvalidArgumentError, e.PythonError
)


def _matches(
    node: dict[str, Any], search: str, group: str | None, kind: str | None, owner: str | None
) -> bool:
    if search and search not in "/".join(node["key"]).lower():
        return False
    if group is not None and node["group_name"] != group:
        return False
    if kind is not None and kind not in node.get("kinds", []):
        return False
    return owner is None or owner in node.get("owners", [])


class AssetCatalogQueries(graphene.ObjectType):
    asset_catalog_or_error = graphene.Field(
        AssetCatalogOrError,
        required=True,
        search=graphene.String(description="part of a key, any case"),
        group=graphene.String(),
        kind=graphene.String(),
        owner=graphene.String(),
        offset=graphene.Int(default_value=0),
        limit=graphene.Int(default_value=100, description=f"1 to {MAX_CATALOG_PAGE}"),
        description="A page of the assets the code locations define, by key, filtered.",
    )

    @staticmethod
    @typed_errors
    def resolve_asset_catalog_or_error(
        _root: Any,
        info: Any,
        search: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        owner: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> Any:
        check_page_limit("limit", limit, MAX_CATALOG_PAGE)
        check_offset("offset", offset, expected="0 or more")
        catalog = _catalog(info)
        index = catalog.index()
        every = index.nodes
        needle = (search or "").strip().lower()
        matching = [(loc, n) for loc, n in every if _matches(n, needle, group, kind, owner)]
        page = matching[offset : offset + limit]
        # One query for the page's catalog rows and their upstreams' (staleness reads both).
        keys = ["/".join(n["key"]) for _, n in page]
        catalog.records([*keys, *("/".join(d) for _, n in page for d in n.get("deps", []))])
        return AssetCatalogPage(
            total=len(matching),
            asset_count=len(every),
            offset=offset,
            nodes=[AssetNode(n, location, catalog) for location, n in page],
            groups=[
                AssetGroup(
                    name=g.name, asset_count=g.asset_count, upstream_groups=g.upstream_groups
                )
                for g in index.groups
            ],
            kinds=index.kinds,
            owners=index.owners,
        )

"""The GraphQL schema (graphene 3)."""

from __future__ import annotations

import graphene

from opgraph_app.graphql.asset_catalog import AssetCatalogQueries
from opgraph_app.graphql.asset_schema import AssetMutations, AssetQueries
from opgraph_app.graphql.mutations import Mutation as RunMutation
from opgraph_app.graphql.partition_schema import PartitionMutations, PartitionQueries
from opgraph_app.graphql.queries import Query as RunQuery
from opgraph_app.graphql.ui_fields import UiMutation, UiQuery


class Query(RunQuery, UiQuery, AssetQueries, AssetCatalogQueries, PartitionQueries):
    pass


class Mutation(RunMutation, UiMutation, AssetMutations, PartitionMutations):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)

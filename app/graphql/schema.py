"""The GraphQL schema (graphene 3)."""

from __future__ import annotations

import graphene

from opgraph_app.graphql.mutations import Mutation as RunMutation
from opgraph_app.graphql.queries import Query as RunQuery
from opgraph_app.graphql.ui_fields import UiMutation, UiQuery


class Query(RunQuery, UiQuery):
    pass


class Mutation(RunMutation, UiMutation):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)

"""The GraphQL schema (graphene 3)."""

from __future__ import annotations

import graphene

from app.graphql.mutations import Mutation as RunMutation
from app.graphql.queries import Query
from app.graphql.ui_fields import UiMutation


class Mutation(RunMutation, UiMutation):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)

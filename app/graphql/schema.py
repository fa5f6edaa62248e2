"""The GraphQL schema (graphene 3)."""

from __future__ import annotations

import graphene

from app.graphql.mutations import Mutation
from app.graphql.queries import Query

schema = graphene.Schema(query=Query, mutation=Mutation)

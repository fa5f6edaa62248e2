"""`...OrError` unions: a result type or one of the typed errors, told apart by __typename."""

from __future__ import annotations

from typing import Any

import graphene

from opgraph.workspace.base import Workspace as WorkspaceValue
from opgraph_app.graphql.errors import InvalidArgumentError, LimitExceededError
from opgraph_app.graphql.types import EventConnection, EventsPage, Run, Runs, RunsPage
from opgraph_app.graphql.workspace_types import Workspace
from opgraph_storage.records import RunRecord

# Resolvers return plain records for these; every other member is a graphene object.
_TYPE_OF_RECORD: dict[type, Any] = {
    RunRecord: Run,
    RunsPage: Runs,
    EventsPage: EventConnection,
    WorkspaceValue: Workspace,
}


class OrError(graphene.Union):
    class Meta:
        abstract = True

    @classmethod
    def resolve_type(cls, instance: Any, info: Any) -> Any:
        for record_type, graphene_type in _TYPE_OF_RECORD.items():
            if isinstance(instance, record_type):
                return graphene_type
        return type(instance)


# Any field may refuse an argument or a limit (docs/graphql.md, the error contract).
_ALWAYS = (InvalidArgumentError, LimitExceededError)


def or_error(name: str, *members: Any) -> type[OrError]:
    members = (*members, *(error for error in _ALWAYS if error not in members))
    meta = type("Meta", (), {"types": members})
    return type(name, (OrError,), {"Meta": meta})

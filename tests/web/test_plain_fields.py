"""The webserver's GraphQL execution reads plain scalars and lists of plain objects its own
faster way (app/graphql/limits.py); every answer, errors and their paths included, must
be graphql-core's own."""

from enum import Enum
from typing import Any

import graphene
import pytest
from graphql import ExecutionContext, execute_sync, parse

from opgraph_app.graphql.limits import BoundedExecutionContext, _plain_leaf
from opgraph_app.graphql.types import Run, TagPair
from opgraph_storage.records import RunRecord, RunStatus


class Color(Enum):
    RED = "red"
    BLUE = "blue"


ColorType = graphene.Enum.from_enum(Color)


class Pair(graphene.ObjectType):
    key = graphene.String(required=True)
    value = graphene.String()
    number = graphene.Int()
    color = graphene.Field(ColorType)
    shout = graphene.String()

    @staticmethod
    def resolve_shout(root: Any, _info: Any) -> str:
        return str(root["key"] if isinstance(root, dict) else root.key).upper()


class Holder(graphene.ObjectType):
    name = graphene.String(required=True)
    pairs = graphene.List(graphene.NonNull(Pair), required=True)
    maybe_pairs = graphene.List(Pair)
    loose = graphene.List(Pair)
    words = graphene.List(graphene.String)


class Query(graphene.ObjectType):
    holders = graphene.List(graphene.NonNull(Holder), required=True)

    @staticmethod
    def resolve_holders(_root: Any, _info: Any) -> list:
        good = [TagPair("a", "1"), {"key": "b", "value": None, "number": 3, "color": Color.RED}]
        return [
            Holder(
                name="plain",
                pairs=good,
                maybe_pairs=[*good, None],
                words=["x", None],
                loose=[{"key": "k", "number": "many"}, {"key": ValueError("boom")}, {"key": None}],
            ),
            Holder(name="null key", pairs=[{"key": None}], maybe_pairs=None, words=[]),
            Holder(name="bad int", pairs=[{"key": "k", "number": "many"}], maybe_pairs=[]),
            Holder(name="error", pairs=[{"key": ValueError("boom")}], maybe_pairs=[]),
            Holder(name="big int", pairs=[{"key": "k", "number": 2**40}], maybe_pairs=[]),
            Holder(name="blue", pairs=[{"key": "k", "color": "blue"}], maybe_pairs=[]),
        ]


toy_schema = graphene.Schema(query=Query).graphql_schema

QUERIES = [
    "{ holders { name pairs { key value } } }",
    "{ holders { name pairs { __typename k: key key value number color } } }",
    "{ holders { name maybePairs { key value } words } }",
    "{ holders { pairs { key shout } } }",
    "{ holders { pairs { ...P } maybePairs { ... on Pair { number } } } } fragment P on Pair { key }",
    "{ holders { name pairs { key @include(if: false) value @skip(if: true) number } } }",
    "{ holders { n: name, name, pairs { value } } }",
    "{ holders { name loose { key number } } }",
]


def _answer(schema: Any, query: str, context_class: type[ExecutionContext]) -> Any:
    result = execute_sync(schema, parse(query), execution_context_class=context_class)
    return result.data, [(e.message, e.path) for e in result.errors or ()]


@pytest.mark.parametrize("query", QUERIES)
def test_the_fast_way_answers_as_graphql_core_does(query):
    expected = _answer(toy_schema, query, ExecutionContext)
    assert _answer(toy_schema, query, BoundedExecutionContext) == expected
    # The data's keys in the selection's order too.
    assert repr(_answer(toy_schema, query, BoundedExecutionContext)) == repr(expected)
    assert (
        _plain_leaf(
            toy_schema.type_map["Pair"], parse("{ key }").definitions[0].selection_set.selections[0]
        )
        is not None
    )  # the fast way was there


def test_errors_of_plain_fields_are_still_reported():
    data, errors = _answer(toy_schema, QUERIES[1], BoundedExecutionContext)
    assert data is None  # a null key propagates up the non-null list to the root
    messages = " | ".join(message for message, _ in errors)
    assert "Cannot return null for non-nullable field Pair.key" in messages
    query = "{ holders { loose { key number } } }"
    data, errors = _answer(toy_schema, query, BoundedExecutionContext)
    assert data["holders"][0]["loose"] == [{"key": "k", "number": None}, None, None]
    messages = " | ".join(message for message, _ in errors)
    assert "Int cannot represent" in messages and "boom" in messages
    assert "Cannot return null for non-nullable field Pair.key" in messages
    assert (data, errors) == _answer(toy_schema, query, ExecutionContext)


class RunsQuery(graphene.ObjectType):
    runs = graphene.List(graphene.NonNull(Run), required=True)

    @staticmethod
    def resolve_runs(_root: Any, _info: Any) -> list[RunRecord]:
        return [
            RunRecord(
                run_id=f"run-{i}",
                job_name="job",
                status=status,
                tags={"team": f"t{i}", "opgraph/priority": "1"},
            )
            for i, status in enumerate(RunStatus)
        ]


def test_a_page_of_runs_answers_as_graphql_core_does():
    schema = graphene.Schema(query=RunsQuery).graphql_schema
    query = "{ runs { runId jobName status createdAt canTerminate tags { key value } } }"
    expected = _answer(schema, query, ExecutionContext)
    assert not expected[1] and len(expected[0]["runs"]) == len(RunStatus)
    assert expected[0]["runs"][0]["tags"] == [
        {"key": "opgraph/priority", "value": "1"},
        {"key": "team", "value": "t0"},
    ]
    assert repr(_answer(schema, query, BoundedExecutionContext)) == repr(expected)

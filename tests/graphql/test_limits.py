"""Depth and token limits, and the JSON error shape, in process (no server needed)."""

import json

import pytest
from graphql import parse, validate

from opgraph_app import create_app
from opgraph_app.graphql.limits import depth_limit_rule
from opgraph_app.graphql.schema import schema


def depth_errors(query: str, limit: int) -> list[str]:
    return [
        e.message for e in validate(schema.graphql_schema, parse(query), [depth_limit_rule(limit)])
    ]


def test_depth_counts_fields_through_fragments():
    query = """
    query Deep { runsOrError { ...page } }
    fragment page on Runs { results { ...run } }
    fragment run on Run { stepStats { stepKey } tags { key } }
    """
    assert depth_errors(query, 4) == []
    assert depth_errors(query, 3) == ["operation Deep nests 4 levels deep; the limit is 3"]


def test_fragment_fan_out_is_not_exponential():
    # f0 spreads f1 twice, f1 spreads f2 twice, ...: 2**40 paths, but each fragment once.
    fragments = "\n".join(
        f"fragment f{i} on Instance {{ ...f{i + 1} ...f{i + 1} info }}" for i in range(40)
    )
    query = "{ instance { ...f0 } }\n" + fragments + "\nfragment f40 on Instance { info }"
    assert depth_errors(query, 20) == []


def test_the_introspection_query_of_graphiql_fits():
    from graphql import get_introspection_query

    assert depth_errors(get_introspection_query(), 20) == []


@pytest.fixture
def client(tmp_path):
    from opgraph.instance import OpgraphInstance

    (tmp_path / "instance.yaml").write_text(f"storage: {{url: 'sqlite:///{tmp_path}/db'}}\n")
    return create_app(OpgraphInstance.get(tmp_path)).test_client()


def test_too_many_tokens_is_a_graphql_error(client):
    query = "{ " + " ".join(f"a{i}: instance {{ info }}" for i in range(5000)) + " }"
    answer = client.post("/graphql", json={"query": query}).get_json()
    assert answer["data"] is None
    assert "Document contains more than 20000 tokens" in answer["errors"][0]["message"]


def test_unknown_fields_are_graphql_errors_not_500(client):
    response = client.post("/graphql", json={"query": "{ nope }"})
    assert response.status_code == 200
    assert "Cannot query field 'nope'" in json.loads(response.data)["errors"][0]["message"]

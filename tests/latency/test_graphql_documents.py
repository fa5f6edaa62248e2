"""/graphql keeps parsed documents by query text; the limits still apply per request."""

import pytest

from opgraph.instance import OpgraphInstance
from opgraph_app import create_app
from opgraph_app.graphql import view

RUNS = "query Runs($limit: Int) { runsOrError(limit: $limit) { __typename } }"


@pytest.fixture
def client(tmp_path):
    (tmp_path / "instance.yaml").write_text(
        f"storage: {{url: 'sqlite:///{tmp_path}/db'}}\n"
        "webserver: {limits: {max_query_cost: 5000}}\n"
    )
    return create_app(OpgraphInstance.get(tmp_path)).test_client()


@pytest.fixture
def parses(monkeypatch):
    seen: list[str] = []
    real = view.parse

    def counting(source, **kwargs):
        seen.append(source)
        return real(source, **kwargs)

    monkeypatch.setattr(view, "parse", counting)
    return seen


def post(client, query, variables=None):
    return client.post("/graphql", json={"query": query, "variables": variables}).get_json()


def test_a_query_sent_again_is_parsed_once(client, parses):
    first = post(client, RUNS, {"limit": 10})
    second = post(client, RUNS, {"limit": 20})
    assert first == second == {"data": {"runsOrError": {"__typename": "Runs"}}}
    assert parses == [RUNS]


def test_the_cost_limit_still_follows_each_requests_variables(client, parses):
    assert "errors" not in post(client, RUNS, {"limit": 10})
    refused = post(client, RUNS, {"limit": 100_000})
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert parses == [RUNS]  # the refusal came from the cached document


def test_an_invalid_query_answers_its_error_every_time(client, parses):
    for _ in range(2):
        answer = post(client, "{ nope }")
        assert "Cannot query field 'nope'" in answer["errors"][0]["message"]


def test_a_too_deep_query_is_refused_every_time(client):
    deep = "{ __schema { types { fields { type { " + "ofType { " * 20 + "name" + " }" * 25
    for _ in range(2):
        message = post(client, deep)["errors"][0]["message"]
        assert "levels deep; the limit is 20" in message


def test_the_cache_is_bounded():
    cache = view._DocumentCache(size=3)
    for index in range(5):
        query = f"query Q{index} {{ __typename }}"
        cache.put(query, object())  # type: ignore[arg-type]
    assert cache.get("query Q0 { __typename }") is None
    assert cache.get("query Q4 { __typename }") is not None
    cache.put("{ " + "x" * view.DOCUMENT_CACHE_MAX_CHARS + " }", object())  # type: ignore[arg-type]
    assert len(cache._entries) == 3

"""The GraphQL fields the UI added (app/graphql/ui_fields.py), without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opgraph.instance import OpgraphInstance
from opgraph_app import create_app

MUTATIONS = """mutation {
  reloadLocation(locationName: "nowhere") { __typename ... on Error { message } }
  drainWorker(workerName: "nobody@nowhere") { __typename ... on Error { message } }
}"""


@pytest.fixture
def instance(tmp_path: Path, redis_url: str) -> Iterator[OpgraphInstance]:
    config = {
        "storage": {"url": f"sqlite:///{tmp_path}/db"},
        "celery": {"broker_url": redis_url, "backend_url": redis_url,
                   "default_queue": f"opgraph-ui-fields-{tmp_path.name}"},
    }  # fmt: skip
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump({"load_from": []}))
    made = OpgraphInstance.get(tmp_path)
    yield made
    made.dispose()


def ask(instance: OpgraphInstance, query: str, read_only: bool = False) -> dict[str, Any]:
    client = create_app(instance, read_only=read_only).test_client()
    answer = client.post("/graphql", json={"query": query}).get_json()
    assert "errors" not in answer, answer
    return answer["data"]  # type: ignore[no-any-return]


def test_actions_answer_typed_errors(instance: OpgraphInstance, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPGRAPH_WORKSPACE", str(instance.home / "workspace.yaml"))

    data = ask(instance, MUTATIONS)

    assert data["reloadLocation"]["__typename"] == "LocationNotFoundError"
    assert "no code location named 'nowhere'" in data["reloadLocation"]["message"]
    assert data["drainWorker"]["__typename"] == "InvalidArgumentError"
    assert "did not answer or consumes no queue" in data["drainWorker"]["message"]


def test_read_only_refuses_the_actions(instance: OpgraphInstance):
    data = ask(instance, MUTATIONS, read_only=True)

    assert data["reloadLocation"]["__typename"] == "ReadOnlyError"
    assert data["drainWorker"]["__typename"] == "ReadOnlyError"


def test_no_daemon_lease_without_a_daemon(instance: OpgraphInstance):
    assert ask(instance, "{ daemonLease { host } }") == {"daemonLease": None}

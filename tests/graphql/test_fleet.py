"""`workersOrError` / `queuesOrError` against the real Redis broker and a real worker."""

from pathlib import Path

import yaml

from opgraph.instance import OpgraphInstance
from opgraph_app import create_app

QUERY = """{
  workersOrError { __typename ... on Workers { results { name queues responding } } }
  queuesOrError { __typename ... on Queues { results { name depth consumers } } }
}"""


def test_fleet_without_workers(tmp_path: Path, redis_url: str):
    config = {
        "storage": {"url": f"sqlite:///{tmp_path}/db"},
        "celery": {"broker_url": redis_url, "backend_url": redis_url,
                   "default_queue": f"opgraph-test-{tmp_path.name}"},
    }  # fmt: skip
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump(config))
    instance = OpgraphInstance.get(tmp_path)
    answer = create_app(instance).test_client().post("/graphql", json={"query": QUERY}).get_json()
    assert "errors" not in answer, answer
    # Other tests' workers may share this Redis: none of them consumes our queue.
    queue = config["celery"]["default_queue"]
    workers = answer["data"]["workersOrError"]
    assert workers["__typename"] == "Workers"
    assert all(queue not in worker["queues"] for worker in workers["results"])
    queues = answer["data"]["queuesOrError"]["results"]
    assert {"name": queue, "depth": 0, "consumers": []} in queues
    instance.dispose()

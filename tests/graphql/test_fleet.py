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


def test_queue_throughput_counts_steps_finished_on_it(tmp_path: Path, redis_url: str):
    import time

    from opgraph_storage import StepAttempt, StepAttemptStatus

    queue = f"opgraph-test-{tmp_path.name}"
    config = {
        "storage": {"url": f"sqlite:///{tmp_path}/db"},
        "celery": {"broker_url": redis_url, "backend_url": redis_url, "default_queue": queue},
    }
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump(config))
    instance = OpgraphInstance.get(tmp_path)
    storage = instance.storage
    now = time.time()
    ages = {"recent": 20.0, "older": 290.0, "long-ago": 5000.0}  # seconds before now
    storage.add_step_attempts(
        [StepAttempt(name, "r1", name, 0, queue=queue, queued_at=now - age - 5)
         for name, age in ages.items()]
        + [StepAttempt("live", "r1", "live", 0, queue=queue, queued_at=now)]
    )  # fmt: skip
    for name, age in ages.items():
        storage.claim_step_attempt(name, "w", 1, now=now - age - 1)
        storage.finish_step_attempt(name, StepAttemptStatus.SUCCESS, now=now - age)
    client = create_app(instance).test_client()

    query = """query($window: Int!, $bucket: Int!) { queuesOrError { ... on Queues { results {
      name throughput(windowSeconds: $window, bucketSeconds: $bucket) { since bucketSeconds finished }
    } } } }"""
    answer = client.post(
        "/graphql", json={"query": query, "variables": {"window": 600, "bucket": 60}}
    ).get_json()
    assert "errors" not in answer, answer
    [ours] = [q for q in answer["data"]["queuesOrError"]["results"] if q["name"] == queue]
    throughput = ours["throughput"]
    assert throughput["bucketSeconds"] == 60
    assert len(throughput["finished"]) == 10
    assert sum(throughput["finished"]) == 2  # neither the long-ago one nor the queued one
    # Each counted where it ended: the windows start at `since`, one per minute.
    for name in ("recent", "older"):
        index = int((now - ages[name] - throughput["since"]) // 60)
        assert throughput["finished"][index] >= 1, (name, throughput)

    answer = client.post(
        "/graphql", json={"query": query, "variables": {"window": 86400, "bucket": 10}}
    ).get_json()
    [error] = answer["errors"]
    assert "8640 buckets; expected at most 240 (use wider buckets)" in error["message"]
    answer = client.post(
        "/graphql", json={"query": query, "variables": {"window": 0, "bucket": 60}}
    ).get_json()
    assert "windowSeconds" in answer["errors"][0]["message"]
    instance.dispose()

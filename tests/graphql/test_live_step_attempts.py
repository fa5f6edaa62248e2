"""`Run.liveStepAttempts`: the run page's queued and running steps, from the step attempt
table (no event marks a step queued), in-process on an ephemeral instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opgraph_storage import RunRecord, StepAttempt, StepAttemptStatus

QUERY = """query($id: String!) { runOrError(runId: $id) { __typename
  ... on Run { liveStepAttempts { stepKey attemptNumber status queue queuedAt startedAt worker } } } }"""


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Any]:
    from opgraph import OpgraphInstance

    instance = OpgraphInstance.ephemeral(tmp_path)
    yield instance
    instance.dispose()


def live_attempts(instance: Any, run_id: str) -> list[dict[str, Any]]:
    from opgraph_app.graphql.context import GraphQLContext
    from opgraph_app.graphql.schema import schema

    context = GraphQLContext(instance=instance, load_workspace=lambda: None)
    result = schema.execute(QUERY, variables={"id": run_id}, context_value=context)
    assert not result.errors, result.errors
    run = result.data["runOrError"]
    assert run["__typename"] == "Run", run
    return list(run["liveStepAttempts"])


def test_queued_then_claimed_then_gone_once_ended(instance: Any) -> None:
    storage = instance.storage
    storage.add_run(RunRecord(run_id="r1", job_name="numbers"))
    storage.add_run(RunRecord(run_id="r2", job_name="numbers"))
    assert live_attempts(instance, "r1") == []  # no attempts: an in-process run's steps

    storage.add_step_attempts(
        [
            StepAttempt("t1", "r1", "emit", 0, queue="gpu", queued_at=100.0),
            StepAttempt("t2", "r1", "double", 1, queue="cpu", queued_at=101.5),
            StepAttempt("t3", "r2", "emit", 0, queue="gpu", queued_at=99.0),  # another run's
        ]
    )
    assert live_attempts(instance, "r1") == [
        {
            "stepKey": "emit",
            "attemptNumber": 0,
            "status": "QUEUED",
            "queue": "gpu",
            "queuedAt": 100.0,
            "startedAt": None,
            "worker": None,
        },
        {
            "stepKey": "double",
            "attemptNumber": 1,
            "status": "QUEUED",
            "queue": "cpu",
            "queuedAt": 101.5,
            "startedAt": None,
            "worker": None,
        },
    ]

    assert storage.claim_step_attempt("t1", "worker-host", 7, now=102.0)
    claimed = live_attempts(instance, "r1")[0]
    assert (claimed["status"], claimed["startedAt"], claimed["worker"]) == (
        "RUNNING",
        102.0,
        "worker-host",
    )

    assert storage.finish_step_attempt("t1", StepAttemptStatus.SUCCESS, now=103.0)
    assert storage.finish_step_attempt("t2", StepAttemptStatus.CANCELED, now=103.0)
    assert live_attempts(instance, "r1") == []
    assert [a["stepKey"] for a in live_attempts(instance, "r2")] == ["emit"]

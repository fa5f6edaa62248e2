"""The asset catalog's storage contract: SQLite and the real PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

from opgraph_storage import EventRecord, RunRecord, RunStatus, StepAttempt, StepAttemptStatus
from opgraph_storage.schema import asset_keys


def _event(run_id: str, kind: str, key: list[str], **data: Any) -> EventRecord:
    return EventRecord(
        run_id=run_id,
        event_type=kind,
        timestamp=time.time(),
        step_key="s",
        data={"asset_key": key, **data},
    )


def _mat(run_id: str, key: list[str], n: int) -> EventRecord:
    return _event(run_id, "ASSET_MATERIALIZATION", key, metadata={"n": n})


def _run(storage: Any, run_id: str) -> None:
    storage.add_run(RunRecord(run_id=run_id, job_name="j", status=RunStatus.STARTED))


def test_latest_materialization_and_history(storage: Any) -> None:
    _run(storage, "r1")
    ids = storage.store_events(
        [_mat("r1", ["a"], 1), _mat("r1", ["a"], 2), _mat("r1", ["b", "c"], 3)]
    )
    storage.store_events([_event("r1", "ASSET_OBSERVATION", ["a"], metadata={})])
    [a] = storage.get_asset_records(["a"])
    assert a.last_materialization_id == ids[1]
    assert a.last_materialization_data["metadata"] == {"n": 2}
    assert a.last_materialization_run_id == "r1"
    assert a.materialization_count == 2
    assert a.last_observation_id is not None
    assert [r.asset_key for r in storage.get_asset_records()] == ["a", "b/c"]
    assert [r.asset_key for r in storage.get_asset_records(prefix="b")] == ["b/c"]
    assert [r.asset_key for r in storage.get_asset_records(after_key="a", limit=5)] == ["b/c"]
    history = storage.get_asset_events("a")
    assert [e.data["metadata"]["n"] for e in history] == [2, 1]  # newest first
    page = storage.get_asset_events("a", before_id=ids[1], limit=1)
    assert [e.storage_id for e in page] == [ids[0]]


def test_an_older_event_never_replaces_a_newer_latest(storage: Any) -> None:
    _run(storage, "r1")
    [newer] = storage.store_events([_mat("r1", ["k"], 2)])
    # An event written later with a smaller id cannot happen through store_events; the
    # row's guard is tested by replaying the upsert of an older id directly.
    from opgraph_storage.assets_sql import index_asset_events
    from opgraph_storage.rows import event_row

    with storage._begin() as conn:
        index_asset_events(conn, [event_row(_mat("r1", ["k"], 1))], [newer - 1])
        latest = conn.execute(asset_keys.select()).one()
    assert latest.last_materialization_id == newer


def test_check_executions(storage: Any) -> None:
    _run(storage, "r1")
    for passed in (False, True):
        storage.store_events(
            [
                _event(
                    "r1",
                    "ASSET_CHECK_EVALUATION",
                    ["a"],
                    check_name="positive",
                    passed=passed,
                    severity="ERROR",
                    metadata={},
                )
            ]
        )
    storage.store_events(
        [
            _event(
                "r1",
                "ASSET_CHECK_EVALUATION",
                ["a"],
                check_name="fresh",
                passed=False,
                severity="WARN",
            )
        ]
    )
    executions = storage.get_asset_check_executions("a", "positive")
    assert [e.passed for e in executions] == [True, False]
    latest = storage.get_asset_check_executions("a", latest_only=True)
    assert {(e.check_name, e.passed, e.severity) for e in latest} == {
        ("positive", True, "ERROR"),
        ("fresh", False, "WARN"),
    }


def test_step_completion_writes_catalog_in_its_transaction(storage: Any) -> None:
    _run(storage, "r1")
    now = time.time()
    attempt = StepAttempt(attempt_id="a1", run_id="r1", step_key="s", attempt_number=0)
    storage.add_step_attempts([attempt])
    assert storage.claim_step_attempt("a1", "host", 1, now)
    check = _event(
        "r1", "ASSET_CHECK_EVALUATION", ["done"], check_name="c", passed=False, severity="WARN"
    )
    events = [
        _mat("r1", ["done"], 6),
        _mat("r1", ["done"], 7),
        _mat("r1", ["other", "key"], 1),
        check,
        EventRecord("r1", "STEP_SUCCESS", now, step_key="s"),
    ]
    assert storage.complete_step_attempt("a1", StepAttemptStatus.SUCCESS, now, events)
    [row] = storage.get_asset_records(["done"])
    assert row.last_materialization_data["metadata"] == {"n": 7}
    assert row.materialization_count == 2
    assert [e.data["metadata"]["n"] for e in storage.get_asset_events("done")] == [7, 6]
    assert [r.asset_key for r in storage.get_asset_records(prefix="other")] == ["other/key"]
    [execution] = storage.get_asset_check_executions("done")
    assert (execution.check_name, execution.passed, execution.severity) == ("c", False, "WARN")
    # A second completion of the same attempt (a duplicate delivery) writes nothing.
    assert not storage.complete_step_attempt("a1", StepAttemptStatus.SUCCESS, now, events)
    assert storage.get_asset_records(["done"])[0].materialization_count == 2
    assert len(storage.get_asset_check_executions("done")) == 1


def test_wipe(storage: Any) -> None:
    _run(storage, "r1")
    storage.store_events([_mat("r1", ["a"], 1), _mat("r1", ["b"], 1)])
    assert storage.wipe_assets(["a"]) == 1
    assert [r.asset_key for r in storage.get_asset_records()] == ["b"]
    assert storage.get_asset_events("a") == []
    kinds = [e.event_type for e in storage.get_events("r1")]
    assert kinds.count("ASSET_MATERIALIZATION") == 1
    assert json.loads(json.dumps(storage.get_asset_events("b")[0].data))["asset_key"] == ["b"]


def test_step_completion_with_an_observation(storage: Any) -> None:
    _run(storage, "r1")
    now = time.time()
    storage.add_step_attempts(
        [StepAttempt(attempt_id="a2", run_id="r1", step_key="s", attempt_number=0)]
    )
    assert storage.claim_step_attempt("a2", "host", 1, now)
    events = [_mat("r1", ["k"], 1), _event("r1", "ASSET_OBSERVATION", ["k"], metadata={})]
    assert storage.complete_step_attempt("a2", StepAttemptStatus.SUCCESS, now, events)
    [row] = storage.get_asset_records(["k"])
    assert row.last_materialization_id is not None and row.last_observation_id is not None

"""The automation storage contract, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import pytest

from opgraph_storage import Storage
from opgraph_storage.automation_base import (
    AutomationEvaluationRecord,
    AutomationTick,
    AutomationTickExists,
)


def _tick(evaluation_id: int, at: float, status: str = "STARTED") -> AutomationTick:
    return AutomationTick(
        evaluation_id=evaluation_id,
        status=status,
        timestamp=at,
        num_evaluated=2,
        num_requested=1,
        data={"requests": [{"location": "here", "asset_keys": ["b"], "partition_key": ""}]},
    )


def _evaluation(evaluation_id: int, key: str, at: float) -> AutomationEvaluationRecord:
    return AutomationEvaluationRecord(
        evaluation_id=evaluation_id,
        asset_key=key,
        timestamp=at,
        num_requested=1,
        data={"reason": "requested: eager is true for the asset"},
    )


def test_a_tick_commits_its_states_and_evaluations_once(storage: Storage) -> None:
    states = {"a": {"requested": []}, "b": {"requested": [""]}}
    storage.commit_automation_tick(_tick(1, 100.0), states, [_evaluation(1, "b", 100.0)])
    assert storage.get_automation_states() == states
    [tick] = storage.get_automation_ticks()
    assert (tick.evaluation_id, tick.status, tick.num_requested) == (1, "STARTED", 1)
    # A second daemon committing the same evaluation changes nothing.
    with pytest.raises(AutomationTickExists, match="evaluation 1 was committed"):
        storage.commit_automation_tick(_tick(1, 101.0), {"a": {"x": 1}}, [])
    assert storage.get_automation_states() == states
    storage.update_automation_tick(1, "SUCCESS", {"run_ids": ["r1"]}, 102.0)
    [tick] = storage.get_automation_ticks()
    assert tick.status == "SUCCESS" and tick.data == {"run_ids": ["r1"]}
    storage.commit_automation_tick(
        _tick(2, 200.0, "SUCCESS"), {"b": {"requested": []}}, [_evaluation(2, "b", 200.0)]
    )
    assert storage.get_automation_states()["b"] == {"requested": []}
    assert [t.evaluation_id for t in storage.get_automation_ticks()] == [2, 1]
    assert [t.evaluation_id for t in storage.get_automation_ticks(before_id=2)] == [1]
    rows = storage.get_automation_evaluations("b")
    assert [r.evaluation_id for r in rows] == [2, 1]
    assert rows[0].data["reason"].startswith("requested")
    older = storage.get_automation_evaluations("b", limit=1, before_id=rows[0].id)
    assert [r.evaluation_id for r in older] == [1]
    assert storage.get_automation_evaluations("a") == []


def test_purge_keeps_the_newest_tick(storage: Storage) -> None:
    storage.commit_automation_tick(_tick(1, 100.0, "SUCCESS"), {}, [_evaluation(1, "b", 100.0)])
    storage.commit_automation_tick(_tick(2, 200.0, "SUCCESS"), {}, [_evaluation(2, "b", 200.0)])
    assert storage.purge_automation_records(before=1000.0) == 3
    assert [t.evaluation_id for t in storage.get_automation_ticks()] == [2]
    assert storage.get_automation_evaluations("b") == []

"""A run's summary (its steps' stats, its failure message, `opgraph runs show`) reads the
run's step and run events, never its logs: a run of 1,000,000 events, mostly logs, took
12 s and 0.9 GB of the webserver per request when they were all read. Its whole log is
read a page at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from benchmarks.ui import add_long_run
from opgraph.instance import OpgraphInstance
from opgraph_app import create_app
from opgraph_app.run_views import step_summaries
from opgraph_storage.records import EventRecord

STEPS = 5
EVENTS = 5_000  # per step: a start, about a thousand logs, a success
SUMMARY = """query($id: String!) {
  runOrError(runId: $id) {
    ... on Run { status failureMessage stepStats { stepKey status attempts } }
  }
}"""


def _counting_reads(instance: OpgraphInstance, monkeypatch: Any) -> list[int]:
    """Events each `get_events` call returned, in order."""
    storage = instance.storage
    read = storage.get_events
    counts: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        events = read(*args, **kwargs)
        counts.append(len(events))
        return events

    monkeypatch.setattr(storage, "get_events", counted)
    return counts


def _not_logs(events: list[EventRecord]) -> int:
    return sum(event.event_type != "LOG" for event in events)


def _instance(tmp_path: Path, storage_url: str) -> OpgraphInstance:
    (tmp_path / "instance.yaml").write_text(f"storage: {{url: '{storage_url}'}}\n")
    return OpgraphInstance.get(tmp_path)


def test_step_stats_read_no_logs(tmp_path: Path, storage_url: str, monkeypatch: Any):
    instance = _instance(tmp_path, storage_url)
    run_id = add_long_run(instance.storage, EVENTS, steps=STEPS)
    everything = instance.storage.get_events(run_id)
    client = create_app(instance).test_client()
    counts = _counting_reads(instance, monkeypatch)

    answer = client.post("/graphql", json={"query": SUMMARY, "variables": {"id": run_id}})
    run = answer.get_json()["data"]["runOrError"]

    assert run["failureMessage"] is None
    # The same stats as from every event of the run (its last step never ended).
    assert [(s["stepKey"], s["status"], s["attempts"]) for s in run["stepStats"]] == [
        (s.step_key, s.status, s.attempts) for s in step_summaries(everything)
    ]
    assert {s["status"] for s in run["stepStats"]} == {"SUCCESS", "STARTED"}
    # One read serves both fields, and it holds no log.
    assert counts == [_not_logs(everything)]
    assert counts[0] < 3 * STEPS


def test_runs_show_reads_no_logs(tmp_path: Path, storage_url: str, monkeypatch: Any):
    from opgraph_app.cli_runs import runs_cli

    instance = _instance(tmp_path, storage_url)
    run_id = add_long_run(instance.storage, EVENTS, steps=STEPS)
    everything = instance.storage.get_events(run_id)
    counts = _counting_reads(instance, monkeypatch)
    monkeypatch.setattr("opgraph_app.cli_runs.current_instance", lambda: instance)

    result = CliRunner().invoke(runs_cli, ["show", run_id, "--json"])

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert [(s["step_key"], s["status"]) for s in shown["steps"]] == [
        (s.step_key, s.status) for s in step_summaries(everything)
    ]
    assert shown["started_at"] == everything[0].timestamp
    assert shown["ended_at"] == everything[-1].timestamp
    assert counts == [_not_logs(everything)]


def test_a_finished_runs_events_are_read_page_by_page(
    tmp_path: Path, storage_url: str, monkeypatch: Any
):
    """`opgraph runs logs` and the run followers read a finished run a page at a time."""
    from opgraph_app import run_follow

    instance = _instance(tmp_path, storage_url)
    run_id = add_long_run(instance.storage, EVENTS, steps=STEPS)
    everything = instance.storage.get_events(run_id)
    monkeypatch.setattr(run_follow, "PAGE", 1_000)
    counts = _counting_reads(instance, monkeypatch)

    batches = list(run_follow.follow_events(instance, run_id, follow=False))

    assert [e.storage_id for batch in batches for e in batch] == [e.storage_id for e in everything]
    assert counts == [1_000] * (EVENTS // 1_000)  # the last page holds RUN_SUCCESS

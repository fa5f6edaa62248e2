"""`runs list/show/logs/cancel/delete` against runs and events stored in real storage."""

import json
import threading
import time

import pytest

from opgraph.events import EventType, make_event
from opgraph.instance import OpgraphInstance
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_app import create_app
from opgraph_storage.records import RunRecord, RunStatus

T0 = 1_700_000_000.0


def finished_run(
    instance: OpgraphInstance,
    job_name: str = "etl",
    outcome: EventType = EventType.RUN_SUCCESS,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
) -> RunRecord:
    """A run that went through the launcher, ran two steps (one retried) and ended."""
    run = instance.create_run(job_name, tags=tags, run_config=run_config)
    instance.submit_run(run.run_id)  # the in-memory launcher: STARTING
    rid = run.run_id
    append_lifecycle_event(instance, rid, EventType.RUN_START, timestamp=T0)
    instance.store_events(
        [
            make_event(rid, EventType.STEP_START, step_key="extract", attempt=1, timestamp=T0 + 1),
            make_event(
                rid, EventType.STEP_SUCCESS, step_key="extract", attempt=1, timestamp=T0 + 3
            ),
            make_event(rid, EventType.STEP_START, step_key="load", attempt=1, timestamp=T0 + 4),
            make_event(
                rid, EventType.STEP_UP_FOR_RETRY, step_key="load", attempt=1, timestamp=T0 + 5
            ),
            make_event(rid, EventType.STEP_RESTARTED, step_key="load", attempt=2, timestamp=T0 + 6),
            make_event(
                rid,
                EventType.STEP_FAILURE
                if outcome is EventType.RUN_FAILURE
                else EventType.STEP_SUCCESS,
                step_key="load",
                attempt=2,
                message="load finished",
                timestamp=T0 + 9,
            ),
        ]
    )
    append_lifecycle_event(instance, rid, outcome, "run over", timestamp=T0 + 10)
    return instance.get_run(rid)


def invoke(cli, *args, **kwargs):
    return cli.invoke(args=list(args), **kwargs)


# -- list --------------------------------------------------------------------------------------
def test_list_shows_runs_newest_first(instance, cli):
    first = finished_run(instance, "etl", tags={"team": "data"})
    second = finished_run(instance, "report", outcome=EventType.RUN_FAILURE)

    result = invoke(cli, "runs", "list")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["RUN", "ID", "JOB", "STATUS", "CREATED", "TAGS"]
    assert lines[1].startswith(second.run_id)
    assert "report" in lines[1] and "FAILURE" in lines[1]
    assert lines[2].startswith(first.run_id)
    assert "team=data" in lines[2]
    assert "opgraph/" not in result.output  # internal tags stay out of the table


def test_list_filters(instance, cli):
    ok = finished_run(instance, "etl", tags={"team": "data"})
    failed = finished_run(instance, "etl", outcome=EventType.RUN_FAILURE, tags={"team": "web"})
    other = finished_run(instance, "report", tags={"team": "data"})
    pending = instance.create_run("etl")

    def ids(*args):
        result = invoke(cli, "runs", "list", "--json", *args)
        assert result.exit_code == 0, result.output
        return {run["run_id"] for run in json.loads(result.output)}

    assert ids("--status", "SUCCESS") == {ok.run_id, other.run_id}
    assert ids("--status", "failure", "--status", "not_started") == {failed.run_id, pending.run_id}
    assert ids("--job", "report") == {other.run_id}
    assert ids("--tag", "team=data") == {ok.run_id, other.run_id}
    assert ids("--tag", "team=data", "--job", "etl") == {ok.run_id}
    assert ids("--job", "nothing") == set()


def test_list_limit_says_how_many_are_hidden(instance, cli):
    for _ in range(3):
        instance.create_run("etl")
    result = invoke(cli, "runs", "list", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 4  # header, 2 runs, note
    assert "(2 of 3 runs shown; use --limit to see more)" in result.output


def test_list_json_has_the_run_fields(instance, cli):
    run = finished_run(instance, tags={"team": "data"}, run_config={"ops": {"extract": {}}})
    [data] = json.loads(invoke(cli, "runs", "list", "--json").output)
    assert data["run_id"] == run.run_id
    assert data["status"] == "SUCCESS"
    assert data["tags"]["team"] == "data"
    assert data["run_config"] == {"ops": {"extract": {}}}


def test_list_when_empty(cli):
    result = invoke(cli, "runs", "list")
    assert result.exit_code == 0
    assert result.output.strip() == "No runs match."


def test_list_rejects_unknown_status_and_lists_valid_ones(cli):
    result = invoke(cli, "runs", "list", "--status", "DONE")
    assert result.exit_code == 2
    assert "--status" in result.output
    assert "'DONE' is not one of" in result.output
    assert "SUCCESS" in result.output and "CANCELING" in result.output


@pytest.mark.parametrize("tag", ["team", "=data"])
def test_list_rejects_a_malformed_tag(cli, tag):
    result = invoke(cli, "runs", "list", "--tag", tag)
    assert result.exit_code == 2
    assert "--tag" in result.output
    assert f"expected KEY=VALUE, given {tag!r}" in result.output


def test_list_rejects_a_bad_limit(cli):
    result = invoke(cli, "runs", "list", "--limit", "0")
    assert result.exit_code == 2
    assert "--limit" in result.output


# -- show --------------------------------------------------------------------------------------
def test_show_derives_steps_from_events(instance, cli):
    run = finished_run(
        instance,
        outcome=EventType.RUN_FAILURE,
        tags={"team": "data"},
        run_config={"ops": {"extract": {"config": {"limit": 5}}}},
    )

    result = invoke(cli, "runs", "show", run.run_id)

    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Run       {run.run_id}" in out
    assert "Status    FAILURE" in out
    assert "Duration  10.0s" in out
    assert "team=data" in out
    assert "limit: 5" in out
    table = out.split("Steps:")[1].split("Errors:")[0].splitlines()[2:]
    steps = {line.split()[0]: line.split() for line in table}
    assert steps["extract"][1:3] == ["SUCCESS", "1"]
    assert steps["extract"][-2:] == ["2.0s", "-"]  # duration; no worker host recorded
    assert steps["load"][1:3] == ["FAILURE", "2"]
    assert steps["load"][-2] == "5.0s"
    errors = out.split("Errors:")[1].splitlines()
    assert "  load: load finished" in errors and "  (run): run over" in errors


def test_show_json(instance, cli):
    run = finished_run(instance)
    result = invoke(cli, "runs", "show", run.run_id, "--json")
    data = json.loads(result.output)
    assert data["status"] == "SUCCESS"
    assert data["started_at"] == T0
    assert data["ended_at"] == T0 + 10
    assert [s["step_key"] for s in data["steps"]] == ["extract", "load"]
    assert data["steps"][1] == {
        "step_key": "load",
        "status": "SUCCESS",
        "attempts": 2,
        "started_at": T0 + 4,
        "ended_at": T0 + 9,
        "worker": None,  # the in-memory launcher records no host
    }


def test_show_a_run_that_has_not_started(instance, cli):
    run = instance.create_run("etl")
    result = invoke(cli, "runs", "show", run.run_id)
    assert result.exit_code == 0, result.output
    assert "Status    NOT_STARTED" in result.output
    assert "Started   -" in result.output
    assert "Steps: none started yet" in result.output


def test_show_unknown_run_suggests_list(cli):
    result = invoke(cli, "runs", "show", "no-such-run")
    assert result.exit_code == 2
    assert "no run with id 'no-such-run'" in result.output
    assert "opgraph runs list" in result.output


# -- logs --------------------------------------------------------------------------------------
def test_logs_prints_every_event(instance, cli):
    run = finished_run(instance)
    result = invoke(cli, "runs", "logs", run.run_id)
    assert result.exit_code == 0, result.output
    kinds = [line.split()[2] for line in result.output.splitlines()]
    assert kinds[:3] == ["RUN_STARTING", "RUN_START", "STEP_START"]
    assert kinds[-1] == "RUN_SUCCESS"
    [load_success] = [line for line in result.output.splitlines() if "load finished" in line]
    assert load_success.split()[2:] == ["STEP_SUCCESS", "[load]", "load", "finished"]


def test_logs_filters_by_type(instance, cli):
    run = finished_run(instance)
    result = invoke(cli, "runs", "logs", run.run_id, "--type", "step_success", "--json")
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["event_type"], e["step_key"]) for e in events] == [
        ("STEP_SUCCESS", "extract"),
        ("STEP_SUCCESS", "load"),
    ]


def test_logs_rejects_unknown_type(instance, cli):
    run = instance.create_run("etl")
    result = invoke(cli, "runs", "logs", run.run_id, "--type", "STEP_DONE")
    assert result.exit_code == 2
    assert "'STEP_DONE' is not one of" in result.output


def test_logs_follow_returns_when_the_run_ends(instance, cli):
    run = instance.submit_run(instance.create_run("etl").run_id)

    def finish_later():
        time.sleep(0.5)
        append_lifecycle_event(instance, run.run_id, EventType.RUN_START)
        instance.store_events([make_event(run.run_id, EventType.LOG, message="working")])
        time.sleep(0.5)
        append_lifecycle_event(instance, run.run_id, EventType.RUN_SUCCESS)

    writer = threading.Thread(target=finish_later)
    writer.start()
    try:
        result = invoke(cli, "runs", "logs", run.run_id, "--follow")
    finally:
        writer.join()
    assert result.exit_code == 0, result.output
    kinds = [line.split()[2] for line in result.output.splitlines()]
    assert kinds == ["RUN_STARTING", "RUN_START", "LOG", "RUN_SUCCESS"]


# -- cancel ------------------------------------------------------------------------------------
def test_cancel_a_queued_run(make_instance):
    instance = make_instance(coordinator="queued")
    cli = create_app(instance).test_cli_runner()
    run = instance.submit_run(instance.create_run("etl").run_id)

    result = invoke(cli, "runs", "cancel", run.run_id)

    assert result.exit_code == 0, result.output
    assert f"Run {run.run_id}: CANCELED" in result.output
    assert instance.get_run(run.run_id).status is RunStatus.CANCELED


def test_cancel_a_running_run_then_force(instance, cli):
    run = instance.submit_run(instance.create_run("etl").run_id)
    append_lifecycle_event(instance, run.run_id, EventType.RUN_START)

    result = invoke(cli, "runs", "cancel", run.run_id)
    assert result.exit_code == 0, result.output
    assert f"Run {run.run_id}: CANCELING" in result.output

    again = invoke(cli, "runs", "cancel", run.run_id)
    assert again.exit_code == 2
    assert "is CANCELING" in again.output and "--force" in again.output

    forced = invoke(cli, "runs", "cancel", run.run_id, "--force")
    assert forced.exit_code == 0, forced.output
    assert "run worker terminated" in forced.output
    assert instance.run_launcher.terminated == [run.run_id]
    assert instance.get_run(run.run_id).status is RunStatus.CANCELED
    last = instance.storage.get_events(run.run_id)[-1]
    assert last.event_type == "RUN_CANCELED"
    assert "by force" in last.message


def test_cancel_a_finished_run_is_an_error(instance, cli):
    run = finished_run(instance)
    result = invoke(cli, "runs", "cancel", run.run_id)
    assert result.exit_code == 2
    assert f"run {run.run_id} is SUCCESS; only queued or running runs can be canceled" in (
        result.output
    )


# -- delete ------------------------------------------------------------------------------------
def test_delete_asks_first(instance, cli):
    run = finished_run(instance)

    declined = invoke(cli, "runs", "delete", run.run_id, input="n\n")
    assert declined.exit_code == 1
    assert instance.storage.get_run(run.run_id) is not None

    confirmed = invoke(cli, "runs", "delete", run.run_id, input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert instance.storage.get_run(run.run_id) is None
    assert instance.storage.get_events(run.run_id) == []


def test_delete_yes(instance, cli):
    run = finished_run(instance)
    result = invoke(cli, "runs", "delete", run.run_id, "--yes")
    assert result.exit_code == 0, result.output
    assert f"Deleted run {run.run_id}." in result.output
    assert "no run with id" in invoke(cli, "runs", "show", run.run_id).output


def test_delete_refuses_a_live_run(instance, cli):
    run = instance.submit_run(instance.create_run("etl").run_id)
    result = invoke(cli, "runs", "delete", run.run_id, "--yes")
    assert result.exit_code == 2
    assert f"cancel it first: opgraph runs cancel {run.run_id}" in result.output
    assert instance.storage.get_run(run.run_id) is not None

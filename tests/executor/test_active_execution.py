"""The state machine alone: no executor, no storage, events fed by hand."""

from opgraph.active_execution import ActiveExecution, StepState
from opgraph.events import EventType, make_event
from opgraph.plan import ExecutionPlan
from opgraph.run_config import validate_run_config
from tests.executor import jobs


def plan_for(job, run_config=None):
    return ExecutionPlan.build(job, validate_run_config(job, run_config))


def event(kind, step_key, attempt=0, **data):
    return make_event("run", kind, step_key=step_key, attempt=attempt, data=data)


def succeed(active, step_key, *outputs):
    active.handle_event(event(EventType.STEP_START, step_key))
    for output, mapping_key in outputs:
        active.handle_event(
            event(EventType.STEP_OUTPUT, step_key, output_name=output, mapping_key=mapping_key)
        )
    active.handle_event(event(EventType.STEP_SUCCESS, step_key))


def test_dynamic_steps_appear_after_their_source_succeeds():
    active = ActiveExecution(plan_for(jobs.dynamic))
    assert [s.key for s in active.get_steps_to_execute()] == ["emit"]
    assert active.get_steps_to_execute() == []
    succeed(active, "emit", ("result", "a"), ("result", "b"))
    ready = active.get_steps_to_execute()
    assert sorted(s.key for s in ready) == ["double[a]", "double[b]"]
    assert ready[0].inputs[0].sources[0].mapping_key in {"a", "b"}
    for step in ready:
        succeed(active, step.key, ("result", None))
    assert sorted(s.key for s in active.get_steps_to_execute()) == ["add_one[a]", "add_one[b]"]
    succeed(active, "add_one[a]", ("result", None))
    assert active.get_steps_to_execute() == []  # collect waits for every item
    succeed(active, "add_one[b]", ("result", None))
    (total,) = active.get_steps_to_execute()
    assert total.key == "total"
    assert [s.step_key for s in total.inputs[0].sources] == ["add_one[a]", "add_one[b]"]
    succeed(active, "total", ("result", None))
    assert active.is_complete and not active.failed_steps


def test_retry_waits_for_its_delay():
    active = ActiveExecution(plan_for(jobs.retries))
    (_flaky,) = active.get_steps_to_execute(now=100.0)
    retry = event(EventType.STEP_UP_FOR_RETRY, "flaky", delay=5.0)
    active.handle_event(retry)
    assert active.state_of("flaky") is StepState.WAITING_RETRY
    assert active.get_steps_to_execute(now=retry.timestamp + 4.9) == []
    (again,) = active.get_steps_to_execute(now=retry.timestamp + 5.0)
    assert again.attempt == 1


def test_failure_skips_downstream_and_reports_why():
    active = ActiveExecution(plan_for(jobs.failing))
    assert sorted(s.key for s in active.get_steps_to_execute()) == ["broken", "one"]
    active.handle_event(event(EventType.STEP_FAILURE, "broken"))
    succeed(active, "one", ("result", None))
    assert active.get_steps_to_execute() == []
    (skip,) = active.pop_skips()
    assert skip.step_key == "add_one" and "broken" in skip.reason
    assert active.is_complete and active.failed_steps == ["broken"]


def test_rebuild_from_events_reruns_only_unfinished_steps():
    plan = plan_for(jobs.linear)
    log = [
        event(EventType.STEP_START, "one"),
        event(EventType.STEP_OUTPUT, "one", output_name="result"),
        event(EventType.STEP_SUCCESS, "one"),
        event(EventType.STEP_START, "add_one"),  # the worker died here
    ]
    active = ActiveExecution.rebuild(plan, log)
    (step,) = active.get_steps_to_execute()
    assert step.key == "add_one" and step.attempt == 1
    assert active.state_of("one") is StepState.SUCCESS

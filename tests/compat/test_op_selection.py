"""Op selection (Dagster's `op_selection`): a run executes only the selected ops.

In process (`execute_in_process(op_selection=...)`, `job.get_subset`) and through a code
location's validation, which the GraphQL launch uses; the Dagster GraphQL client's
`submit_job_execution(op_selection=...)` is driven in test_dagster_graphql_client.py.
"""

import pytest

from opgraph import Config, job, op
from opgraph.errors import RunConfigError
from opgraph.op_selection import OpSelectionError
from opgraph.workspace.in_process import InProcessCodeLocation


class Scale(Config):
    factor: int  # required: a run of every op must give it


@op
def emit() -> int:
    return 3


@op
def double(n: int) -> int:
    return 2 * n


@op
def scale(config: Scale, n: int) -> int:
    return config.factor * n


@op
def report(n: int) -> int:
    return n


@job
def numbers():
    report(scale(double(emit())))


def ran(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}


def test_a_single_op_runs_alone():
    result = numbers.execute_in_process(op_selection=["emit"])
    assert result.success
    assert ran(result) == {"emit"}  # scale's required config is not asked for either


def test_upstream_and_downstream_clauses():
    assert ran(numbers.execute_in_process(op_selection=["*double"])) == {"emit", "double"}
    config = {"ops": {"scale": {"config": {"factor": 5}}}}
    result = numbers.execute_in_process(
        run_config={**config, "ops": {**config["ops"], "double": {"inputs": {"n": 1}}}},
        op_selection=["double*"],
    )
    assert ran(result) == {"double", "scale", "report"}
    with_input = {"ops": {"scale": {"config": {"factor": 5}}, "double": {"inputs": {"n": 1}}}}
    assert ran(numbers.execute_in_process(run_config=with_input, op_selection=["+scale+"])) == {
        "double",
        "scale",
        "report",
    }
    assert ran(numbers.execute_in_process(op_selection=["++double"])) == {"emit", "double"}


def test_an_input_from_an_op_left_out_comes_from_run_config():
    with pytest.raises(RunConfigError) as caught:
        numbers.execute_in_process(op_selection=["double"])
    assert any(e.startswith("ops.double.inputs.n:") for e in caught.value.errors)
    result = numbers.execute_in_process(
        run_config={"ops": {"double": {"inputs": {"n": 21}}}}, op_selection=["double"]
    )
    assert ran(result) == {"double"} and result.output_for_node("double") == 42


def test_config_of_ops_left_out_is_checked_but_not_required():
    bad = {"ops": {"scale": {"config": {"factor": "many"}}}}
    with pytest.raises(RunConfigError) as caught:
        numbers.execute_in_process(run_config=bad, op_selection=["emit"])
    assert any("ops.scale.config.factor" in e for e in caught.value.errors)
    good = {"ops": {"scale": {"config": {"factor": 2}}}}
    assert ran(numbers.execute_in_process(run_config=good, op_selection=["emit"])) == {"emit"}


def test_an_unknown_op_is_named_with_the_jobs_ops():
    with pytest.raises(OpSelectionError) as caught:
        numbers.get_subset(["emit", "nope*", "a b"])
    message = str(caught.value)
    assert "'nope*' matches no op" in message and "'report'" in message
    assert "'a b' is not a selection clause" in message


def test_a_subset_keeps_its_selection_through_with_resources():
    subset = numbers.get_subset(["emit"]).with_resources({})
    assert list(subset.flat_ops) == ["emit"] and subset.op_selection == ("emit",)
    assert list(numbers.flat_ops) == ["emit", "double", "scale", "report"]  # untouched


def test_a_location_validates_against_the_selection():
    location = InProcessCodeLocation("compat", {"python_file": __file__})
    assert location.validate_run_config("numbers", {}, ["emit"]) == []
    whole = location.validate_run_config("numbers", {})
    assert any("ops.scale.config" in e for e in whole)
    [problem] = location.validate_run_config("numbers", {}, ["missing"])
    assert problem.startswith("op_selection: ") and "'missing' matches no op" in problem

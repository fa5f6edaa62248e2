"""Run the long-tail job file under real Dagster and under opgraph; compare what they give.

Outside `make test` (it needs Dagster, which opgraph does not depend on): it uses the
virtualenv of tests/compat/test_dagster_graphql_client.py (dagster-graphql brings dagster),
building it if needed. Usage: .venv/bin/python -m tests.compat.compare_with_dagster
Prints one line per check and exits 1 if any differs.
"""

from __future__ import annotations

from pathlib import Path

from tests.compat.side_by_side import compare

JOB_FILE = Path(__file__).with_name("jobs") / "long_tail.py"

# Runs in either interpreter: the job file is imported as `long_tail` from a copy whose
# `from opgraph import` became `from <framework> import`.
PROBE = r"""
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
os.environ["OPGRAPH_COMPAT_TOKEN"] = "token-1"
os.environ.update({"OPGRAPH_COMPAT_HOST": "db.internal", "OPGRAPH_COMPAT_PORT": "5433",
                   "OPGRAPH_COMPAT_DEBUG": "true", "OPGRAPH_COMPAT_RETRIES": "4"})
import long_tail as m
framework = __import__(sys.argv[2])

out = {}
config = {"shape": {"a": 1}, "perm": {"k": 2, "extra": "kept"},
          "source": {"table": {"name": "t"}}, "color": "BLUE", "speed": "slow", "sizes": [1, 2]}
result = m.config_types_job.execute_in_process(run_config={"ops": {"configured": {"config": config}}})
out["config_types"] = repr(result.output_for_node("configured"))
try:
    bad = dict(config, shape={"a": "one"})
    m.config_types_job.execute_in_process(run_config={"ops": {"configured": {"config": bad}}})
    out["bad_config_raises"] = None
except Exception as exc:
    out["bad_config_raises"] = isinstance(exc, framework.DagsterInvalidConfigError)
folder = tempfile.mkdtemp()
marker = {"config": {"marker_dir": folder}}
ops = ("two", "plus_one", "report", "good_report")
result = m.hooks_and_types_job.execute_in_process(
    run_config={"ops": {op: marker for op in ops}}, raise_on_error=False)
out["hook_markers"] = sorted(os.listdir(folder))
out["failure_hook_saw"] = open(os.path.join(folder, "failure.plus_one")).read()
out["failed_steps"] = sorted(e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE")
out["env_var"] = m.env_var_job.execute_in_process().output_for_node("read_token")
out["resource_param_and_values"] = m.greeting_job.execute_in_process().output_for_node("greet")
out["typed_env_var"] = m.typed_env_var_job.execute_in_process().output_for_node("describe_server")
def succeeded(result):
    return sorted(e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS")
out["op_selection_upstream"] = succeeded(
    m.selection_job.execute_in_process(op_selection=["*doubled"]))
out["op_selection_downstream"] = succeeded(m.selection_job.execute_in_process(
    op_selection=["doubled+"], run_config={"ops": {"doubled": {"inputs": {"n": 5}}}}))
try:
    m.selection_job.execute_in_process(op_selection=["doubled"])
    out["op_selection_unfed_input_raises"] = None
except Exception as exc:
    out["op_selection_unfed_input_raises"] = isinstance(exc, framework.DagsterInvalidConfigError)
try:
    m.selection_job.execute_in_process(op_selection=["nope"])
    out["op_selection_unknown_raises"] = None
except Exception as exc:
    out["op_selection_unknown_raises"] = "nope" in str(exc)
print(json.dumps(out))
"""


def main() -> int:
    return compare(JOB_FILE, PROBE)


if __name__ == "__main__":
    raise SystemExit(main())

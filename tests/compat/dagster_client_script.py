"""Drives an opgraph webserver with Dagster's own GraphQL client (dagster-graphql).

Run by tests/compat/test_dagster_graphql_client.py with the Python of a virtualenv that has
dagster-graphql installed (not opgraph's). Prints one JSON object: what each call gave.
Usage: python dagster_client_script.py PORT LOCATION
"""

import json
import sys
import time
import warnings

from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

warnings.simplefilter("ignore")  # the client is marked experimental/deprecated in places
PORT, LOCATION = int(sys.argv[1]), sys.argv[2]
REPO = "__repository__"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
client = DagsterGraphQLClient("127.0.0.1", port_number=PORT)
results = {}


def error(call):
    try:
        call()
    except DagsterGraphQLClientError as exc:
        return [str(a) if not isinstance(a, (list, dict)) else a for a in exc.args]
    return None


def wait_finished(run_id, timeout=300):
    """Poll the run's status until it finishes (the timeout only stops a hung test)."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in FINISHED:
            return status
        time.sleep(0.2)
    return f"not finished after {timeout}s: {status}"


config = {"ops": {"emit": {"config": {"n": 3}}}}
# The location and repository found through repositoriesOrError, then given explicitly.
inferred = client.submit_job_execution("numbers", run_config=config, tags={"origin": "dagster"})
results["inferred_status"] = wait_finished(inferred)
explicit = client.submit_job_execution(
    "numbers", repository_location_name=LOCATION, repository_name=REPO, run_config=config
)
results["explicit_status"] = wait_finished(explicit)
results["run_ids"] = [inferred, explicit]

results["unknown_job_inferred"] = error(lambda: client.submit_job_execution("nope"))
results["unknown_job"] = error(
    lambda: client.submit_job_execution(
        "nope", repository_location_name=LOCATION, repository_name=REPO
    )
)
results["invalid_config"] = error(
    lambda: client.submit_job_execution(
        "numbers",
        repository_location_name=LOCATION,
        repository_name=REPO,
        run_config={"ops": {"emit": {"config": {"n": "three"}}}},
    )
)
# Op selection: only the selected ops run; an input fed by an op left out comes from config.
selected = client.submit_job_execution(
    "numbers", repository_location_name=LOCATION, repository_name=REPO, op_selection=["*double"]
)
results["op_selection_status"] = wait_finished(selected)
results["op_selection_run"] = selected
results["op_selection_input_missing"] = error(
    lambda: client.submit_job_execution(
        "numbers", repository_location_name=LOCATION, repository_name=REPO, op_selection=["report"]
    )
)
results["op_selection_unknown"] = error(
    lambda: client.submit_job_execution(
        "numbers", repository_location_name=LOCATION, repository_name=REPO, op_selection=["nope+"]
    )
)
results["system_tag"] = error(
    lambda: client.submit_job_execution(
        "numbers",
        repository_location_name=LOCATION,
        repository_name=REPO,
        run_config=config,
        tags={"opgraph/launched_by": "script"},
    )
)
results["unknown_run_status"] = error(lambda: client.get_run_status("no-such-run"))

# Terminate one run, then two runs and an unknown id.
sleepy = client.submit_job_execution(
    "sleepy", repository_location_name=LOCATION, repository_name=REPO
)
results["terminate"] = error(lambda: client.terminate_run(sleepy))
results["terminated_status"] = wait_finished(sleepy)
more = [
    client.submit_job_execution("sleepy", repository_location_name=LOCATION, repository_name=REPO)
    for _ in range(2)
]
results["terminate_runs"] = error(lambda: client.terminate_runs(more))
results["terminate_runs_statuses"] = [wait_finished(r) for r in more]
results["terminate_runs_unknown"] = error(lambda: client.terminate_runs(["no-such-run"]))
results["terminate_unknown"] = error(lambda: client.terminate_run("no-such-run"))

reloaded = client.reload_repository_location(LOCATION)
results["reload"] = [reloaded.status.value, reloaded.failure_type, reloaded.message]
missing = client.reload_repository_location("nowhere")
results["reload_unknown"] = [missing.status.value, missing.failure_type, missing.message]
shutdown = client.shutdown_repository_location(LOCATION)
results["shutdown"] = [shutdown.status.value, shutdown.message]
after = client.submit_job_execution(
    "numbers", repository_location_name=LOCATION, repository_name=REPO, run_config=config
)
results["after_shutdown_status"] = wait_finished(after)

print(json.dumps(results))

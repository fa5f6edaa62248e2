"""`make demo`: the whole platform on this machine, running the example job on Celery.

`opgraph dev` starts the webserver, the daemon (once it exists), a code server for
examples/jobs.py, a Celery worker with four slots and an embedded Redis (SQLite under OPGRAPH_HOME,
default ./.opgraph, unless instance.yaml says otherwise); the demo launches
`daily_sales_job` through the webserver's GraphQL API, as the UI's Launch button does,
follows its events, prints each step with the worker that ran it and the job's result,
then keeps the UI up until Ctrl-C. `--once` (or no terminal) stops right after the run.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from opgraph.code_pointer import load_job
from opgraph.execute import ExecuteJobResult
from opgraph.instance import OpgraphInstance
from opgraph_app.dev.session import run_session
from opgraph_app.dev.stack import DevSettings, DevStack, daemon_available
from opgraph_storage import SchemaOutOfDate, migrate
from opgraph_storage.records import RunStatus

JOB_FILE = Path(__file__).resolve().parent / "jobs.py"
JOB_NAME = "daily_sales_job"
RUN_CONFIG = {
    "ops": {"list_partitions": {"config": {"num_partitions": 8}}},
    "execution": {"config": {"celery": {}}},  # every op a Celery task on the dev workers
}
DEFAULT_PORT = 3000


def free_port(host: str, preferred: int) -> int:
    """`preferred` if nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise SystemExit(f"no free port on {host}")


def print_result(stack: DevStack, run_id: str, status: RunStatus) -> None:
    if status is not RunStatus.SUCCESS:
        return
    pointer = {"python_file": str(JOB_FILE), "working_directory": str(JOB_FILE.parent.parent)}
    job = load_job(pointer, JOB_NAME)
    summary = ExecuteJobResult(stack.instance, job, run_id).output_for_node("summarize_sales")
    stack.echo(f"\nsummary: {summary}")
    stack.echo(f"see it again with: opgraph runs show {run_id}")


def migrate_old_sqlite(instance: OpgraphInstance) -> None:
    """A ./.opgraph left by an older demo: upgrade its SQLite file (never a server's)."""
    url = instance.config.storage_url(instance.home)
    try:
        instance.storage  # noqa: B018 - opening it checks the schema
    except SchemaOutOfDate:
        if not url.startswith("sqlite"):
            raise
        print(f"upgrading the demo's storage {url} to the current schema")
        migrate(url)
    finally:
        instance.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="stop right after the run")
    parser.add_argument("--port", type=int, default=None, help="UI port (default 3000)")
    args = parser.parse_args(argv)
    once = args.once or not sys.stdin.isatty()  # no terminal: nobody to press Ctrl-C
    home = Path(os.environ.get("OPGRAPH_HOME", ".opgraph")).resolve()
    os.environ["OPGRAPH_HOME"] = str(home)
    instance = OpgraphInstance.get(home)
    migrate_old_sqlite(instance)
    host = instance.config.webserver.host
    workspace = home / "dev" / "demo-workspace.yaml"
    workspace.parent.mkdir(parents=True, exist_ok=True)
    workspace.write_text(
        "# Written by examples/demo.py.\nload_from:\n"
        f"  - python_file: {{relative_path: {JOB_FILE}, location_name: examples, "
        f"working_directory: {JOB_FILE.parent.parent}}}\n"
    )
    settings = DevSettings(
        home=home,
        workspace=workspace,
        host=host,
        port=args.port or free_port(host, DEFAULT_PORT),
        workers=1,
        concurrency=4,
        with_daemon=daemon_available(),
    )
    stack = DevStack(settings)
    return run_session(stack, f"examples:{JOB_NAME}", RUN_CONFIG, once, print_result)


if __name__ == "__main__":
    sys.exit(main())

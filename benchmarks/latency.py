"""The latency suite: how long a trivial run takes around its one op, from each entry point.

    python benchmarks/run.py --suite latency [--repeat N] [--json]

Each figure sits beside a baseline measured in the same run, taking turns with it:

- cli_launch_wait_s: `opgraph runs launch -f jobs.py one_op --wait` (SQLite home, immediate
  coordinator, subprocess launcher, default executor), from the command's start to its
  exit after RUN_SUCCESS; baseline `python -c 'import opgraph'`. Targets: <= 0.8 s idle,
  <= 3x the baseline.
- cli_help_s: `opgraph --help`; baseline `python -c pass`. Target <= 0.3 s.
- graphql_immediate_ms_p50 / graphql_queued_ms_p50: POST launchRun of a one-op job (default
  executor) -> its RUN_SUCCESS event, one run at a time, on a gunicorn webserver over a
  scratch PostgreSQL database; the queued one with a running daemon. Baseline: the
  launchRun answer alone. Targets 250 / 350 ms.
- celery_first_step_ms / celery_warm_step_ms: a one-op run on the Celery executor (Redis,
  PostgreSQL), from the step's attempt being queued to its STEP_SUCCESS: on a worker
  started just before (its pool process's first task, once its warm-up has logged its
  end), and the next run's on the same process (warm), each run after the same pause.
  Median over 8 rounds per --repeat, each with a new worker. Target: first <= 1.5x warm.
- burst_*: 500 one-op runs submitted by 20 concurrent GraphQL clients, queued coordinator
  with max_concurrent_runs 50 and a running daemon: every run finished (target <= 30 s),
  submit latency p50 / p99 (target p99 <= 200 ms). burst_niceness10_*: the same with the
  subprocess launcher's `worker_niceness: 10` (run workers yield the CPU to the
  webserver, the daemon and the database).

The Celery case alone, with more rounds for a steadier median on a loaded machine, and
the burst alone (each round on a new database, webserver and daemon; `--niceness N` sets
the subprocess launcher's worker_niceness):

    python -m benchmarks.latency --celery-rounds 12
    python -m benchmarks.latency --burst --burst-rounds 2 [--niceness 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.core import _ScratchPostgres
from benchmarks.web import _Server
from opgraph_storage import create_storage
from opgraph_storage.records import FINISHED_STATUSES, RunsFilter, RunStatus

BIN = Path(sys.executable).parent
JOBS = """
from opgraph import job, op


@op
def one():
    return 1


@job
def one_op():
    one()
"""
LAUNCH = """mutation { launchRun(executionParams: {selector: {locationName: "bench",
  jobName: "one_op"}}) { __typename ... on LaunchRunSuccess { run { runId } }
  ... on Error { message } } }"""
BURST_RUNS = 500
BURST_CLIENTS = 20
# The Celery case: the same quiet before a fresh pool process's first run as before the
# next one, so that both steps start from the same state of the machine and of this
# process (the next run used to follow the first at once, with every cache warm from it,
# while the first followed the worker's start); rounds per --repeat.
CELERY_PAUSE_SECONDS = 0.3
CELERY_ROUNDS = 8


def _time(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _cli_cases(scratch: Path, repeat: int) -> dict[str, list[float]]:
    home, code = scratch / "cli_home", scratch / "cli_code"
    home.mkdir()
    code.mkdir()
    (code / "jobs.py").write_text(JOBS)
    env = {**os.environ, "OPGRAPH_HOME": str(home)}
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import opgraph'": [sys.executable, "-c", "import opgraph"],
        "opgraph --help": [str(BIN / "opgraph"), "--help"],
        "opgraph runs launch --wait": [
            str(BIN / "opgraph"), "runs", "launch", "-f", "jobs.py", "one_op", "--wait",
        ],
    }  # fmt: skip
    for argv in cases.values():  # page cache, .pyc files and the database schema, untimed
        _time(argv, code, env)
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, argv in cases.items():
            timings[name].append(_time(argv, code, env))
    return timings


def _home(path: Path, pg_url: str, coordinator: Any) -> Path:
    path.mkdir()
    (path / "jobs.py").write_text(JOBS)
    config = {"storage": {"url": pg_url}, "run_coordinator": coordinator}
    config["run_launcher"] = "subprocess"
    (path / "instance.yaml").write_text(yaml.safe_dump(config))
    workspace = {
        "load_from": [{"python_file": {"relative_path": "jobs.py", "location_name": "bench"}}]
    }
    (path / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    return path


def _launch(server: _Server) -> str:
    result = server.gql(LAUNCH)["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"launchRun failed: {result}")
    return str(result["run"]["runId"])


def _wait_finished(storage: Any, run_ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = set(run_ids)
    failed: list[str] = []
    while pending:
        # One query a look for all of them: a read per run (500 every 10 ms) was load of
        # its own on the database the runs write to.
        runs = storage.get_runs(RunsFilter(run_ids=sorted(pending)))
        pending = {run.run_id for run in runs if run.status not in FINISHED_STATUSES}
        failed += [r.run_id for r in runs if r.status in FINISHED_STATUSES - {RunStatus.SUCCESS}]
        if pending and time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} runs did not finish within {timeout:.0f} s")
        time.sleep(0.01 if len(pending) < 10 else 0.1)
    if failed:
        raise SystemExit(f"{len(failed)} runs did not succeed, e.g. {failed[0]}")


def _launch_to_success(server: _Server, storage: Any, count: int) -> tuple[list, list]:
    """(launchRun answer ms, launchRun -> RUN_SUCCESS ms) per run; the first is a warm-up."""
    answers, totals = [], []
    for index in range(count + 1):
        started = time.time()
        run_id = _launch(server)
        answered = time.time()
        _wait_finished(storage, [run_id])
        [success] = storage.get_events(run_id, event_types=["RUN_SUCCESS"])
        if index:
            answers.append((answered - started) * 1000)
            totals.append((success.timestamp - started) * 1000)
    return answers, totals


def _burst(server: _Server, storage: Any) -> tuple[float, list[float]]:
    """500 launches from 20 threads; (seconds until all finished, submit ms each)."""
    submits: list[float] = []
    run_ids: list[str] = []
    lock = threading.Lock()
    per_client = BURST_RUNS // BURST_CLIENTS

    def client() -> None:
        for _ in range(per_client):
            started = time.perf_counter()
            run_id = _launch(server)
            with lock:
                submits.append((time.perf_counter() - started) * 1000)
                run_ids.append(run_id)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(BURST_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _wait_finished(storage, run_ids, timeout=300)
    return time.perf_counter() - started, submits


def _daemon(home: Path) -> subprocess.Popen[bytes]:
    log = open(home / "daemon.log", "wb")  # noqa: SIM115 - the process keeps it
    env = {**os.environ, "OPGRAPH_HOME": str(home)}
    return subprocess.Popen(
        [str(BIN / "opgraph"), "daemon", "run"],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _step_ms(instance: Any, run_id: str) -> float:
    [attempt] = instance.storage.get_step_attempts(run_id=run_id)
    [success] = instance.storage.get_events(run_id, event_types=["STEP_SUCCESS"])
    return (success.timestamp - attempt.queued_at) * 1000


def _wait_warm(workers: Any, name: str, timeout: float = 60.0) -> None:
    """Until the worker's pool process has logged the end of its warm-up (it runs in a
    thread beside the pool process's first task; a worker answers a ping before it ends)."""
    deadline = time.monotonic() + timeout
    while "pool process warm in" not in workers.log(name):
        if "could not warm" in workers.log(name) or time.monotonic() > deadline:
            raise SystemExit(f"worker {name} did not warm up: {workers.log(name)[-2000:]}")
        time.sleep(0.02)


def _celery_steps(args: argparse.Namespace, rounds: int) -> tuple[list[float], list[float]]:
    """(first step on a fresh worker, the next step on it) in ms, per round."""
    import uuid

    from benchmarks.latency_jobs import celery_one_op
    from opgraph import OpgraphInstance, execute_job, reconstructable
    from opgraph_celery.celery_app import instance_celery_config, make_celery_app
    from opgraph_celery.local_workers import LocalWorkers

    redis_url = os.environ.get("OPGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    suffix = uuid.uuid4().hex[:8]
    queue = f"bench-{suffix}"
    celery = {"execution": {"config": {"celery": {}}}}
    first, warm = [], []
    with _ScratchPostgres(args.pg_url) as pg_url:
        home = args.scratch / "celery"
        home.mkdir()
        config = {"storage": {"url": pg_url}}
        config["celery"] = {"broker_url": redis_url, "default_queue": queue}
        (home / "instance.yaml").write_text(yaml.safe_dump(config))
        instance = OpgraphInstance.get(home)
        _ = instance.storage  # the schema exists before workers start
        workers = LocalWorkers(home, make_celery_app(instance_celery_config(home)), queue, suffix)
        try:
            for index in range(rounds + 1):  # the first round warms the page cache
                name = f"lat{index}"
                workers.start(name, concurrency=1)
                _wait_warm(workers, name)
                runs = []
                for _ in range(2):
                    time.sleep(CELERY_PAUSE_SECONDS)
                    job = reconstructable(celery_one_op)
                    runs.append(execute_job(job, instance, run_config=celery))
                workers.stop(name)
                if not all(run.success for run in runs):
                    raise SystemExit("a Celery one-op run failed")
                if index:
                    first.append(_step_ms(instance, runs[0].run_id))
                    warm.append(_step_ms(instance, runs[1].run_id))
        finally:
            workers.stop_all()
            instance.dispose()
    return first, warm


def _burst_case(
    args: argparse.Namespace, name: str, niceness: int | None
) -> tuple[float, list[float]]:
    """The burst on a new database and services; `niceness`: the subprocess launcher's
    worker_niceness (None: as the launcher defaults it)."""
    with _ScratchPostgres(args.pg_url) as pg_url:
        coordinator = {"queued": {"max_concurrent_runs": 50}}
        home = _home(args.scratch / name, pg_url, coordinator)
        if niceness is not None:
            config = yaml.safe_load((home / "instance.yaml").read_text())
            config["run_launcher"] = {"subprocess": {"worker_niceness": niceness}}
            (home / "instance.yaml").write_text(yaml.safe_dump(config))
        storage = create_storage(pg_url)
        daemon = _daemon(home)
        server = _Server(home)
        try:
            _launch_to_success(server, storage, 1)  # warm: workspace, zygote, daemon
            return _burst(server, storage)
        finally:
            server.stop()
            _stop(daemon)
            storage.dispose()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    repeat = max(args.repeat, 1)
    cli = _cli_cases(args.scratch, repeat * 3)
    med = {name: statistics.median(values) for name, values in cli.items()}
    figures: dict[str, float] = {
        "cli_launch_wait_s": round(med["opgraph runs launch --wait"], 3),
        "cli_import_opgraph_s": round(med["python -c 'import opgraph'"], 3),
        "cli_launch_vs_import": round(
            med["opgraph runs launch --wait"] / med["python -c 'import opgraph'"], 2
        ),
        "cli_help_s": round(med["opgraph --help"], 3),
        "cli_python_pass_s": round(med["python -c pass"], 3),
    }
    for name, coordinator in (("immediate", "immediate"), ("queued", {"queued": {}})):
        with _ScratchPostgres(args.pg_url) as pg_url:
            home = _home(args.scratch / f"home_{name}", pg_url, coordinator)
            storage = create_storage(pg_url)
            daemon = _daemon(home) if name == "queued" else None
            server = _Server(home)
            try:
                answers, totals = _launch_to_success(server, storage, repeat * 10)
            finally:
                server.stop()
                if daemon is not None:
                    _stop(daemon)
                storage.dispose()
        figures[f"graphql_{name}_ms_p50"] = round(statistics.median(totals), 1)
        figures[f"graphql_{name}_answer_ms_p50"] = round(statistics.median(answers), 1)
    first, warm = _celery_steps(args, repeat * CELERY_ROUNDS)
    figures["celery_first_step_ms"] = round(statistics.median(first), 1)
    figures["celery_warm_step_ms"] = round(statistics.median(warm), 1)
    figures["celery_first_vs_warm"] = round(statistics.median(first) / statistics.median(warm), 2)
    for prefix, niceness in (("burst", None), ("burst_niceness10", 10)):
        wall, submits = _burst_case(args, f"home_{prefix}", niceness)
        figures[f"{prefix}_500_all_done_s"] = round(wall, 2)
        figures[f"{prefix}_submit_ms_p50"] = round(statistics.median(submits), 1)
        figures[f"{prefix}_submit_ms_p99"] = round(_p(submits, 0.99), 1)
    targets = {
        "cli_launch_wait_s": "<= 0.8",
        "cli_launch_vs_import": "<= 3",
        "cli_help_s": "<= 0.3",
        "graphql_immediate_ms_p50": "<= 250",
        "graphql_queued_ms_p50": "<= 350",
        "celery_first_vs_warm": "<= 1.5",
        "burst_500_all_done_s": "<= 30",
        "burst_submit_ms_p99": "<= 200",
        "burst_niceness10_500_all_done_s": "<= 30",
        "burst_niceness10_submit_ms_p99": "<= 200",
    }
    rows = [
        {"figure": name, "value": value, "target": targets.get(name, "baseline")}
        for name, value in figures.items()
    ]
    return rows, figures


def _burst_only(args: argparse.Namespace) -> None:
    """Print the burst case's figures, `--burst-rounds` times, each on a new database."""
    for index in range(args.burst_rounds):
        load = os.getloadavg()[0]
        wall, submits = _burst_case(args, f"home_burst{index}", args.niceness)
        print(
            f"burst {index + 1}: all done {wall:.2f} s  submit p50 "
            f"{statistics.median(submits):.1f} ms  p99 {_p(submits, 0.99):.1f} ms  "
            f"max {max(submits):.1f} ms  (load {load:.1f} -> {os.getloadavg()[0]:.1f})",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    """The Celery case alone (default) or the burst case alone (`--burst`)."""
    import tempfile

    parser = argparse.ArgumentParser(description="the latency suite's Celery or burst case alone")
    parser.add_argument("--celery-rounds", type=int, default=12)
    parser.add_argument("--burst", action="store_true", help="the burst case instead")
    parser.add_argument("--burst-rounds", type=int, default=2)
    parser.add_argument(
        "--niceness",
        type=int,
        default=None,
        help="the burst's worker_niceness (default: the launcher's)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OPGRAPH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="opgraph-bench-") as scratch:
        args.scratch = Path(scratch)
        if args.burst:
            _burst_only(args)
            return
        first, warm = _celery_steps(args, max(args.celery_rounds, 1))
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("first step ms:", [round(value, 1) for value in first])
    print("next step ms: ", [round(value, 1) for value in warm])
    ratio = statistics.median(first) / statistics.median(warm)
    print(
        f"celery_first_step_ms {statistics.median(first):.1f}  "
        f"celery_warm_step_ms {statistics.median(warm):.1f}  celery_first_vs_warm {ratio:.2f}"
    )


if __name__ == "__main__":
    main()

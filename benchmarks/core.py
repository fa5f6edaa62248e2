"""The core suite: trivial-op jobs on the in-process and multiprocess executors.

Per-op overhead = wall time of the whole run (run creation, every event written to
storage, outputs pickled by the filesystem IO manager) divided by the number of ops.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import sqlalchemy as sa

from benchmarks.core_jobs import JOBS
from opgraph import OpgraphInstance, execute_job, reconstructable
from opgraph.instance_config import InstanceConfig
from opgraph_storage import normalize_url

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
MULTIPROCESS = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}


def _instance(home: Any, url: str) -> OpgraphInstance:
    return OpgraphInstance(home, InstanceConfig.model_validate({"storage": {"url": url}}))


def _best_wall(instance: OpgraphInstance, name: str, run_config: dict, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = execute_job(reconstructable(JOBS[name]), instance, run_config=run_config)
        wall = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"benchmark run of {name} failed: {result.run_id}")
        best = min(best, wall)
    return best


def _op_count(name: str) -> int:
    return len(JOBS[name].flat_ops)


class _ScratchPostgres:
    """A throwaway database on the given server, dropped afterwards."""

    def __init__(self, server_url: str):
        self.server_url = normalize_url(server_url)
        self.name = f"opgraph_bench_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        engine = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()
        return str(sa.make_url(self.server_url).set(database=self.name))

    def __exit__(self, *exc: object) -> None:
        engine = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    figures: dict[str, float] = {}
    sqlite = _instance(args.scratch / "sqlite", str(args.scratch / "sqlite" / "opgraph.db"))
    baselines: dict[str, float] = {}
    cases = [
        ("in_process", "sqlite", sqlite, IN_PROCESS),
        ("multiprocess", "sqlite", sqlite, MULTIPROCESS),
    ]
    with _ScratchPostgres(args.pg_url) as pg_url:
        pg = _instance(args.scratch / "pg", pg_url)
        cases.insert(1, ("in_process", "postgres", pg, IN_PROCESS))
        for executor, storage_name, instance, run_config in cases:
            per_op_by_job = {}
            for name in JOBS:
                ops = _op_count(name)
                wall = _best_wall(instance, name, run_config, args.repeat)
                per_op_ms = wall * 1000 / ops
                per_op_by_job[name] = per_op_ms
                if executor == "in_process" and storage_name == "sqlite":
                    baselines[name] = wall
                rows.append(
                    {
                        "job": name,
                        "ops": ops,
                        "executor": executor,
                        "storage": storage_name,
                        "wall_s": f"{wall:.3f}",
                        "ms_per_op": f"{per_op_ms:.2f}",
                        "vs_in_process_sqlite": f"{wall / baselines[name]:.2f}x",
                    }
                )
            key = {
                ("in_process", "sqlite"): "inprocess_overhead_ms_per_op",
                ("in_process", "postgres"): "inprocess_pg_overhead_ms_per_op",
                ("multiprocess", "sqlite"): "multiprocess_overhead_ms_per_op",
            }[(executor, storage_name)]
            # The headline figure is the widest job, where fixed start-up costs matter least.
            figures[key] = round(per_op_by_job["fan_out_500"], 3)
        pg.dispose()
    sqlite.dispose()
    return rows, figures

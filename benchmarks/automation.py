"""Declarative automation: one tick of the AUTOMATION part over 1,000 assets with `eager()`
conditions, beside baselines measured in the same process.

    python benchmarks/run.py --suite automation [--json]

| case | baseline |
| --- | --- |
| a tick over 1,000 eager assets, nothing new (p50 of 10) | a tick over 1 eager asset; reading the 1,000 assets' catalog rows once |
| a tick after 10 root assets were materialized (their downstream requested, runs made by the in-memory launcher) | the same |

The project: 1,000 `@asset`s with `AutomationCondition.eager()`, 10 roots, each other asset
depending on one or two earlier ones (a fixed random DAG); every asset materialized once
before the ticks. SQLite and PostgreSQL (a scratch database). Target: <= 1 s per tick.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.core import _ScratchPostgres
from opgraph.instance import OpgraphInstance
from opgraph_storage import EventRecord

ASSETS = 1000
ROOTS = 10
LAUNCHER = {"module": "opgraph_launchers.testing", "class": "InMemoryRunLauncher"}


def _project(count: int) -> str:
    rng = random.Random(16)
    lines = ["from opgraph import AutomationCondition, Definitions, asset", ""]
    for i in range(count):
        deps = sorted({rng.randrange(i) for _ in range(rng.choice((1, 2)))}) if i >= ROOTS else []
        lines.append(
            f"@asset(deps=[{', '.join(repr(f'a{d}') for d in deps)}], "
            "automation_condition=AutomationCondition.eager())"
        )
        lines.append(f"def a{i}():\n    pass\n")
    names = ", ".join(f"a{i}" for i in range(count))
    lines.append(f"defs = Definitions(assets=[{names}])")
    return "\n".join(lines) + "\n"


def _home(scratch: Path, name: str, url: str, count: int) -> Path:
    home = scratch / name
    home.mkdir(parents=True)
    (home / "assets.py").write_text(_project(count))
    config: dict[str, Any] = {"storage": {"url": url}, "run_launcher": LAUNCHER}
    (home / "instance.yaml").write_text(yaml.safe_dump(config))
    location = {"python_file": {"relative_path": str(home / "assets.py"), "location_name": "b"}}
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [location]}))
    return home


def _materialize(instance: OpgraphInstance, keys: list[str]) -> None:
    now = time.time()
    instance.storage.store_events(
        [
            EventRecord(
                run_id="bench",
                event_type="ASSET_MATERIALIZATION",
                timestamp=now,
                data={"asset_key": [key], "metadata": {}},
            )
            for key in keys
        ]
    )


def _ticks(part: Any, times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        report = part.tick(time.time())
        samples.append((time.perf_counter() - started) * 1000)
        assert not report.errors, report.errors
    return samples


def _case(rows: list[dict], figures: dict, backend: str, scratch: Path, url_for: Any) -> None:
    from opgraph.automation.daemon import AutomationDaemon
    from opgraph.workspace import load_workspace

    results: dict[int, list[float]] = {}
    for count in (1, ASSETS):
        home = _home(scratch, f"{backend}_{count}", url_for(count), count)
        instance = OpgraphInstance.get(home)
        workspace = load_workspace(None, home, in_process=True)
        try:
            keys = [f"a{i}" for i in range(count)]
            _materialize(instance, keys)
            part = AutomationDaemon(instance, workspace)
            _ticks(part, 2)  # the first evaluation, then one that stores what changed
            results[count] = _ticks(part, 10)
            if count == ASSETS:
                started = time.perf_counter()
                records = instance.storage.get_asset_records(asset_keys=keys)
                catalog_ms = (time.perf_counter() - started) * 1000
                assert len(records) == ASSETS
                _materialize(instance, keys[:ROOTS])
                started = time.perf_counter()
                report = part.tick(time.time())
                requesting_ms = (time.perf_counter() - started) * 1000
                requested = report.info.get("asset_partitions_requested", 0)
        finally:
            workspace.close()
            instance.dispose()
    one = statistics.median(results[1])
    steady = statistics.median(results[ASSETS])
    rows.append(
        {
            "case": f"tick, {ASSETS} eager assets, nothing new ({backend})",
            "baseline": f"{one:.1f} ms (1 asset); catalog read {catalog_ms:.1f} ms",
            "measured": f"{steady:.0f} ms p50 (max {max(results[ASSETS]):.0f})",
        }
    )
    rows.append(
        {
            "case": f"tick, {ASSETS} eager assets, {ROOTS} roots updated ({backend})",
            "baseline": f"{one:.1f} ms (1 asset)",
            "measured": f"{requesting_ms:.0f} ms ({requested} requested)",
        }
    )
    figures[f"tick_{ASSETS}_{backend}_ms"] = round(steady, 1)
    figures[f"tick_{ASSETS}_requesting_{backend}_ms"] = round(requesting_ms, 1)
    figures[f"tick_1_{backend}_ms"] = round(one, 1)
    figures[f"catalog_read_{ASSETS}_{backend}_ms"] = round(catalog_ms, 1)


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    figures: dict = {}
    _case(rows, figures, "sqlite", args.scratch, lambda n: str(args.scratch / f"sqlite_{n}.db"))
    with _ScratchPostgres(args.pg_url) as one, _ScratchPostgres(args.pg_url) as many:
        _case(rows, figures, "postgres", args.scratch, lambda n: one if n == 1 else many)
    import os

    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    rows.append(
        {"case": "load average (1 min)", "baseline": "", "measured": figures["load_average_1m"]}
    )
    return rows, figures

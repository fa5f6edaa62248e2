"""Web UI figures: page loads with 100,000 runs in PostgreSQL, a catalog of 10,000 assets
(its page, one group's lineage, one asset's page), an asset of 10,000 partitions and a
backfill of them, and a 20,000-event run.

    python benchmarks/ui.py [--runs 100000] [--events 20000] [--repeat 5] [--json]

A gunicorn webserver (gthread) on a scratch PostgreSQL database filled straight through
SQLAlchemy; headless Chromium (/usr/bin/chromium) opens each page `--repeat` times. A
page's load time is from navigation start to the page's ready mark (its main data shown),
measured by the browser. The browser tests (tests/ui/test_ui_scale.py) use the same fill
helpers and check what the pages show; only this benchmark times them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opgraph.events import EventType
from opgraph.run_lifecycle import append_lifecycle_event
from opgraph_storage.records import EventRecord, RunRecord
from opgraph_storage.schema import run_tags, runs
from tests.browser import CHROMIUM, CHROMIUM_ARGS

STATUSES = ["SUCCESS"] * 5 + ["FAILURE", "CANCELED"]

JOBS = """
from opgraph import (
    DailyPartitionsDefinition, Definitions, ScheduleDefinition, asset, define_asset_job, job, op,
)

@op
def one() -> int:
    return 1

@op
def plus(x: int) -> int:
    return x + 1

@job
def job_0():
    plus(one())

# 10,000 days, whatever today is
@asset(partitions_def=DailyPartitionsDefinition(start_date="1990-01-01", end_date="2017-05-19"))
def big_daily(context):
    return context.partition_key

# A catalog of 10,000 assets: 50 groups of 200, each asset reading its parent in a
# binary tree of its group, and each group's root reading the previous group's last one.
def _catalog_asset(group, j):
    parent = f"g{group:02d}_a{(j - 1) // 2:03d}" if j else (f"g{group - 1:02d}_a199" if group else None)
    @asset(name=f"g{group:02d}_a{j:03d}", group_name=f"group_{group:02d}",
           deps=[parent] if parent else [], kinds={"table" if j % 3 else "python"},
           owners=[f"team_{group % 7}"])
    def _made():
        return None
    return _made

CATALOG = [_catalog_asset(g, j) for g in range(50) for j in range(200)]

defs = Definitions(
    jobs=[job_0, define_asset_job("big_job", selection=["big_daily"])],
    assets=[big_daily, *CATALOG],
    schedules=[ScheduleDefinition(name="hourly", job=job_0, cron_schedule="0 * * * *")],
)
"""
BIG_ASSET = "big_daily"
CATALOG_ASSET, CATALOG_GROUP = "g07_a100", "group_07"


def fill_catalog(storage: Any, materialized_run: str) -> None:
    """Catalog rows for 9 of every 10 of the 10,000 catalog assets (latest materialization
    over the last day; the rest never materialized, so MISSING)."""
    from opgraph_storage.schema import asset_keys

    now = time.time()
    rows = [
        {"asset_key": f"g{g:02d}_a{j:03d}", "last_materialization_id": g * 200 + j + 1,
         "last_materialization_at": now - 86_400 + (g * 200 + j) * 8,
         "last_materialization_run_id": materialized_run, "last_materialization_data": "{}",
         "materialization_count": 1}
        for g in range(50) for j in range(200) if j % 10
    ]  # fmt: skip
    with storage.engine.begin() as conn:
        conn.execute(asset_keys.insert(), rows)


def fill_partitions(storage: Any) -> str:
    """The 10,000 partitions of `big_daily` in the catalog (most materialized, some failed,
    a few in progress, the rest missing) and a backfill of all of them; its id."""
    from datetime import date, timedelta

    from opgraph_storage.partitions_base import BackfillRecord, BackfillStatus
    from opgraph_storage.schema import asset_partitions

    keys = [(date(1990, 1, 1) + timedelta(days=i)).isoformat() for i in range(10_000)]
    now = time.time()

    def status(i: int) -> str:
        return "FAILED" if i % 97 == 0 else "IN_PROGRESS" if i > 9_990 else "MATERIALIZED"

    rows = [
        {"asset_key": BIG_ASSET, "partition_key": k, "status": status(i), "updated_at": now}
        for i, k in enumerate(keys)
        if i < 6_000 or i > 8_000
    ]
    with storage.engine.begin() as conn:
        conn.execute(asset_partitions.insert(), rows)
    record = BackfillRecord(
        backfill_id=uuid.uuid4().hex[:12], status=BackfillStatus.REQUESTED,
        num_partitions=len(keys), created_at=now, updated_at=now, job_name="big_job",
        location_name="bench", data={"tags": {}},
    )  # fmt: skip
    storage.add_backfill(record, [("big_job", k) for k in keys])
    return record.backfill_id


def fill_runs(storage: Any, count: int, tags_per_run: int = 10, batch: int = 5000) -> None:
    """`count` finished runs of 20 jobs over the last `count` seconds, with tags."""
    now = time.time()
    for start in range(0, count, batch):
        run_rows, tag_rows = [], []
        for i in range(start, min(start + batch, count)):
            run_id = f"fill-{i:06d}-{uuid.uuid4().hex[:8]}"
            created = now - count + i
            run_rows.append(
                {
                    "run_id": run_id, "job_name": f"job_{i % 20}", "status": STATUSES[i % 7],
                    "run_config": "{}", "created_at": created, "started_at": created + 0.5,
                    "ended_at": created + 3, "updated_at": created + 3,
                }
            )  # fmt: skip
            tag_rows += [
                {"run_id": run_id, "key": f"tag_{t}", "value": f"value_{(i + t) % 50}"}
                for t in range(tags_per_run)
            ]
        with storage.engine.begin() as conn:
            conn.execute(runs.insert(), run_rows)
            if tag_rows:
                conn.execute(run_tags.insert(), tag_rows)
    with storage.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE runs")
        conn.exec_driver_sql("ANALYZE run_tags")


def add_long_run(storage: Any, events: int, steps: int = 100) -> str:
    """A finished run of `events` events: `steps` steps, each a start, logs and a success."""
    run_id = f"long-{uuid.uuid4().hex[:8]}"
    now = time.time() - events * 0.001
    storage.add_run(RunRecord(run_id=run_id, job_name="long"))
    per_step = max(3, events // steps)
    append_lifecycle_event(storage, run_id, EventType.RUN_START, timestamp=now)
    made: list[EventRecord] = []
    for i in range(1, events - 1):
        step, position = divmod(i - 1, per_step)
        key = f"step_{min(step, steps - 1)}"
        kind = "STEP_START" if position == 0 else "LOG"
        if position == per_step - 1 and step < steps:
            kind = "STEP_SUCCESS"
        level = "WARNING" if i % 97 == 0 else "INFO"
        made.append(
            EventRecord(run_id, kind, now + i * 0.001, step_key=key, attempt=0, level=level,
                        message=f"line {i} of a long run: processed batch {i % 250}")
        )  # fmt: skip
    for start in range(0, len(made), 2000):
        storage.store_events(made[start : start + 2000])
    append_lifecycle_event(storage, run_id, EventType.RUN_SUCCESS, timestamp=now + events * 0.001)
    return run_id


def open_ready(page: Any, url: str) -> float:
    """Open `url`; ms from navigation start to the page's ready mark."""
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=30_000)
    return float(page.evaluate("window.opgraphReadyMs"))


def long_run_figures(page: Any, url: str) -> dict[str, float]:
    """Load a long run's page to its last event, then time a filter and a scroll."""
    open_ready(page, url)
    page.wait_for_selector("body[data-stream-ended]", timeout=60_000)
    all_events_ms = float(page.evaluate("performance.now()"))
    filter_ms = page.evaluate(
        """() => new Promise((resolve) => {
             const select = document.querySelector('#event-log-root select[name=type]');
             const start = performance.now();
             select.value = 'STEP_SUCCESS';
             select.dispatchEvent(new Event('change'));
             requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - start)));
           })"""
    )
    scroll_ms = page.evaluate(
        """() => new Promise((resolve) => {
             const select = document.querySelector('#event-log-root select[name=type]');
             select.value = '';
             select.dispatchEvent(new Event('change'));
             const view = document.querySelector('#event-log');
             requestAnimationFrame(() => {
               const start = performance.now();
               view.scrollTop = view.scrollHeight / 2;
               view.dispatchEvent(new Event('scroll'));
               requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - start)));
             });
           })"""
    )
    return {
        "all_events_ms": round(all_events_ms, 1),
        "filter_ms": round(float(filter_ms), 1),
        "scroll_ms": round(float(scroll_ms), 1),
    }


def _home(scratch: Path, pg_url: str) -> Path:
    import yaml

    home, code = scratch / "home", scratch / "code"
    home.mkdir()
    code.mkdir()
    (code / "jobs.py").write_text(JOBS)
    (home / "instance.yaml").write_text(yaml.safe_dump({"storage": {"url": pg_url}}))
    workspace = {
        "load_from": [
            {"python_file": {"relative_path": str(code / "jobs.py"), "location_name": "bench"}}
        ]
    }
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures last")
    parser.add_argument(
        "--pages", default="", help="only the pages whose figure name holds this, e.g. asset"
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from benchmarks.core import _ScratchPostgres
    from opgraph_storage import create_storage
    from tests.web_server import Webserver

    with (
        tempfile.TemporaryDirectory(prefix="opgraph-bench-ui-") as scratch,
        _ScratchPostgres(args.pg_url) as pg_url,
    ):
        home = _home(Path(scratch), pg_url)
        storage = create_storage(pg_url)
        started = time.perf_counter()
        fill_runs(storage, args.runs)
        fill_s = time.perf_counter() - started
        long_run = add_long_run(storage, args.events)
        backfill_id = fill_partitions(storage)
        some_run = storage.get_runs(limit=1)[0].run_id
        fill_catalog(storage, some_run)
        server = Webserver(home)
        pages = {
            "/": "overview", "/runs": "runs", "/runs?status=FAILURE&job=job_3": "runs_filtered",
            f"/runs/{some_run}": "run", "/jobs": "jobs", "/jobs/bench/job_0": "job",
            "/schedules": "schedules", "/sensors": "sensors", "/deployment": "deployment",
            f"/assets/{BIG_ASSET}": "asset_10000_partitions", "/backfills": "backfills",
            f"/backfills/{backfill_id}": "backfill_10000_partitions",
            "/assets": "asset_catalog_10000", f"/assets?group={CATALOG_GROUP}": "asset_graph_group_200",
            f"/assets/{CATALOG_ASSET}": "asset_in_10000",
        }  # fmt: skip
        pages = {path: name for path, name in pages.items() if args.pages in name}
        figures: dict[str, Any] = {"runs": args.runs, "fill_s": round(fill_s, 1)}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                for path in pages:  # warm up: code server, plans, caches
                    open_ready(page, server.url + path)
                for path, name in pages.items():
                    times = [open_ready(page, server.url + path) for _ in range(args.repeat)]
                    figures[f"{name}_ms_p50"] = round(statistics.median(times), 1)
                    figures[f"{name}_ms_max"] = round(max(times), 1)
                long = long_run_figures(page, f"{server.url}/runs/{long_run}")
                figures.update({f"run_{args.events}_events_{k}": v for k, v in long.items()})
                browser.close()
        finally:
            server.stop()
            storage.dispose()
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"{name.ljust(width)}  {value}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One run of 1,000,000 events: `logsForRun`'s pages and the run page, against a run of
10,000 events in the same database, server and browser.

    python -m benchmarks.big_run [--events 1000000] [--baseline-events 10000] [--json]

A gunicorn webserver on a scratch PostgreSQL database holding both finished runs (500
steps each, benchmarks/ui.py's add_long_run). For each run:

- `logsForRun` (limit 500, the default page) from the start, from a cursor halfway through
  and from one 500 events before the end, and the run's `stepStats`: p50 of `--repeat`
  requests each, in ms (the database analyzed after the fill, as autovacuum does);
- its run page in headless Chromium: ms to the page's ready mark, seconds until its event
  stream ended with every event shown, the page's JavaScript heap then, and the frame time
  while the log is scrolled one screen per frame (benchmarks/ui_events.py's scroll).

A page is usable at a size when these stay near the baseline's: paged reads cost the same
wherever they start (the `(run_id, id)` index), and the browser keeps what it shows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.core import _ScratchPostgres
from benchmarks.run import report
from benchmarks.ui import _home, add_long_run, open_ready
from benchmarks.ui_events import SCROLL, percentile
from benchmarks.web import _timed

STEP_STATS = """query($id: String!) {
  runOrError(runId: $id) { ... on Run { status stepStats { stepKey status } } }
}"""
LOGS = """query($id: String!, $after: String) {
  logsForRun(runId: $id, afterCursor: $after) {
    __typename ... on EventConnection { cursor hasMore events { __typename } }
  }
}"""
STEPS = 500


def _cursor_before(storage: Any, run_id: str, events: int, position: int) -> str:
    """The cursor of the run's event `position` (0-based): its first event's id + position.
    add_long_run stores a run's events in one go, so their ids are consecutive."""
    first = storage.get_events(run_id, limit=1)[0].storage_id
    last = storage.get_events(run_id, after_id=first + events - 2, limit=1)
    if not last or last[0].storage_id != first + events - 1:
        raise RuntimeError(f"run {run_id}'s event ids are not consecutive: cannot place cursors")
    return str(first + position - 1)


def _analyze(pg_url: str) -> None:
    """What autovacuum does within a minute of a bulk insert. Without statistics PostgreSQL
    guessed 522 rows for the new run, and read all of them through a bitmap scan and a
    sort instead of the (run_id, id) index: 239 ms for the first page, not 5."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE event_logs"))
    engine.dispose()


def _log_pages(server: Any, storage: Any, run_id: str, events: int, repeat: int) -> dict:
    figures = {}
    for name, position in (("first", None), ("middle", events // 2), ("last", events - 500)):
        after = None if position is None else _cursor_before(storage, run_id, events, position)
        answer = server.gql(LOGS, {"id": run_id, "after": after})
        page = answer["logsForRun"]
        if len(page["events"]) != 500:
            raise RuntimeError(f"logsForRun {name} page of {run_id}: {answer}")
        times = _timed(lambda a=after: server.gql(LOGS, {"id": run_id, "after": a}), repeat)
        figures[f"logs_{name}_page_ms_p50"] = round(statistics.median(times), 1)
    steps = server.gql(STEP_STATS, {"id": run_id})["runOrError"]["stepStats"]
    if len(steps) != STEPS:
        raise RuntimeError(f"stepStats of {run_id}: {len(steps)} steps, expected {STEPS}")
    times = _timed(lambda: server.gql(STEP_STATS, {"id": run_id}), repeat)
    figures["step_stats_ms_p50"] = round(statistics.median(times), 1)
    return figures


def _run_page(browser: Any, url: str, events: int) -> dict:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    started = time.perf_counter()
    figures: dict[str, Any] = {"ready_ms": round(open_ready(page, url), 1)}
    page.wait_for_selector("body[data-stream-ended]", timeout=1_800_000)
    figures["all_events_s"] = round(time.perf_counter() - started, 2)
    shown = int(page.get_attribute("#event-log", "data-total") or 0)
    if shown != events:
        raise RuntimeError(f"the run page of {url} shows {shown} events of {events}")
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    figures["js_heap_mb"] = round(heap["usedSize"] / 2**20, 1)
    page.locator("#event-log").scroll_into_view_if_needed()
    times = page.evaluate(SCROLL, 240)["times"]
    figures["scroll_frame_ms_p95"] = round(percentile(times, 0.95), 1)
    page.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20, help="requests per logsForRun page")
    parser.add_argument("--no-browser", action="store_true", help="logsForRun only")
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures last")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    for flag, value in (("--events", args.events), ("--baseline-events", args.baseline_events)):
        if value < 2 * STEPS:
            parser.error(f"{flag} must be at least {2 * STEPS}, got {value}")

    from playwright.sync_api import sync_playwright

    from opgraph_storage import create_storage
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.web_server import Webserver

    sizes = {"baseline": args.baseline_events, "big": args.events}
    figures: dict[str, Any] = {}
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="opgraph-bench-big-run-") as scratch,
        _ScratchPostgres(args.pg_url) as pg_url,
    ):
        storage = create_storage(pg_url)
        server = None
        try:
            run_ids = {}
            for name, events in sizes.items():
                started = time.perf_counter()
                run_ids[name] = add_long_run(storage, events, steps=STEPS)
                figures[f"{name}_fill_s"] = round(time.perf_counter() - started, 1)
            _analyze(pg_url)
            server = Webserver(_home(Path(scratch), pg_url))
            by_size = {}
            for name, events in sizes.items():
                by_size[name] = _log_pages(server, storage, run_ids[name], events, args.repeat)
            if not args.no_browser:
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                    )
                    # A first page load pays the browser's and the server's cold start.
                    _run_page(
                        browser, f"{server.url}/runs/{run_ids['baseline']}", sizes["baseline"]
                    )
                    for name, events in sizes.items():
                        url = f"{server.url}/runs/{run_ids[name]}"
                        by_size[name].update(_run_page(browser, url, events))
                    browser.close()
        finally:
            if server is not None:
                server.stop()
            storage.dispose()
    for figure in by_size["big"]:
        big, base = by_size["big"][figure], by_size["baseline"][figure]
        rows.append(
            {
                "figure": figure,
                f"{args.events:,} events": big,
                f"{args.baseline_events:,} events (baseline)": base,
                "ratio": f"{big / base:.2f}x" if base else "-",
            }
        )
        figures[f"big_{figure}"], figures[f"baseline_{figure}"] = big, base
    return report(rows, figures, args.json)


if __name__ == "__main__":
    sys.exit(main())

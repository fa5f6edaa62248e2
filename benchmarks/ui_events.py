"""A run page with 100,000 events: time to all events shown, and the frame time while the
event log is scrolled through.

    python benchmarks/ui_events.py [--events 100000] [--frames 240] [--json]

A gunicorn webserver on a scratch PostgreSQL database holding one finished run of
`--events` events (benchmarks/ui.py's add_long_run); headless Chromium opens its page and
waits for the stream to end. Then, once per animation frame for `--frames` frames, the
log is scrolled by one screen (down, wrapping to the top) and the time between frames is
recorded: p50, p95 and max frame time, and the frames in which the viewport showed no row
(must be 0). Frame times come in whole vsyncs (16.7 ms at 60 Hz), so the same scroll is
traced once more (Chrome's trace of the renderer's main thread) for the work each frame
takes: the p95 and max of its main-thread tasks, against the 16.7 ms budget.

For comparison, in the same page: the same scroll with the run's drawings (timeline, op
graph, steps table) kept rendered while out of view (as before they skipped rendering:
content-visibility), and with the log rendering nothing (its rows removed), the
browser's own frame time on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ui import _home, add_long_run, open_ready
from tests.browser import CHROMIUM, CHROMIUM_ARGS

SCROLL = """(frames) => new Promise((resolve) => {
  const view = document.querySelector('#event-log');
  const times = [];
  let blank = 0, last = null, left = frames;
  const step = (now) => {
    if (last !== null) times.push(now - last);
    last = now;
    // Rows in view, as painted in the previous frame.
    const top = view.scrollTop, bottom = top + view.clientHeight;
    let seen = false;
    for (const row of view.firstChild.children) {
      const y = parseFloat(row.style.top);
      if (y + 22 > top && y < bottom) { seen = true; break; }
    }
    if (!seen && Number(view.dataset.shown) > 0) blank += 1;
    if (left-- <= 0) { resolve({times, blank}); return; }
    const next = view.scrollTop + view.clientHeight;
    view.scrollTop = next >= view.scrollHeight - view.clientHeight ? 0 : next;
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


# The run page's drawings, which skip rendering while out of view (app/static/ui/css).
DRAWINGS = "#timeline, #run-graph, .run-steps"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _scroll(page: Any, frames: int, figures: dict[str, Any], name: str) -> None:
    result = page.evaluate(SCROLL, frames)
    times = result["times"]
    figures[f"{name}_frame_ms_p50"] = round(statistics.median(times), 2)
    figures[f"{name}_frame_ms_p95"] = round(percentile(times, 0.95), 2)
    figures[f"{name}_frame_ms_max"] = round(max(times), 2)
    figures[f"{name}_blank_frames"] = result["blank"]
    figures[f"{name}_frames_over_17ms"] = sum(1 for t in times if t > 17)


def _traced_tasks(page: Any, frames: int) -> list[float]:
    """The same scroll under Chrome's tracing: the duration (ms) of each task the
    renderer's main thread ran meanwhile (script, style, layout, paint, layerize)."""
    cdp = page.context.new_cdp_session(page)
    events: list[dict[str, Any]] = []
    done: list[bool] = []
    cdp.on("Tracing.dataCollected", lambda message: events.extend(message["value"]))
    cdp.on("Tracing.tracingComplete", lambda _message: done.append(True))
    cdp.send(
        "Tracing.start",
        {"categories": "toplevel,devtools.timeline", "transferMode": "ReportEvents"},
    )
    page.evaluate(SCROLL, frames)
    cdp.send("Tracing.end")
    while not done:
        page.wait_for_timeout(50)
    cdp.detach()
    # The renderer's main thread is the one that ran the animation frames (its name is
    # not always in the trace's metadata).
    main = {(e["pid"], e["tid"]) for e in events if e.get("name") == "FireAnimationFrame"}
    tasks = [
        e["dur"] / 1000
        for e in events
        if e.get("ph") == "X"
        and e.get("name") == "ThreadControllerImpl::RunTask"
        and (e.get("pid"), e.get("tid")) in main
    ]
    if not tasks:
        raise RuntimeError("the trace holds no task of the renderer's main thread")
    return tasks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures last")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from benchmarks.core import _ScratchPostgres
    from opgraph_storage import create_storage
    from tests.web_server import Webserver

    figures: dict[str, Any] = {"events": args.events}
    with (
        tempfile.TemporaryDirectory(prefix="opgraph-bench-ui-events-") as scratch,
        _ScratchPostgres(args.pg_url) as pg_url,
    ):
        home = _home(Path(scratch), pg_url)
        storage = create_storage(pg_url)
        run_id = add_long_run(storage, args.events, steps=500)
        server = Webserver(home)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                started = time.perf_counter()
                figures["ready_ms"] = round(open_ready(page, f"{server.url}/runs/{run_id}"), 1)
                page.wait_for_selector("body[data-stream-ended]", timeout=300_000)
                figures["all_events_s"] = round(time.perf_counter() - started, 2)
                shown = int(page.get_attribute("#event-log", "data-total") or 0)
                figures["events_shown"] = shown
                page.locator("#event-log").scroll_into_view_if_needed()
                _scroll(page, args.frames, figures, "scroll")
                tasks = _traced_tasks(page, args.frames)
                figures["main_thread_task_ms_p95"] = round(percentile(tasks, 0.95), 2)
                figures["main_thread_task_ms_max"] = round(max(tasks), 2)
                # Before: the drawings rendered while out of view.
                page.evaluate(
                    "(s) => document.querySelectorAll(s).forEach("
                    "(e) => { e.style.contentVisibility = 'visible'; })",
                    DRAWINGS,
                )
                _scroll(page, args.frames, figures, "drawings_rendered")
                tasks = _traced_tasks(page, args.frames)
                figures["drawings_rendered_task_ms_p95"] = round(percentile(tasks, 0.95), 2)
                # Baseline: the same page and scroll with the log's rows out of the page.
                page.evaluate(
                    "() => { const v = document.querySelector('#event-log');"
                    " v.replaceWith(v.cloneNode(false)); }"
                )
                page.evaluate(
                    "() => { const v = document.querySelector('#event-log');"
                    " v.append(Object.assign(document.createElement('div'),"
                    " {style: 'height: 2000000px'})); v.dataset.shown = '0'; }"
                )
                base = page.evaluate(SCROLL.replace("view.firstChild.children", "[]"), args.frames)
                figures["baseline_frame_ms_p50"] = round(statistics.median(base["times"]), 2)
                figures["baseline_frame_ms_p95"] = round(percentile(base["times"], 0.95), 2)
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

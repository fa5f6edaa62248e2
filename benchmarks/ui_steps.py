"""The run page of a run of many steps: its timeline (Gantt) and steps table put only the
rows in view into the page.

    python benchmarks/run.py --suite ui_steps [--repeat N] [--json]

A gunicorn webserver on a scratch PostgreSQL database holding two finished runs
(benchmarks/ui.py's add_long_run: a start, a log line and a success per step): one of
2,000 steps and one of 20. Headless Chromium (/usr/bin/chromium) opens each run's page
`--repeat` times; the best of each figure is kept. Cases, all in the same process:

- `windowed`: the page as it is, for the long run;
- `all rows`: the same page for the same run with the timeline's and the table's frames
  taller than all their rows (and rendered while out of view), so the same code puts
  every row into the page, as the page did before it was windowed; scrolled as a page;
- `20 steps`: the page as it is, for the 20-step run (every row fits in view).

Figures per case:

- rows: step rows in the page (timeline rows + table rows) once every step is drawn;
- first_draw_ms: navigation start to the first animation frame in which the timeline and
  the table hold every step (the run's events stream in; the page redraws at most every
  250 ms meanwhile);
- redraw_ms: one redraw of the timeline (a zoom click) with its style and layout, p50 of 20;
- scroll_work_ms p50/p95: per animation frame while the timeline, then the table, is
  scrolled by one screen each frame (wrapping): the main thread's work from the frame's
  start to its animation-frame callback (the scroll handlers that put entering rows in
  place) plus the style and layout it forces; painting is not included;
- scroll_frame_ms_p95: the time between those frames (whole vsyncs, painting included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ui import _home, add_long_run
from tests.browser import CHROMIUM, CHROMIUM_ARGS

STEPS = 2000
BASELINE_STEPS = 20
FRAMES = 120  # scrolled frames per scroll container

# Before the page's scripts: the first frame in which every step is drawn, and (for the
# `all rows` case) frames as tall as their content.
PROBE = """
window.__drawnMs = null;
const wanted = String(%(steps)d);
const probe = () => {
  const svg = document.querySelector('#timeline svg');
  const body = document.querySelector('#steps-table tbody');
  if (svg && svg.dataset.rows === wanted && body && body.dataset.steps === wanted) {
    window.__drawnMs = performance.now();
    return;
  }
  requestAnimationFrame(probe);
};
requestAnimationFrame(probe);
if (%(all_rows)s) {
  document.addEventListener('DOMContentLoaded', () => {
    const style = document.createElement('style');
    style.textContent = `#timeline, .run-steps { max-height: none !important; content-visibility: visible !important; }
      #timeline { height: ${(%(steps)d + 2) * 22 + 40}px; } .run-steps { height: ${(%(steps)d + 2) * 33 + 40}px; }`;
    document.head.append(style);
  });
}
"""

REDRAW = """(n) => {
  const times = [];
  for (let i = 0; i < n; i += 1) {
    const button = document.querySelector(i % 2 ? '#timeline-zoom-out' : '#timeline-zoom-in');
    const start = performance.now();
    button.click();
    document.querySelector('#timeline').getBoundingClientRect();
    document.body.offsetHeight;
    times.push(performance.now() - start);
  }
  return times;
}"""

# `selector`: the scroll container (or null: the page, from `from` to `to` in page pixels).
SCROLL = """([selector, frames]) => new Promise((resolve) => {
  const view = selector ? document.querySelector(selector) : document.scrollingElement;
  const box = selector ? null : document.querySelector('#timeline').getBoundingClientRect();
  const low = selector ? 0 : window.scrollY + box.top;
  const high = selector ? view.scrollHeight - view.clientHeight
    : window.scrollY + document.querySelector('.run-steps').getBoundingClientRect().bottom - view.clientHeight;
  view.scrollTop = low;
  const work = [], gaps = [];
  let last = null, left = frames;
  const step = (now) => {
    document.body.offsetHeight; // the style and layout the scroll handlers left to do
    work.push(performance.now() - now);
    if (last !== null) gaps.push(now - last);
    last = now;
    if (left-- <= 0) { resolve({ work: work.slice(1), gaps }); return; }
    const next = view.scrollTop + view.clientHeight;
    view.scrollTop = next >= high ? low : next;
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _measure(browser: Any, url: str, steps: int, all_rows: bool, frames: int) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.add_init_script(PROBE % {"steps": steps, "all_rows": "true" if all_rows else "false"})
    page.goto(url)
    page.wait_for_function("window.__drawnMs !== null", timeout=120_000)
    page.wait_for_selector("body[data-stream-ended]", timeout=120_000)
    first_draw = float(page.evaluate("window.__drawnMs"))
    rows = page.locator("#timeline .gantt-row").count()
    rows += page.locator("#steps-table tr[data-step]").count()
    redraw = page.evaluate(REDRAW, 20)
    figures: dict[str, Any] = {
        "rows": rows,
        "first_draw_ms": round(first_draw, 1),
        "redraw_ms": round(statistics.median(redraw), 2),
    }
    work: list[float] = []
    gaps: list[float] = []
    if all_rows:
        page.locator("#timeline").scroll_into_view_if_needed()
        result = page.evaluate(SCROLL, [None, 2 * frames])
        work, gaps = result["work"], result["gaps"]
    else:
        for selector in ("#timeline", ".run-steps"):
            page.locator(selector).scroll_into_view_if_needed()
            result = page.evaluate(SCROLL, [selector, frames])
            work += result["work"]
            gaps += result["gaps"]
    figures["scroll_work_ms_p50"] = round(statistics.median(work), 2)
    figures["scroll_work_ms_p95"] = round(percentile(work, 0.95), 2)
    figures["scroll_frame_ms_p95"] = round(percentile(gaps, 0.95), 2)
    context.close()
    return figures


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        name: (runs[0][name] if name == "rows" else min(r[name] for r in runs)) for name in runs[0]
    }


def run_suite(args: argparse.Namespace) -> tuple[list[dict], dict]:
    from playwright.sync_api import sync_playwright

    from benchmarks.core import _ScratchPostgres
    from opgraph_storage import create_storage
    from tests.web_server import Webserver

    steps, frames = STEPS, FRAMES
    rows: list[dict] = []
    figures: dict[str, Any] = {"steps": steps}
    with _ScratchPostgres(args.pg_url) as pg_url:
        home = _home(args.scratch, pg_url)
        storage = create_storage(pg_url)
        long_run = add_long_run(storage, 3 * steps + 2, steps=steps)
        short_run = add_long_run(storage, 3 * BASELINE_STEPS + 2, steps=BASELINE_STEPS)
        server = Webserver(home)
        cases = [
            ("windowed", long_run, steps, False),
            ("all rows", long_run, steps, True),
            (f"{BASELINE_STEPS} steps", short_run, BASELINE_STEPS, False),
        ]
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                _measure(browser, f"{server.url}/runs/{short_run}", BASELINE_STEPS, False, 10)
                for name, run_id, count, all_rows in cases:
                    url = f"{server.url}/runs/{run_id}"
                    measured = _best(
                        [
                            _measure(browser, url, count, all_rows, frames)
                            for _ in range(args.repeat)
                        ]
                    )
                    rows.append({"case": name, "steps": count, **measured})
                    key = name.replace(" ", "_")
                    figures.update({f"{key}_{k}": v for k, v in measured.items()})
                browser.close()
        finally:
            server.stop()
            storage.dispose()
    return rows, figures


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main(["--suite", "ui_steps", *sys.argv[1:]]))

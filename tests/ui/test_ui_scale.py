"""The UI at scale: every page shows its data with 100,000 runs in PostgreSQL, and a run of
20,000 events loads, filters and scrolls with only the rows in view in the page. How fast
is measured by `benchmarks/ui.py` (p50 ≤ 300 ms a page), never asserted here."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.ui import add_long_run, fill_runs
from tests.ui.conftest import UiInstance, open_page, shoot

RUNS = 100_000


@pytest.fixture(scope="module")
def filled(ui: UiInstance) -> dict[str, str]:
    fill_runs(ui.storage, RUNS - 1, tags_per_run=2)
    some = ui.storage.get_runs(limit=1)[0].run_id
    return {"some": some, "long": add_long_run(ui.storage, 20_000)}


@pytest.mark.slow
def test_pages_show_their_data_with_100k_runs(ui: UiInstance, filled: dict[str, str], page: Any):
    paths = [
        "/",
        "/runs",
        "/runs?status=FAILURE&job=job_3",
        "/runs?tag=tag_1%3Dvalue_7",
        f"/runs/{filled['some']}",
        "/jobs",
        "/jobs/ui/numbers",
        "/schedules",
        "/sensors",
        "/deployment",
    ]
    for path in paths:  # each reaches its ready mark (lib/page.js): its main data is shown
        open_page(page, ui.url + path)

    open_page(page, ui.url + "/runs")
    assert page.inner_text("#runs-count") == "100,000 runs match"
    page.click("#next-page")
    page.wait_for_function("document.querySelector('#page-info').textContent.startsWith('page 2')")
    assert page.locator("#runs-table tbody tr").count() == 50
    shoot(page, "runs-100k")


@pytest.mark.slow
def test_run_with_20000_events_filters_and_scrolls(
    ui: UiInstance, filled: dict[str, str], page: Any
):
    open_page(page, f"{ui.url}/runs/{filled['long']}")
    page.wait_for_selector("body[data-stream-ended]", timeout=120_000)
    assert page.get_attribute("#event-log", "data-total") == "20000"
    # Only the rows in view are in the page, whatever the log's length.
    assert page.locator("#event-log .log-row").count() < 100
    assert page.locator("#timeline svg").get_attribute("data-bars") == "100"

    page.select_option("#event-log-root select[name=type]", "STEP_SUCCESS")
    # 99 of the 100 steps end with a STEP_SUCCESS (benchmarks/ui.py add_long_run).
    page.wait_for_function(
        "document.querySelector('#event-log').dataset.shown === '99'", polling="raf"
    )
    rows = page.locator("#event-log .log-row")
    assert rows.count() > 0
    assert rows.evaluate_all("rows => rows.every(r => r.classList.contains('type-STEP_SUCCESS'))")

    page.select_option("#event-log-root select[name=type]", "")
    page.wait_for_function(
        "document.querySelector('#event-log').dataset.shown === '20000'", polling="raf"
    )
    page.evaluate(
        "() => { const v = document.querySelector('#event-log'); v.scrollTop = v.scrollHeight;"
        " v.dispatchEvent(new Event('scroll')); }"
    )
    page.wait_for_selector("#event-log .log-row.type-RUN_SUCCESS")
    assert page.locator("#event-log .log-row").count() < 100
    shoot(page, "run-20k-events")

"""The run page of a run of 2,000 steps: its timeline and steps table put only the rows in
view into the page, while every step stays reachable by scrolling, selectable, and live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiInstance, open_page, running_ui, shoot
from tests.ui.test_ui_pages import wait_finished

MANY_FILE = Path(__file__).resolve().parent / "ui_many_steps.py"
STEPS = 2000
ROWS = STEPS + 2  # fan_out, the mapped pieces, total
LAUNCH = """mutation($config: GenericScalar) {
  launchRun(executionParams: {selector: {locationName: "many", jobName: "fan"}, runConfigData: $config}) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    with running_ui(tmp_path_factory, redis_url, {"many": MANY_FILE}) as instance:
        yield instance


def in_view(page: Any, row: str, frame: str) -> bool:
    """Whether the element `row` is inside the visible box of the scroll container `frame`."""
    return bool(
        page.evaluate(
            """([row, frame]) => {
                 const r = document.querySelector(row).getBoundingClientRect();
                 const f = document.querySelector(frame).getBoundingClientRect();
                 return r.top >= f.top - 1 && r.bottom <= f.bottom + 1;
               }""",
            [row, frame],
        )
    )


def scroll_to(page: Any, frame: str, top: str) -> None:
    page.evaluate(f"() => {{ const f = document.querySelector('{frame}'); f.scrollTop = {top}; }}")


def test_a_run_of_2000_steps_draws_only_the_rows_in_view(ui: UiInstance, page: Any, tmp_path: Path):
    gate = tmp_path / "gate"
    gate.write_text("closed")
    config = {"ops": {"fan_out": {"config": {"n": STEPS, "gate": str(gate)}}}}
    answer = ui.gql(LAUNCH, {"config": config})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id = answer["run"]["runId"]
    try:
        open_page(page, f"{ui.url}/runs/{run_id}")
        # Before fan_out yields: the planned steps, in the table and on the timeline.
        page.wait_for_selector("#steps-table tr[data-step=fan_out][data-status=STARTED]")
        page.wait_for_selector("#steps-table tr[data-step='piece[?]'][data-status=PLANNED]")
        page.wait_for_selector("#timeline .gantt-row[data-step=total][data-status=PLANNED]")
        assert "not started yet" in (
            page.text_content("#timeline .gantt-row[data-step=total]") or ""
        )
    finally:
        gate.unlink()
    # Live: the mapped steps arrive while the run streams.
    page.wait_for_function(
        f"Number(document.querySelector('#timeline svg').dataset.rows) === {ROWS}", timeout=180_000
    )
    assert wait_finished(ui, run_id, timeout=300) == "SUCCESS"
    page.wait_for_selector("body[data-stream-ended]", timeout=120_000)
    page.wait_for_function(f"document.querySelector('#timeline svg').dataset.bars === '{ROWS}'")
    assert page.inner_text("#steps-count") == f"{ROWS} steps"
    assert page.get_attribute("#steps-table tbody", "data-steps") == str(ROWS)

    # Far fewer rows in the page than steps.
    assert page.locator("#timeline .gantt-row").count() < 100
    assert page.locator("#steps-table tr[data-step]").count() < 100
    assert page.locator("#timeline .gantt-row[data-step=fan_out]").count() == 1
    # The row height the table's script counts with is the one the page lays out.
    heights = page.locator("#steps-table tr[data-step]").evaluate_all(
        "rows => [...new Set(rows.map(r => r.getBoundingClientRect().height))]"
    )
    assert heights == [33], heights
    # Status colors: every bar of a step that succeeded is drawn as such.
    assert page.locator("#timeline rect[data-step=fan_out].fill-ok").count() == 1

    # Scrolled to the end, the last step is in view; the first left the page.
    page.locator("#timeline").scroll_into_view_if_needed()
    scroll_to(page, "#timeline", "f.scrollHeight")
    page.wait_for_selector("#timeline .gantt-row[data-step=total]")
    assert in_view(page, "#timeline .gantt-row[data-step=total] text", "#timeline")
    assert page.locator("#timeline .gantt-row[data-step=fan_out]").count() == 0
    assert page.locator("#timeline rect[data-step=total].fill-ok").count() == 1
    assert page.locator("#timeline .gantt-row").count() < 100

    table = "#steps-table"
    frame = ".run-steps"
    page.locator(frame).scroll_into_view_if_needed()
    scroll_to(page, frame, "f.scrollHeight")
    page.wait_for_selector(f"{table} tr[data-step=total]")
    assert in_view(page, f"{table} tr[data-step=total]", frame)
    assert page.locator(f"{table} tr[data-step=fan_out]").count() == 0
    assert page.locator(f"{table} tr[data-step]").count() < 100
    shoot(page, "run-2000-steps")

    # Selecting a step for re-execution survives its row leaving the page and coming back.
    page.check(f"{table} tr[data-step=total] input[type=checkbox]")
    assert page.inner_text("#reexecute-selected") == "Re-execute selected (1)"
    scroll_to(page, frame, "0")
    page.wait_for_selector(f"{table} tr[data-step=fan_out]")
    assert page.locator(f"{table} tr[data-step=total]").count() == 0
    scroll_to(page, frame, "f.scrollHeight")
    page.wait_for_selector(f"{table} tr[data-step=total]")
    assert page.is_checked(f"{table} tr[data-step=total] input[type=checkbox]")

    # A step in the middle: its name shows it everywhere (the log filtered to it, its row
    # on the timeline selected and scrolled into view).
    middle = "piece[k1000]"
    scroll_to(page, frame, "f.scrollHeight / 2")
    row = f"{table} tr[data-step='{middle}']"
    page.wait_for_selector(row)
    page.click(f"{row} a")
    page.wait_for_function(
        f"document.querySelector('#event-log-root select[name=step]').value === '{middle}'"
    )
    selected = f"#timeline .gantt-row.gantt-selected[data-step='{middle}']"
    page.wait_for_selector(selected)
    assert in_view(page, f"{selected} text", "#timeline")

    # A click on a timeline row does the same.
    scroll_to(page, "#timeline", "0")
    page.wait_for_selector("#timeline .gantt-row[data-step=fan_out]")
    page.locator("#timeline").scroll_into_view_if_needed()
    page.click("#timeline .gantt-row[data-step=fan_out] .gantt-label")
    page.wait_for_function(
        "document.querySelector('#event-log-root select[name=step]').value === 'fan_out'"
    )
    page.wait_for_selector("#timeline .gantt-row.gantt-selected[data-step=fan_out]")

    # A step query marks its steps in both, among 2,002 (one level downstream of a piece);
    # the redraw leaves both views where they were scrolled to (the end).
    scroll_to(page, frame, "f.scrollHeight")
    page.wait_for_selector(f"{table} tr[data-step=total]")
    scroll_to(page, "#timeline", "f.scrollHeight")
    page.wait_for_selector("#timeline .gantt-row[data-step=total]")
    page.fill("#step-query", "piece[k1999]+")
    page.wait_for_selector(f"{table} tr.step-hit[data-step=total]")
    page.wait_for_selector("#timeline .gantt-row.gantt-hit[data-step=total]")
    page.wait_for_selector("#timeline .gantt-row.gantt-hit[data-step='piece[k1999]']")
    assert page.locator("#timeline .gantt-row.gantt-dim").count() > 0
    assert in_view(page, f"{table} tr[data-step=total]", frame)
    assert in_view(page, "#timeline .gantt-row[data-step=total] text", "#timeline")

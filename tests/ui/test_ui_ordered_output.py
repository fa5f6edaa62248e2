"""The run page's combined stdout/stderr view shows a step's lines in the order the step
printed them, across both streams (the op alternates between them, flushing each line)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.executor import ordered_jobs
from tests.ui.conftest import UiInstance, open_page, running_ui, shoot
from tests.ui.test_ui_pages import wait_finished

ORDERED_FILE = Path(ordered_jobs.__file__).resolve()
LAUNCH = """mutation($config: GenericScalar) {
  launchRun(executionParams: {selector: {locationName: "ordered", jobName: "alternating"},
    runConfigData: $config}) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[UiInstance]:
    with running_ui(tmp_path_factory, redis_url, {"ordered": ORDERED_FILE}) as instance:
        yield instance


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_combined_view_shows_lines_in_printed_order(ui: UiInstance, page: Any, executor: str):
    config = {"execution": {"config": {executor: {}}}}
    answer = ui.gql(LAUNCH, {"config": config})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id = answer["run"]["runId"]
    open_page(page, f"{ui.url}/runs/{run_id}")
    page.wait_for_selector("#steps-table tr[data-step=alternate] a")
    page.click("#steps-table tr[data-step=alternate] a")
    page.click("button:text-is('combined')")
    assert wait_finished(ui, run_id) == "SUCCESS"
    page.wait_for_selector("body[data-stream-ended]", timeout=120_000)
    last = f"err {ordered_jobs.LINES - 1}"
    page.wait_for_function(
        f"document.querySelector('#stdio-combined').textContent.includes({last!r})",
        timeout=60_000,
    )
    lines = page.evaluate(
        "[...document.querySelectorAll('#stdio-combined .stdio-line')].map((l) =>"
        " [l.dataset.stream, l.textContent.slice(l.querySelector('.stdio-mark').textContent.length + 1, -1)])"
    )
    assert [tuple(line) for line in lines] == ordered_jobs.expected_lines()
    # The separate views still hold each stream's own lines.
    page.click("button:text-is('stderr')")
    page.wait_for_function(
        f"document.querySelector('#stderr').textContent.includes({last!r})", timeout=60_000
    )
    stderr = page.inner_text("#stderr").splitlines()
    assert stderr == [line for stream, line in ordered_jobs.expected_lines() if stream == "stderr"]
    shoot(page, f"run-stdio-combined-ordered-{executor}")

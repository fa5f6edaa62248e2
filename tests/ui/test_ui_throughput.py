"""The workers page's per-queue throughput: steps that real Celery workers finish on two
queues show in each queue's sparkline (read from the step attempts in storage)."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UiInstance, open_page, shoot
from tests.ui.test_ui_pages import wait_finished

STEPS_PER_RUN = 4  # numbers: emit, double, flaky, report


def on_queue(queue: str) -> dict[str, Any]:
    return {"execution": {"config": {"celery": {"default_queue": queue}}}}


def test_queue_sparklines_show_the_steps_finished_on_each_queue(
    ui: UiInstance, fleet: Any, page: Any
):
    first, second = ui.queue, f"{ui.queue}-b"
    fleet.start("w1", queues=[first, second])
    open_page(page, ui.url + "/deployment")
    for queue in (first, second):
        idle = page.locator(f"#queue-table tr[data-queue='{queue}'] svg.sparkline")
        idle.wait_for(timeout=30_000)
        assert idle.get_attribute("data-total") == "0"
        assert idle.get_attribute("data-buckets") == "60"  # a minute each, the last hour
        assert "sparkline-idle" in (idle.get_attribute("class") or "")

    launched = [ui.launch("numbers", on_queue(first)) for _ in range(2)]
    launched.append(ui.launch("numbers", on_queue(second)))
    for run_id in launched:
        assert wait_finished(ui, run_id, timeout=120) == "SUCCESS"

    page.click("#refresh-fleet")
    shown = {}
    for queue, runs in ((first, 2), (second, 1)):
        row = page.locator(f"#queue-table tr[data-queue='{queue}']")
        line = row.locator(f"svg.sparkline[data-total='{runs * STEPS_PER_RUN}']")
        line.wait_for(timeout=30_000)
        assert row.locator(".queue-finished").inner_text() == str(runs * STEPS_PER_RUN)
        assert "sparkline-idle" not in (line.get_attribute("class") or "")
        # The line rises off the baseline where the steps finished: some point is above it.
        heights = line.locator(".sparkline-line").get_attribute("d") or ""
        ys = {float(point.split(",")[1]) for point in heights[1:].split(" L")}
        assert len(ys) > 1, heights
        label = line.get_attribute("aria-label") or ""
        assert label.startswith(f"{runs * STEPS_PER_RUN} steps in the last 60 min"), label
        shown[queue] = int(line.get_attribute("data-peak") or 0)
    assert all(peak >= 1 for peak in shown.values()), shown
    shoot(page, "deployment-throughput")

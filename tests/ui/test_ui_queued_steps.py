"""A Celery run's step waiting on a broker queue shows as QUEUED on the run page (with its
queue), then STARTED once a worker for that queue takes it, then SUCCESS: live, read from
the run's step attempts (Run.liveStepAttempts), not from events."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.ui.conftest import UiInstance, open_page, shoot
from tests.ui.test_ui_pages import wait_finished

ROW = "#steps-table tr[data-step='{step}'][data-status='{status}']"


def test_a_step_on_an_unconsumed_queue_is_queued_until_a_worker_takes_it(
    ui: UiInstance, fleet: Any, page: Any, tmp_path: Path
) -> None:
    queue = f"{ui.queue}-q{uuid.uuid4().hex[:6]}"  # no worker consumes it yet
    gate = tmp_path / "gate"
    gate.write_text("closed")  # while it exists, emit waits once started
    config = {
        "execution": {"config": {"celery": {"default_queue": queue}}},
        "ops": {"emit": {"config": {"gate": str(gate)}}},
    }
    run_id = ui.launch("numbers", config)
    open_page(page, f"{ui.url}/runs/{run_id}")

    queued = page.locator(ROW.format(step="emit", status="QUEUED"))
    queued.wait_for(timeout=60_000)
    assert queued.locator(".step-queue").inner_text() == f"queue {queue}"
    note = queued.locator("td.mono").get_attribute("title") or ""
    assert note.startswith(f"emit: queued on {queue} since "), note
    assert "no worker has taken it yet" in note
    # The steps after it are planned, not queued: only emit's attempt is on the queue.
    page.locator(ROW.format(step="report", status="PLANNED")).wait_for()
    assert page.locator("#steps-table tr[data-status='QUEUED']").count() == 1
    bar_row = page.locator("#timeline g.gantt-row[data-step='emit'][data-status='QUEUED']")
    assert (bar_row.locator(f"text[data-queue='{queue}']").text_content() or "").startswith(
        f"queued on {queue} since "
    )
    page.locator("#run-graph .graph-node[data-node='emit'][data-status='QUEUED']").wait_for()
    assert page.locator("#steps-count").inner_text() == "4 steps (4 not started yet)"
    shoot(page, "run-step-queued")
    # Still queued a few reads later: nothing takes it off a queue no worker consumes.
    page.wait_for_function(
        """() => {
          const cell = document.querySelector("#steps-table tr[data-step='emit'] td.num + td.num");
          const waited = cell && /^queued (\\d+(?:\\.\\d+)?) s$/.exec(cell.textContent);
          return waited && Number(waited[1]) >= 2;
        }"""
    )
    assert ui.status(run_id) == "STARTED"
    assert queued.count() == 1

    fleet.start("queued", queues=[queue], concurrency=1)
    started = page.locator(ROW.format(step="emit", status="STARTED"))
    started.wait_for(timeout=60_000)
    assert started.locator(".step-queue").count() == 0
    assert started.locator("td.mono").inner_text() not in ("", "—")  # the worker's host
    assert page.locator("#steps-table tr[data-status='QUEUED']").count() == 0

    gate.unlink()
    for step in ("emit", "double", "flaky", "report"):
        page.locator(ROW.format(step=step, status="SUCCESS")).wait_for(timeout=60_000)
    assert wait_finished(ui, run_id, timeout=60) == "SUCCESS"
    page.wait_for_selector("body[data-stream-ended]")
    assert page.locator("#steps-table tr[data-status='QUEUED']").count() == 0
    assert page.locator("#timeline text[data-queue]").count() == 0

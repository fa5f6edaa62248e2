"""The run page shows why a run failed when its worker died before the run started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opgraph.instance import OpgraphInstance
from opgraph.run_lifecycle import mark_starting
from opgraph.worker_exit import record_early_exit
from tests.ui.conftest import UiInstance, open_page

TRACEBACK = """Traceback (most recent call last):
  File "/srv/jobs/jobs.py", line 3, in <module>
    import warehouse_client
ImportError: libwarehouse.so.2: cannot open shared object file
"""


def test_the_run_page_shows_the_workers_own_error(ui: UiInstance, page: Any, tmp_path: Path):
    # What the launcher records for a worker that died (tests/launchers/test_worker_exit.py
    # kills real ones): the same call, on the webserver's storage.
    instance = OpgraphInstance.get(ui.home)
    try:
        run = instance.create_run("numbers")
        mark_starting(instance, run, "Starting a run worker subprocess.")
        log = tmp_path / f"{run.run_id}.log"
        log.write_text(TRACEBACK)
        record_early_exit(instance, run.run_id, 4242, 1, log)
    finally:
        instance.dispose()

    open_page(page, f"{ui.url}/runs/{run.run_id}")
    page.wait_for_selector("body[data-stream-ended]")
    page.wait_for_selector("#run-status [data-status=FAILURE]")
    row = page.locator("#event-log .log-row.type-RUN_FAILURE")
    assert row.locator(".log-message").inner_text() == (
        "The run worker (pid 4242) exited with code 1 before the run started: "
        "ImportError: libwarehouse.so.2: cannot open shared object file"
    )
    row.click()
    detail = page.inner_text(".log-detail-message")
    assert 'File "/srv/jobs/jobs.py", line 3, in <module>' in detail

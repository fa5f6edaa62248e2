"""Acting through the UI on a real webserver with real Celery workers: launch from the
launchpad (a config error first), watch the run live, cancel, re-execute, bulk actions,
a worker appearing on the deployment page and draining it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import UiInstance, open_page, set_config, shoot
from tests.ui.test_ui_pages import wait_finished

BAD_CONFIG = """execution:
  config:
    celery: {{}}
ops:
  emit:
    config:
      n: abc
      gate: {gate}
"""


@pytest.fixture(scope="module")
def worker(fleet: Any) -> str:
    fleet.start("w1")
    return str(fleet.node("w1"))


# A launch makes the run and starts its run worker before the page moves on: seconds at a
# load of 10 on two cores (a CI failure at 20 s, 7 December), not the page's usual bound.
LAUNCH_WAIT_MS = 90_000


def run_id_of(page: Any, leaving: str = "") -> str:
    """The run id of the run page the browser goes to (from `leaving`, another one)."""
    try:
        page.wait_for_url(
            lambda url: "/runs/" in url and not (leaving and url.endswith(leaving)),
            timeout=LAUNCH_WAIT_MS,
        )
    except Exception as error:
        notices = page.locator("#notices").inner_text(timeout=5_000)
        raise AssertionError(
            f"no run page at {page.url}; the page's notices: {notices!r}"
        ) from error
    return str(page.url.rsplit("/", 1)[-1])


def test_launch_from_launchpad_and_watch_it_live(
    ui: UiInstance, worker: str, page: Any, tmp_path: Path
):
    gate = tmp_path / "gate"
    gate.write_text("closed")
    open_page(page, ui.url + "/jobs/ui/numbers")
    page.wait_for_selector("#validation[data-state=valid]")

    set_config(page, BAD_CONFIG.format(gate=gate))
    page.wait_for_selector("#validation[data-state=invalid]")
    error = page.locator("#config-errors li[data-path='ops.emit.config.n']")
    assert error.count() == 1
    assert page.is_disabled("#launch-run")
    shoot(page, "launchpad-error")

    set_config(page, BAD_CONFIG.format(gate=gate).replace("n: abc", "n: 5"))
    page.wait_for_selector("#validation[data-state=valid]")
    page.click("#add-tag")
    page.fill("#tag-rows .tag-key", "team")
    page.fill("#tag-rows .tag-value", "<i>ui</i>")
    page.click("#launch-run")
    run_id = run_id_of(page)
    page.wait_for_selector("body[data-ready]")

    # In flight: the log streams while emit waits for the gate on the Celery worker.
    page.wait_for_function(
        "document.querySelector('#event-log').textContent.includes('waiting for the gate')"
    )
    assert page.inner_text("#live-indicator") == "live"
    assert ui.status(run_id) == "STARTED"
    emit_bar = page.locator("#timeline rect[data-step=emit]")
    assert emit_bar.get_attribute("data-status") == "STARTED"
    # Hovering the bar names the Celery worker that claimed the attempt.
    page.wait_for_selector(f"#timeline rect[data-step=emit][data-worker='{worker}']")
    assert worker in (emit_bar.locator("title").text_content() or "")
    seen = int(page.get_attribute("#event-log", "data-total") or 0)
    page.wait_for_function(f"Number(document.querySelector('#event-log').dataset.total) > {seen}")
    shoot(page, "run-live")

    gate.unlink()
    page.wait_for_selector("#run-status [data-status=SUCCESS]", timeout=60_000)
    page.wait_for_selector("body[data-stream-ended]")
    page.wait_for_function("document.querySelector('#timeline svg').dataset.bars === '4'")
    assert page.locator("#run-graph .graph-node[data-status=SUCCESS]").count() == 4
    assert "opgraph/launched_by=ui" in page.inner_text("#run-tags")
    assert "team=<i>ui</i>" in page.inner_text("#run-tags")
    assert "launched by ui" in page.inner_text("#run-subtitle")
    shoot(page, "run-finished")


def test_cancel_a_running_job(ui: UiInstance, page: Any):
    run_id = ui.launch("sleepy")
    open_page(page, f"{ui.url}/runs/{run_id}")
    page.wait_for_function("document.querySelector('#event-log').textContent.includes('napping')")

    page.click("#force-cancel-run")
    page.click("#confirm-ok")
    page.wait_for_selector("#run-status [data-status=CANCELED]", timeout=30_000)
    assert ui.status(run_id) == "CANCELED"
    assert page.locator("#cancel-run").is_hidden()
    assert page.locator("#reexecute-all").is_visible()


def test_reexecute_from_failure_and_selected(ui: UiInstance, page: Any, tmp_path: Path):
    marker = tmp_path / "fail"
    marker.write_text("x")
    parent = ui.launch("numbers", {"ops": {"flaky": {"config": {"fail_while": str(marker)}}}})
    assert wait_finished(ui, parent) == "FAILURE"
    open_page(page, f"{ui.url}/runs/{parent}")
    page.wait_for_selector("#reexecute-failure:visible")

    marker.unlink()
    page.click("#reexecute-failure")
    child = run_id_of(page, leaving=parent)
    assert child != parent
    page.wait_for_selector("body[data-ready]")
    page.wait_for_selector("#run-status [data-status=SUCCESS]", timeout=60_000)
    page.wait_for_selector("body[data-stream-ended]")
    assert page.inner_text("#parent-link") == parent
    # From failure: only flaky and what follows it ran again.
    steps = page.locator("#steps-table tr[data-step]").evaluate_all(
        "rows => rows.map(r => r.dataset.step)"
    )
    assert steps == ["flaky", "report"]

    page.check("#steps-table tr[data-step=report] input[type=checkbox]")
    assert page.inner_text("#reexecute-selected") == "Re-execute selected (1)"
    page.click("#reexecute-selected")
    grandchild = run_id_of(page, leaving=child)
    assert grandchild not in (parent, child)
    page.wait_for_selector("body[data-ready]")
    page.wait_for_selector("#run-status [data-status=SUCCESS]", timeout=60_000)
    page.wait_for_function("document.querySelector('#timeline svg').dataset.bars === '1'")

    open_page(page, f"{ui.url}/runs/{parent}")
    page.wait_for_selector(f"#run-children a[href='/runs/{child}']")


def test_refused_action_is_shown(ui: UiInstance, page: Any):
    run_id = ui.launch("numbers")
    assert wait_finished(ui, run_id) == "SUCCESS"
    open_page(page, f"{ui.url}/runs/{run_id}")
    # Succeeded: there is no failure to re-execute from. The button is hidden; a client
    # that asks anyway gets the typed error, and the UI shows it.
    assert page.locator("#reexecute-failure").is_hidden()
    page.evaluate("document.querySelector('#reexecute-failure').hidden = false")
    page.click("#reexecute-failure")
    page.wait_for_selector(".notice-error")
    assert "there is no failure to re-execute from" in page.inner_text("#notices")


def test_bulk_delete_with_confirmation(ui: UiInstance, page: Any):
    doomed = [ui.launch("numbers", tags={"bulk": "yes"}) for _ in range(2)]
    for run_id in doomed:
        wait_finished(ui, run_id)
    open_page(page, ui.url + "/runs?tag=bulk%3Dyes")
    assert page.locator("#runs-table tbody tr").count() == 2

    page.check("#select-all")
    page.click("#bulk-delete")
    assert "Delete 2 finished run(s)" in page.inner_text("#confirm-text")
    page.click("#confirm-dialog button[value=cancel]")
    assert page.locator("#runs-table tbody tr[data-run-id]").count() == 2

    page.click("#bulk-delete")
    page.click("#confirm-ok")
    page.wait_for_selector("text=No runs match.")
    assert "Delete: done for 2 run(s)" in page.inner_text("#notices")
    count = ui.gql(
        '{ runsOrError(filter: {tags: [{key: "bulk", value: "yes"}]}) { ... on Runs { count } } }'
    )
    assert count["runsOrError"]["count"] == 0


def test_worker_appears_on_deployment_page_and_drains(ui: UiInstance, fleet: Any, page: Any):
    node = fleet.node("w2")
    open_page(page, ui.url + "/deployment")
    page.wait_for_selector("body[data-fleet-loaded]")
    assert page.locator(f"#worker-table tr[data-worker='{node}']").count() == 0

    fleet.start("w2")
    page.click("#refresh-fleet")
    row = page.locator(f"#worker-table tr[data-worker='{node}']")
    row.wait_for(timeout=30_000)
    assert ui.queue in row.inner_text()
    assert "answering" in row.inner_text()
    shoot(page, "deployment-workers")

    row.locator("button", has_text="Drain").click()
    page.click("#confirm-ok")
    page.wait_for_selector(".notice-info >> text=stopped consuming")
    deadline = time.monotonic() + 20
    while "none (drained)" not in row.inner_text() and time.monotonic() < deadline:
        page.click("#refresh-fleet")
        page.wait_for_timeout(1500)
    assert "none (drained)" in row.inner_text()


def test_deployment_shows_the_active_and_standby_daemon(ui: UiInstance, page: Any):
    from tests.daemon.daemon_procs import DaemonProcess

    active = DaemonProcess(ui.home, "active")
    standby = None
    try:
        open_page(page, ui.url + "/deployment")
        deadline = time.monotonic() + 30
        while "Active daemon on" not in page.inner_text("#daemons"):
            assert time.monotonic() < deadline, active.output()[-2000:]
            page.wait_for_timeout(500)
            open_page(page, ui.url + "/deployment")
        standby = DaemonProcess(ui.home, "standby")
        page.wait_for_timeout(1000)
        deadline = time.monotonic() + 30
        while page.locator("#daemon-table tr[data-role=standby]").count() == 0:
            assert time.monotonic() < deadline, standby.output()[-2000:]
            page.wait_for_timeout(500)
            open_page(page, ui.url + "/deployment")
        assert page.locator("#daemon-table tr[data-role=active]").count() >= 1
        assert f"(pid {active.pid})" in page.inner_text("#daemon-lease")
        shoot(page, "deployment-daemon")
        open_page(page, ui.url + "/")
        assert page.inner_text("#stat-daemon .value") in ("healthy", "unhealthy")
        assert "daemon on" in page.inner_text("#stat-daemon .label")
    finally:
        active.stop()
        if standby is not None:
            standby.stop()

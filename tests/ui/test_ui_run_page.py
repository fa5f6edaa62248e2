"""The run page built on the plan: every planned step from the start, a failure banner
with a readable stack trace, an event log that never shows an empty viewport while
events stream in, and a stdout box that follows new output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.ui.conftest import UiInstance, open_page, shoot
from tests.ui.test_ui_actions import run_id_of
from tests.ui.test_ui_pages import wait_finished

# Runs in the page before its own scripts: after every animation frame (once the frame is
# painted: a task queued from the frame runs after it), it records whether the event log
# had events to show but none of its rows in the viewport.
BLANK_FRAME_PROBE = """
window.__frames = 0; window.__blank = 0; window.__blankAt = [];
const probe = () => {
  setTimeout(() => {
    const view = document.getElementById('event-log');
    if (view && Number(view.dataset.shown) > 0 && view.clientHeight > 0) {
      window.__frames += 1;
      const top = view.scrollTop, bottom = top + view.clientHeight;
      let seen = false;
      for (const row of view.firstChild.children) {
        const y = parseFloat(row.style.top);
        if (y + 22 > top && y < bottom) { seen = true; break; }
      }
      if (!seen) { window.__blank += 1; window.__blankAt.push([top, view.dataset.shown]); }
    }
  }, 0);
  if (!document.body || !document.body.dataset.streamEnded) requestAnimationFrame(probe);
};
requestAnimationFrame(probe);
"""
STREAMED_EVENTS = 20_000


def test_planned_steps_show_before_they_start(ui: UiInstance, page: Any, tmp_path: Path):
    gate = tmp_path / "gate"
    gate.write_text("closed")
    run_id = ui.launch("numbers", {"ops": {"emit": {"config": {"gate": str(gate)}}}})
    try:
        open_page(page, f"{ui.url}/runs/{run_id}")
        page.wait_for_selector("#steps-table tr[data-step=emit][data-status=STARTED]")
        for step in ("double", "flaky", "report"):
            page.wait_for_selector(f"#steps-table tr[data-step={step}][data-status=PLANNED]")
        assert "3 not started yet" in page.inner_text("#steps-count")
        shoot(page, "run-planned-steps")
    finally:
        gate.unlink()
    assert wait_finished(ui, run_id) == "SUCCESS"
    page.wait_for_selector("#steps-table tr[data-step=report][data-status=SUCCESS]")


def test_failure_banner_names_the_step_and_error(ui: UiInstance, page: Any, tmp_path: Path):
    marker = tmp_path / "fail"
    marker.write_text("x")
    run_id = ui.launch("numbers", {"ops": {"flaky": {"config": {"fail_while": str(marker)}}}})
    assert wait_finished(ui, run_id) == "FAILURE"

    open_page(page, f"{ui.url}/runs/{run_id}")
    banner = page.locator("#failure-banner .failure[data-step=flaky]")
    banner.wait_for()
    assert "Step flaky failed" in banner.inner_text()
    assert "RuntimeError: flaky failed on purpose" in banner.inner_text()
    banner.locator("details.stack > summary").click()
    user_frames = banner.locator(".frame-user")
    assert user_frames.count() >= 1
    assert "ui_jobs.py" in user_frames.first.inner_text()
    assert 'raise RuntimeError("flaky failed on purpose")' in user_frames.first.inner_text()
    # The step after the failed one was skipped.
    page.wait_for_selector("body[data-stream-ended]")
    page.wait_for_selector("#steps-table tr[data-step=report][data-status=SKIPPED]")
    assert page.locator("#steps-table tr[data-status=PLANNED]").count() == 0
    shoot(page, "run-failure-banner")

    # The event's detail shows the traceback as text, not as JSON with \n escapes.
    page.select_option("#event-log-root select[name=type]", "STEP_FAILURE")
    page.wait_for_function("document.querySelector('#event-log').dataset.shown === '1'")
    page.click("#event-log .log-row")
    detail = page.locator("#event-log-root .log-detail")
    assert detail.locator(".error-box").count() == 1
    assert "\\n" not in detail.inner_text()


def test_event_log_shows_no_blank_frame_while_events_stream(ui: UiInstance, page: Any):
    run_id = ui.launch("chatty", {"ops": {"chatter": {"config": {"events": STREAMED_EVENTS}}}})
    page.add_init_script(BLANK_FRAME_PROBE)
    open_page(page, f"{ui.url}/runs/{run_id}")
    page.wait_for_selector("body[data-stream-ended]", timeout=300_000)
    frames, blank, where = page.evaluate("[window.__frames, window.__blank, window.__blankAt]")
    assert int(page.get_attribute("#event-log", "data-total") or 0) > STREAMED_EVENTS
    assert frames > 20, f"only {frames} frames sampled"
    assert blank == 0, f"{blank} of {frames} frames showed an empty log viewport: {where[:10]}"
    assert wait_finished(ui, run_id) == "SUCCESS"


def test_stdout_follows_new_output(ui: UiInstance, page: Any):
    config = {"events": 1, "lines": 400, "pause_every": 20}
    run_id = ui.launch("chatty", {"ops": {"chatter": {"config": config}}})
    open_page(page, f"{ui.url}/runs/{run_id}")
    page.wait_for_selector("#steps-table tr[data-step=chatter] a")
    page.click("#steps-table tr[data-step=chatter] a")
    page.wait_for_selector("body[data-stream-ended]", timeout=120_000)
    page.wait_for_function("document.querySelector('#stdout').textContent.includes('line 399')")
    at_end = page.evaluate(
        "(() => { const b = document.getElementById('step-output');"
        " return b.scrollHeight > b.clientHeight && b.scrollTop + b.clientHeight >= b.scrollHeight - 4; })()"
    )
    assert at_end, "the stdout box did not follow its new output"
    assert page.is_checked("#stdio-follow")
    shoot(page, "run-stdout-follow")
    # Download: the step's stdout as it was captured, as a text file.
    with page.expect_download() as download:
        page.click("#stdio-download")
    assert download.value.suggested_filename == f"{run_id}-chatter.stdout.txt"
    text = Path(download.value.path()).read_text()
    assert text.splitlines() == [f"line {i}" for i in range(400)]


def test_gantt_zooms_pans_and_highlights_a_step_query(ui: UiInstance, page: Any):
    run_id = ui.launch("numbers")
    assert wait_finished(ui, run_id) == "SUCCESS"
    open_page(page, f"{ui.url}/runs/{run_id}")
    page.wait_for_selector("body[data-stream-ended]")
    page.wait_for_function("document.querySelector('#timeline svg').dataset.bars === '4'")
    window = "document.querySelector('#timeline svg').dataset.window"

    page.click("#timeline-zoom-in")
    page.wait_for_function(f"{window} === '0.250,0.750'")
    box = page.locator("#timeline svg").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 600, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 400, y, steps=4)  # drag left: later in the run
    page.mouse.up()
    page.wait_for_function(f"Number({window}.split(',')[0]) > 0.25")
    shown = page.evaluate(window).split(",")
    assert abs(float(shown[1]) - float(shown[0]) - 0.5) < 0.002  # panning keeps the zoom

    page.fill("#step-query", "flaky+")
    page.wait_for_selector("#timeline .gantt-row.gantt-hit[data-step=report]")
    hits = page.locator("#timeline .gantt-hit").evaluate_all("gs => gs.map(g => g.dataset.step)")
    assert sorted(hits) == ["flaky", "report"]
    assert page.locator("#timeline .gantt-dim").count() == 2
    page.fill("#step-query", "*double")
    page.wait_for_selector("#timeline .gantt-row.gantt-hit[data-step=emit]")
    assert page.locator("#timeline .gantt-hit").count() == 2
    shoot(page, "run-gantt-zoomed")
    page.click("#timeline-reset")
    page.wait_for_function(f"{window} === '0.000,1.000'")


def test_reexecute_a_run_group_from_failure(ui: UiInstance, page: Any, tmp_path: Path):
    """From the group's first run, "Re-execute group from failure" starts from its newest."""
    marker = tmp_path / "fail"
    marker.write_text("x")
    root = ui.launch("numbers", {"ops": {"flaky": {"config": {"fail_while": str(marker)}}}})
    assert wait_finished(ui, root) == "FAILURE"
    child = ui.gql(
        "mutation($id: String!) { launchRunReexecution(parentRunId: $id, strategy: FROM_FAILURE)"
        " { ... on LaunchRunSuccess { run { runId } } } }",
        {"id": root},
    )["launchRunReexecution"]["run"]["runId"]
    assert wait_finished(ui, child) == "FAILURE"
    marker.unlink()

    open_page(page, f"{ui.url}/runs/{root}")
    page.wait_for_selector("#reexecute-group:not([hidden])")
    page.click("#reexecute-group")
    newest = run_id_of(page, leaving=root)
    assert wait_finished(ui, newest) == "SUCCESS"
    parent = ui.gql(
        "query($id: String!) { runOrError(runId: $id) { ... on Run { parentRunId rootRunId } } }",
        {"id": newest},
    )["runOrError"]
    assert parent == {"parentRunId": child, "rootRunId": root}


def test_reexecute_selected_and_downstream(ui: UiInstance, page: Any):
    """A ticked step and every step after it in the plan (numbers: emit → double → flaky →
    report) run again; the steps before it are reused."""
    parent = ui.launch("numbers")
    assert wait_finished(ui, parent) == "SUCCESS"
    open_page(page, f"{ui.url}/runs/{parent}")
    page.wait_for_selector("body[data-stream-ended]")
    page.wait_for_selector("#reexecute-downstream:disabled")
    page.check("#steps-table tr[data-step=flaky] input[type=checkbox]")
    page.click("#reexecute-downstream:enabled")
    child = run_id_of(page, leaving=parent)
    assert wait_finished(ui, child) == "SUCCESS"
    page.wait_for_selector("body[data-stream-ended]")
    page.wait_for_selector("#steps-table tr[data-step=report][data-status=SUCCESS]")
    steps = page.locator("#steps-table tr[data-step]").evaluate_all(
        "rows => rows.map(r => r.dataset.step)"
    )
    assert steps == ["flaky", "report"]
    assert page.inner_text("#parent-link") == parent
    # The child re-executes part of its parent: no plan is read for it, so the page says it
    # cannot add the downstream steps rather than re-executing the ticked ones alone.
    page.check("#steps-table tr[data-step=flaky] input[type=checkbox]")
    page.click("#reexecute-downstream:enabled")
    page.wait_for_selector(".notice-info:has-text('downstream is not known here')")
    assert page.url.endswith(child)


def test_combined_output_interleaves_streams_and_follows(ui: UiInstance, page: Any):
    """The combined view shows both streams, each line marked with its own stream and each
    stream's lines in their order; it follows new output, and scrolling up stops that."""
    config = {"events": 1, "lines": 400, "pause_every": 20, "stderr_every": 50}
    run_id = ui.launch("chatty", {"ops": {"chatter": {"config": config}}})
    open_page(page, f"{ui.url}/runs/{run_id}")
    page.wait_for_selector("#steps-table tr[data-step=chatter] a")
    page.click("#steps-table tr[data-step=chatter] a")
    page.click("button:text-is('combined')")
    # Shown once it holds a line (an empty <pre> has no height: not visible to Playwright).
    page.wait_for_selector("#stdio-combined .stdio-line")
    assert page.is_visible("#stdio-combined") and not page.is_visible("#stdout")
    page.wait_for_selector("body[data-stream-ended]", timeout=120_000)
    page.wait_for_function(
        "document.querySelector('#stdio-combined').textContent.includes('err 399')", timeout=60_000
    )
    lines = page.evaluate(
        "[...document.querySelectorAll('#stdio-combined .stdio-line')]"
        ".map((l) => [l.dataset.stream, l.querySelector('.stdio-mark').textContent, l.textContent])"
    )
    out = [text for stream, _, text in lines if stream == "stdout"]
    err = [text for stream, _, text in lines if stream == "stderr"]
    assert out == [f"out line {i}\n" for i in range(400)]
    assert err == [f"err err {i}\n" for i in range(49, 400, 50)]
    assert all(mark == ("out" if stream == "stdout" else "err") for stream, mark, _ in lines)
    at_end = "(() => { const b = document.getElementById('step-output'); return b.scrollTop + b.clientHeight >= b.scrollHeight - 4; })()"
    assert page.evaluate(at_end), "the combined view did not follow its new output"
    page.evaluate("document.getElementById('step-output').scrollTop = 0")
    page.wait_for_function("!document.getElementById('stdio-follow').checked")
    shoot(page, "run-stdio-combined")

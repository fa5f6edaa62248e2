// The run's steps as a table (select, step, status, attempts, duration, worker), windowed
// like the timeline: rows have a fixed height (ROW, also in ui.css), two spacer rows stand
// for the rows above and below the view, and only the rows in view (plus OVERSCAN) are in
// the page. A run of 2,000 steps redrew 2,000 rows with their checkboxes four times a
// second while it streamed; now it redraws about 30.
import { h } from "../lib/dom.js";
import { formatDuration, statusBadge } from "../lib/format.js";
import { hideActions } from "../lib/page.js";
import { queuedNote } from "./steps.js";

const ROW = 33;
const OVERSCAN = 8;

export class StepTable {
  /**
   * `table` holds a thead and an empty tbody; `scroller` is the element that scrolls it.
   * `isSelected(key)` / `onToggle(key, on)`: the steps picked for re-execution;
   * `onFocus(key)`: a step's name was clicked.
   */
  constructor(table, scroller, { isSelected, onToggle, onFocus }) {
    this.body = table.tBodies[0];
    this.scroller = scroller;
    this.isSelected = isSelected;
    this.onToggle = onToggle;
    this.onFocus = onFocus;
    this.steps = [];
    this.highlight = null;
    this.rendered = new Map(); // step index -> its row in the page
    this.above = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: 6 }));
    this.below = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: 6 }));
    scroller.addEventListener("scroll", () => this.#render());
    // A taller view shows more rows (put in the next frame, not from the observer itself).
    new ResizeObserver(() => requestAnimationFrame(() => this.#render())).observe(scroller);
  }

  /** Show `steps` (StepTracker.list()); steps in `highlight` (a Set, or null) are marked. */
  draw(steps, highlight = null) {
    this.steps = steps;
    this.highlight = highlight;
    this.now = Date.now() / 1000;
    if (!steps.length) {
      this.rendered.clear();
      this.body.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No step has started yet.")));
      return;
    }
    // Rows in view are built again (statuses and durations change). The view is read
    // before the rows leave: read after, the table would be shorter by their height for
    // that layout, and a view scrolled to the end would be pulled up by as much.
    const view = this.#view();
    this.rendered.clear();
    this.body.replaceChildren(this.above, this.below);
    this.#render(view);
  }

  /** Scroll `stepKey`'s row into view. */
  reveal(stepKey) {
    const index = this.steps.findIndex((step) => step.stepKey === stepKey);
    if (index === -1) return;
    const top = index * ROW;
    const view = this.scroller;
    if (top < view.scrollTop || top + 2 * ROW > view.scrollTop + view.clientHeight) {
      view.scrollTop = Math.max(0, top - view.clientHeight / 2);
      this.#render();
    }
  }

  /** The part of the table in view: its top (below the header) and height, in pixels. */
  #view() {
    const head = this.body.parentElement.tHead?.offsetHeight || 0;
    return { top: Math.max(0, this.scroller.scrollTop - head), height: this.scroller.clientHeight || 460 };
  }

  #render({ top, height } = this.#view()) {
    if (!this.steps.length) return;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.steps.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    for (const [index, row] of this.rendered) {
      if (index < first || index >= last) {
        row.remove();
        this.rendered.delete(index);
      }
    }
    // Rows go in order between the spacers: each before the first rendered row after it.
    let next = this.below;
    for (let i = last - 1; i >= first; i -= 1) {
      let row = this.rendered.get(i);
      if (!row) {
        row = this.#row(this.steps[i]);
        this.rendered.set(i, row);
        this.body.insertBefore(row, next);
      }
      next = row;
    }
    this.above.firstChild.style.height = `${first * ROW}px`;
    this.below.firstChild.style.height = `${(this.steps.length - last) * ROW}px`;
    this.body.dataset.steps = String(this.steps.length);
    this.body.dataset.drawn = String(this.rendered.size);
    hideActions(this.body);
  }

  #row(step) {
    const last = step.attempts.at(-1);
    const duration = step.startTime ? (step.endTime ?? this.now) - step.startTime : null;
    // A QUEUED step (see StepTracker.setLive): its queue where the worker goes, its wait
    // where the duration goes, both in the tooltip.
    const queued = step.status === "QUEUED";
    const note = queued ? queuedNote(step, this.now) : null;
    const where = queued
      ? h("span", { class: "step-queue", "data-queue": step.queue || "" }, `queue ${step.queue || "default"}`)
      : last?.worker || step.claimedBy || "—";
    return h("tr", { "data-step": step.stepKey, "data-status": step.status, class: this.highlight?.has(step.stepKey) && "step-hit" },
      h("td", { "data-action": true }, h("input", {
        type: "checkbox", "aria-label": `Select ${step.stepKey}`, checked: this.isSelected(step.stepKey),
        onchange: (e) => this.onToggle(step.stepKey, e.target.checked),
      })),
      h("td", { class: "step-key" }, h("a", { href: "#", title: step.stepKey, onclick: (e) => { e.preventDefault(); this.onFocus(step.stepKey); } }, step.stepKey)),
      h("td", { title: note }, statusBadge(step.status)),
      h("td", { class: "num" }, step.attempts.length),
      h("td", { class: "num", title: note }, queued && !step.startTime ? `queued ${formatDuration(this.now - step.queuedAt)}` : formatDuration(step.startTime ? duration : null)),
      h("td", { class: "mono", title: note }, where));
  }
}

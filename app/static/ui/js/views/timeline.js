// The run's steps as a Gantt chart (SVG): one row per step, one bar per attempt, placed by
// start time and duration and colored by outcome; hovering a bar names its worker host.
// Steps that have not started (planned, or not run) follow the started ones as rows
// without a bar.
//
// Windowed: a run of thousands of steps would put thousands of rows into the page, and
// redraw them all four times a second while it streams. Rows have a fixed height, the SVG
// has the height of every row, and only the rows in view (plus OVERSCAN on each side) are
// in it; scrolling puts the entering rows in place in the scroll event's own task, before
// the frame is painted. The time axis stays at the top of the view.
import { s } from "../lib/dom.js";
import { formatDuration, formatTime, statusClass } from "../lib/format.js";
import { queuedNote } from "./steps.js";

const ROW = 22;
const BAR = 14;
const LABEL_WIDTH = 210;
const AXIS = 22;
const OVERSCAN = 8;

function niceStep(span, ticks) {
  const raw = span / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((f) => f * magnitude).find((step) => step >= raw) || raw;
}

function fillClass(status) {
  return statusClass(status).replace("status-", "fill-");
}

export class Timeline {
  /** A Gantt chart in `frame` (a scroll container); `onSelect(stepKey)` on a click on a row. */
  constructor(frame, { onSelect = () => {} } = {}) {
    this.frame = frame;
    this.onSelect = onSelect;
    this.rows = [];
    this.rendered = new Map(); // row index -> its <g> in the page
    this.selected = null;
    this.highlight = null;
    this.svg = s("svg", { class: "timeline", role: "img", "aria-label": "Timeline of steps" });
    this.clip = s("rect", { x: LABEL_WIDTH, y: 0 });
    this.grid = s("g", { class: "gantt-grid-lines" });
    this.body = s("g", { class: "gantt-rows" });
    this.head = s("g", { class: "gantt-head" });
    this.svg.append(s("defs", {}, s("clipPath", { id: "gantt-clip" }, this.clip)), this.grid, this.body, this.head);
    this.empty = s("svg", { width: 400, height: 40, class: "timeline", "data-bars": 0, "data-rows": 0 },
      s("text", { x: 10, y: 24, class: "gantt-axis" }, "No step has started yet."));
    frame.addEventListener("scroll", () => this.#onScroll());
    // A taller view shows more rows (the width is the page's to redraw: the bars scale with it).
    // (In the next frame: rows put in from the observer itself could resize what it observes.)
    new ResizeObserver(() => requestAnimationFrame(() => this.#onScroll())).observe(frame);
  }

  /**
   * Draw `steps` (StepTracker.list()); `now` extends running bars. `window` ({from, to},
   * fractions of the run's span) zooms and pans; steps outside `highlight` (a Set of step
   * keys, or null) are dimmed.
   */
  draw(steps, { runStart = null, runEnd = null, now = Date.now() / 1000, window = { from: 0, to: 1 }, highlight = null }) {
    const started = steps.filter((step) => step.attempts.length).sort((a, b) => a.startTime - b.startTime);
    this.rows = [...started, ...steps.filter((step) => !step.attempts.length)];
    this.highlight = highlight;
    if (!this.rows.length) {
      if (this.frame.firstChild !== this.empty) this.frame.replaceChildren(this.empty);
      return;
    }
    // The axis starts at the first step: a run worker's own start-up would squeeze the bars.
    const first = started.length ? Math.min(...started.map((r) => r.startTime)) : (runStart ?? now);
    let last = Math.max(runEnd ?? 0, first + 0.001);
    for (const step of started) for (const attempt of step.attempts) last = Math.max(last, attempt.endTime ?? now);
    const start = first + window.from * (last - first);
    const end = first + window.to * (last - first);
    const width = Math.max(this.frame.clientWidth - 2, 600);
    const plot = width - LABEL_WIDTH - 16;
    this.x = (t) => LABEL_WIDTH + ((t - start) / (end - start)) * plot;
    this.now = now;
    const height = AXIS + this.rows.length * ROW + 4;
    const svg = this.svg;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.dataset.window = `${window.from.toFixed(3)},${window.to.toFixed(3)}`;
    svg.dataset.rows = String(this.rows.length);
    svg.dataset.bars = String(started.reduce((sum, step) => sum + step.attempts.length, 0));
    this.clip.setAttribute("width", plot + 16);
    this.clip.setAttribute("height", height);

    const tick = niceStep(end - start, Math.max(2, Math.floor(plot / 110)));
    const lines = [];
    const labels = [s("rect", { x: 0, y: 0, width, height: AXIS - 4, class: "gantt-head-bg" })];
    for (let t = 0; t <= end - start + 1e-9; t += tick) {
      const px = this.x(start + t);
      lines.push(s("line", { x1: px, x2: px, y1: AXIS - 4, y2: height, class: "gantt-grid" }));
      labels.push(s("text", { x: px + 2, y: 12, class: "gantt-axis" }, start + t > first ? `+${formatDuration(start + t - first)}` : formatTime(start).slice(11)));
    }
    this.grid.replaceChildren(...lines);
    this.head.replaceChildren(...labels);
    // Every row in view is drawn again (bars grow, statuses change); the others stay out.
    this.rendered.clear();
    this.body.replaceChildren();
    if (this.frame.firstChild !== svg) this.frame.replaceChildren(svg);
    this.#render();
  }

  /** Scroll so that `stepKey`'s row is in view, and mark it as the selected one. */
  select(stepKey) {
    this.selected = stepKey;
    for (const row of this.rendered.values()) row.classList.toggle("gantt-selected", row.dataset.step === stepKey);
    const index = this.rows.findIndex((step) => step.stepKey === stepKey);
    if (index === -1) return;
    const top = AXIS + index * ROW;
    const view = this.frame;
    if (top < view.scrollTop + AXIS || top + ROW > view.scrollTop + view.clientHeight) {
      view.scrollTop = Math.max(0, top - view.clientHeight / 2);
      this.#render();
    }
  }

  /** The step of the row under a pointer at `clientY`, or null (the axis, or below the rows). */
  stepAt(clientY) {
    const y = clientY - this.svg.getBoundingClientRect().top;
    if (y - this.frame.scrollTop < AXIS) return null;
    return this.rows[Math.floor((y - AXIS) / ROW)]?.stepKey ?? null;
  }

  #onScroll() {
    if (!this.rows.length) return;
    this.#render();
  }

  #render() {
    const top = this.frame.scrollTop;
    this.head.setAttribute("transform", `translate(0,${top})`);
    const height = this.frame.clientHeight || 380;
    const first = Math.max(0, Math.floor((top - AXIS) / ROW) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height - AXIS) / ROW) + OVERSCAN);
    for (const [index, row] of this.rendered) {
      if (index < first || index >= last) {
        row.remove();
        this.rendered.delete(index);
      }
    }
    const entering = [];
    for (let i = first; i < last; i += 1) {
      if (this.rendered.has(i)) continue;
      const row = this.#row(this.rows[i], i);
      this.rendered.set(i, row);
      entering.push(row);
    }
    if (entering.length) this.body.append(...entering);
    this.svg.dataset.drawn = String(this.rendered.size);
  }

  #row(step, index) {
    const y = AXIS + index * ROW;
    const highlight = this.highlight;
    const dim = highlight && !highlight.has(step.stepKey);
    const row = s("g", {
      class: ["gantt-row", dim && "gantt-dim", highlight && !dim && "gantt-hit", step.stepKey === this.selected && "gantt-selected"],
      "data-step": step.stepKey, "data-status": step.status, "data-index": index,
    });
    row.append(
      s("rect", { x: 0, y, width: LABEL_WIDTH - 4, height: ROW, class: "gantt-row-bg" }),
      s("text", { x: 6, y: y + 15, class: "gantt-label" }, step.stepKey.length > 30 ? `${step.stepKey.slice(0, 29)}…` : step.stepKey,
        s("title", {}, step.status === "QUEUED" ? queuedNote(step, this.now) : `${step.stepKey}: ${step.status}`)));
    if (!step.attempts.length) {
      const queued = step.status === "QUEUED"; // waiting on a broker queue for a worker
      const text = queued ? `queued on ${step.queue || "the default queue"} since ${formatTime(step.queuedAt).slice(11)}`
        : step.status === "PLANNED" ? "not started yet" : step.status.toLowerCase().replace("_", " ");
      row.append(s("text", { x: LABEL_WIDTH + 6, y: y + 15, class: "gantt-waiting", "data-queue": queued ? step.queue || "" : null },
        text, queued && s("title", {}, queuedNote(step, this.now))));
      return row;
    }
    const bars = s("g", { "clip-path": "url(#gantt-clip)" });
    row.append(bars);
    for (const attempt of step.attempts) {
      const x1 = this.x(attempt.startTime);
      const x2 = this.x(attempt.endTime ?? this.now);
      const duration = (attempt.endTime ?? this.now) - attempt.startTime;
      bars.append(s("rect", {
        x: x1, y: y + (ROW - BAR) / 2, width: Math.max(2, x2 - x1), height: BAR, rx: 3,
        class: ["gantt-bar", fillClass(attempt.status)],
        "data-step": step.stepKey, "data-attempt": attempt.number + 1, "data-status": attempt.status,
        "data-worker": attempt.worker || "",
      }, s("title", {}, [
        `${step.stepKey} — attempt ${attempt.number + 1}: ${attempt.status}`,
        `worker: ${attempt.worker || "unknown"}`,
        `started ${formatTime(attempt.startTime)}, ${attempt.endTime ? "took" : "running for"} ${formatDuration(duration)}`,
      ].join("\n"))));
    }
    return row;
  }
}

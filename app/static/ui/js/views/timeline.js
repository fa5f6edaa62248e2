// The run's steps as a Gantt chart (SVG): one row per step, one bar per attempt, placed by
// start time and duration and colored by outcome; hovering a bar names its worker host.
import { clear, s } from "../lib/dom.js";
import { formatDuration, formatTime, statusClass } from "../lib/format.js";

const ROW = 22;
const BAR = 14;
const LABEL_WIDTH = 210;
const AXIS = 22;

function niceStep(span, ticks) {
  const raw = span / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((f) => f * magnitude).find((step) => step >= raw) || raw;
}

function fillClass(status) {
  return statusClass(status).replace("status-", "fill-");
}

/**
 * Draw `steps` (StepTracker.list()) into `frame`; `now` extends running bars. `window`
 * ({from, to}, fractions of the run's span) zooms and pans; steps outside `highlight` (a
 * Set of step keys, or null) are dimmed.
 */
export function drawTimeline(frame, steps, { runEnd, now = Date.now() / 1000, window = { from: 0, to: 1 }, highlight = null }) {
  const rows = steps.filter((step) => step.attempts.length).sort((a, b) => a.startTime - b.startTime);
  clear(frame);
  if (!rows.length) {
    frame.append(s("svg", { width: 400, height: 40, class: "timeline", "data-bars": 0 },
      s("text", { x: 10, y: 24, class: "gantt-axis" }, "No step has started yet.")));
    return;
  }
  // The axis starts at the first step: a run worker's own start-up would squeeze the bars.
  const first = Math.min(...rows.map((r) => r.startTime));
  const ends = rows.flatMap((r) => r.attempts.map((a) => a.endTime ?? now));
  const last = Math.max(runEnd ?? 0, ...ends, first + 0.001);
  const start = first + window.from * (last - first);
  const end = first + window.to * (last - first);
  const width = Math.max(frame.clientWidth - 2, 600);
  const plot = width - LABEL_WIDTH - 16;
  const x = (t) => LABEL_WIDTH + ((t - start) / (end - start)) * plot;
  const height = AXIS + rows.length * ROW + 4;
  const svg = s("svg", { width, height, class: "timeline", role: "img", "aria-label": "Timeline of steps", "data-window": `${window.from.toFixed(3)},${window.to.toFixed(3)}` });
  svg.append(s("defs", {}, s("clipPath", { id: "gantt-clip" }, s("rect", { x: LABEL_WIDTH, y: 0, width: plot + 16, height }))));

  const tick = niceStep(end - start, Math.max(2, Math.floor(plot / 110)));
  for (let t = 0; t <= end - start + 1e-9; t += tick) {
    const px = x(start + t);
    svg.append(s("line", { x1: px, x2: px, y1: AXIS - 4, y2: height, class: "gantt-grid" }),
      s("text", { x: px + 2, y: 12, class: "gantt-axis" }, start + t > first ? `+${formatDuration(start + t - first)}` : formatTime(start).slice(11)));
  }
  let bars = 0;
  rows.forEach((step, index) => {
    const y = AXIS + index * ROW;
    const dim = highlight && !highlight.has(step.stepKey);
    const row = s("g", { class: ["gantt-row", dim && "gantt-dim", highlight && !dim && "gantt-hit"], "data-step": step.stepKey });
    row.append(s("text", { x: 6, y: y + 15, class: "gantt-label" }, step.stepKey.length > 30 ? `${step.stepKey.slice(0, 29)}…` : step.stepKey));
    const barsOfRow = s("g", { "clip-path": "url(#gantt-clip)" });
    row.append(barsOfRow);
    for (const attempt of step.attempts) {
      const x1 = x(attempt.startTime);
      const x2 = x(attempt.endTime ?? now);
      const duration = (attempt.endTime ?? now) - attempt.startTime;
      const bar = s("rect", {
        x: x1, y: y + (ROW - BAR) / 2, width: Math.max(2, x2 - x1), height: BAR, rx: 3,
        class: ["gantt-bar", fillClass(attempt.status)],
        "data-step": step.stepKey, "data-attempt": attempt.number + 1, "data-status": attempt.status,
        "data-worker": attempt.worker || "",
      }, s("title", {}, [
        `${step.stepKey} — attempt ${attempt.number + 1}: ${attempt.status}`,
        `worker: ${attempt.worker || "unknown"}`,
        `started ${formatTime(attempt.startTime)}, ${attempt.endTime ? "took" : "running for"} ${formatDuration(duration)}`,
      ].join("\n")));
      barsOfRow.append(bar);
      bars += 1;
    }
    svg.append(row);
  });
  svg.dataset.bars = String(bars);
  frame.append(svg);
}

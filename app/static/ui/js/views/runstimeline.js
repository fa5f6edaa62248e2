// Runs on a time axis, one row per job (as Dagster's overview timeline): a bar from each
// run's start (or creation, while it waits) to its end (or now), colored by status; a
// click opens the run.
import { clear, s } from "../lib/dom.js";
import { formatTime, statusClass } from "../lib/format.js";

const ROW = 24;
const LABEL = 170;
const AXIS = 20;
const MAX_JOBS = 20;

export function drawRunsTimeline(frame, runs, { hours, now = Date.now() / 1000 }) {
  clear(frame);
  const start = now - hours * 3600;
  const byJob = new Map();
  for (const run of runs) {
    if (!byJob.has(run.jobName)) byJob.set(run.jobName, []);
    byJob.get(run.jobName).push(run);
  }
  const jobs = [...byJob.keys()].slice(0, MAX_JOBS); // runs come newest first: busiest recent jobs first
  const width = Math.max(frame.clientWidth - 2, 600);
  const plot = width - LABEL - 12;
  const x = (t) => LABEL + Math.max(0, Math.min(1, (t - start) / (now - start))) * plot;
  const height = AXIS + Math.max(1, jobs.length) * ROW + 4;
  const svg = s("svg", { width, height, class: "runs-timeline", role: "img", "aria-label": `Runs of the last ${hours} hours`, "data-runs": runs.length });
  for (let hour = 0; hour <= hours; hour += Math.max(1, Math.round(hours / 6))) {
    const t = start + hour * 3600;
    svg.append(s("line", { x1: x(t), x2: x(t), y1: AXIS - 4, y2: height, class: "gantt-grid" }));
    if (x(t) + 34 < width) svg.append(s("text", { x: x(t) + 2, y: 12, class: "gantt-axis" }, formatTime(t).slice(11, 16)));
  }
  if (!jobs.length) svg.append(s("text", { x: LABEL, y: AXIS + 16, class: "gantt-axis" }, `No runs in the last ${hours} hours.`));
  jobs.forEach((job, row) => {
    const y = AXIS + row * ROW;
    svg.append(s("text", { x: 4, y: y + 16, class: "gantt-label" }, job.length > 24 ? `${job.slice(0, 23)}…` : job));
    for (const run of byJob.get(job)) {
      const from = run.startTime ?? run.createdAt;
      const to = run.endTime ?? now;
      const left = x(from);
      const bar = s("a", { href: `/runs/${encodeURIComponent(run.runId)}`, "data-run-id": run.runId },
        s("rect", { x: left, y: y + 5, width: Math.max(3, x(to) - left), height: ROW - 10, rx: 2, class: ["gantt-bar", statusClass(run.status).replace("status-", "fill-")] },
          s("title", {}, `${run.runId}\n${job} · ${run.status}\n${formatTime(from)} → ${run.endTime ? formatTime(run.endTime) : "now"}`)));
      svg.append(bar);
    }
  });
  frame.append(svg);
}

// A small inline SVG chart of counts per time bucket (the workers page's per-queue
// throughput): an area under a line, the newest bucket marked, a <title> per bucket.
import { s } from "../lib/dom.js";
import { formatTime } from "../lib/format.js";

/**
 * `counts` per bucket, oldest first; the first starts at `since` (Unix s) and each is
 * `bucketSeconds` wide. `unit` names one count ("steps"). The SVG carries its figures
 * as data attributes (total, peak, last) for tests and for a person reading the DOM.
 */
export function sparkline(counts, { since, bucketSeconds, unit = "steps", width = 180, height = 32 } = {}) {
  const n = counts.length;
  const total = counts.reduce((sum, c) => sum + c, 0);
  const peak = Math.max(0, ...counts);
  const perMinute = 60 / bucketSeconds;
  const pad = 2;
  const x = (i) => pad + (n > 1 ? (i / (n - 1)) * (width - 2 * pad) : (width - 2 * pad) / 2);
  const y = (c) => height - pad - (peak ? (c / peak) * (height - 2 * pad) : 0);
  const line = counts.map((c, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(c).toFixed(1)}`).join(" ");
  const area = n ? `${line} L${x(n - 1).toFixed(1)},${height - pad} L${x(0).toFixed(1)},${height - pad} Z` : "";
  const slot = n ? (width - 2 * pad) / n : 0;
  const minutes = Math.round((n * bucketSeconds) / 60);
  const rate = peak * perMinute;
  const summary = `${total} ${unit} in the last ${minutes} min; peak ${Number.isInteger(rate) ? rate : rate.toFixed(1)}/min`;
  return s("svg", {
    class: ["sparkline", total ? "" : "sparkline-idle"], width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": summary, "data-total": total, "data-peak": peak, "data-last": n ? counts[n - 1] : 0, "data-buckets": n,
  },
  s("title", {}, summary),
  s("path", { d: area, class: "sparkline-area" }),
  s("path", { d: line, class: "sparkline-line" }),
  n ? s("circle", { cx: x(n - 1), cy: y(counts[n - 1]), r: 2, class: "sparkline-last" }) : null,
  // One hover target per bucket: what it counted and when.
  counts.map((c, i) => s("rect", { x: pad + i * slot, y: 0, width: slot, height, class: "sparkline-hit" },
    s("title", {}, `${c} ${unit} finished from ${formatTime(since + i * bucketSeconds)} (${bucketSeconds} s)`))));
}

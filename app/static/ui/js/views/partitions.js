// Partitions and backfills, shared by the asset, job, backfills and backfill pages: a
// compact status bar (one segment per run of partitions with the same status, so a
// 10,000-partition asset is a handful of rectangles), its counts, and the form that
// launches a backfill (all, a range, the missing or the failed partitions).
import { h, s } from "../lib/dom.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { statusClass } from "../lib/format.js";

// assetPartitionStatuses' status string: one character per partition.
export const ASSET_STATUS = { M: "MATERIALIZED", F: "FAILED", I: "IN_PROGRESS", ".": "MISSING" };
const FILL = { MATERIALIZED: "ok", FAILED: "bad", IN_PROGRESS: "live", SUBMITTED: "live", PENDING: "planned", MISSING: "planned", CANCELED: "muted" };

const LAUNCH = `mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) { ${ERROR_FIELDS} ... on LaunchBackfillSuccess { backfillId } } }`;
const CANCEL = `mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) { ${ERROR_FIELDS} ... on CancelBackfillSuccess { backfillId } } }`;
const RESUME = `mutation($id: String!) { resumePartitionBackfill(backfillId: $id) { ${ERROR_FIELDS} ... on ResumeBackfillSuccess { backfillId } } }`;

export const backfillHref = (id) => `/backfills/${encodeURIComponent(id)}`;

/** What a backfill runs: its assets (an asset backfill) or its job, as links. */
export function backfillTarget(b) {
  if (b.assetSelection?.length) {
    return ["assets ", b.assetSelection.map((k, i) => [i ? ", " : "", h("a", { class: "mono", href: `/assets/${k.path.map(encodeURIComponent).join("/")}` }, k.path.join("/"))])];
  }
  if (b.jobName && b.locationName) return ["job ", h("a", { href: `/jobs/${encodeURIComponent(b.locationName)}/${encodeURIComponent(b.jobName)}` }, b.jobName)];
  return b.jobName ? `job ${b.jobName}` : "—";
}

/** Consecutive partitions with the same status, as [{status, start, end}] (end exclusive). */
export function segments(statuses) {
  const out = [];
  statuses.forEach((status, i) => {
    const last = out.at(-1);
    if (last && last.status === status) last.end = i + 1;
    else out.push({ status, start: i, end: i + 1 });
  });
  return out;
}

/**
 * A status bar: `keys[i]` has `statuses[i]`. A click picks the partition under the
 * pointer (`onPick(index)`); `picked` is outlined.
 */
export function statusBar(keys, statuses, { onPick = null, picked = null } = {}) {
  const W = 1000;
  const H = 22;
  const n = Math.max(keys.length, 1);
  const x = (i) => (i / n) * W;
  const svg = s("svg", { class: "partition-bar", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "data-partitions": keys.length, role: "img", "aria-label": `${keys.length} partitions` },
    segments(statuses).map((seg) => s("rect", {
      class: ["partition-segment", `fill-${FILL[seg.status] || "muted"}`], x: x(seg.start), y: 0,
      width: Math.max(x(seg.end) - x(seg.start), 0.5), height: H,
      "data-status": seg.status, "data-start": keys[seg.start], "data-end": keys[seg.end - 1],
    }, s("title", {}, seg.end - seg.start === 1 ? `${keys[seg.start]}: ${seg.status}` : `${keys[seg.start]} … ${keys[seg.end - 1]} (${seg.end - seg.start}): ${seg.status}`))),
    picked !== null ? s("rect", { class: "partition-picked", x: x(picked), y: 0, width: Math.max(W / n, 2), height: H }) : null);
  if (onPick) {
    svg.addEventListener("click", (event) => {
      const box = svg.getBoundingClientRect();
      onPick(Math.min(keys.length - 1, Math.max(0, Math.floor(((event.clientX - box.left) / box.width) * keys.length))));
    });
  }
  return h("div", { class: "partition-bar-frame" }, svg,
    keys.length ? h("div", { class: "partition-bar-ends" }, h("span", {}, keys[0]), h("span", {}, keys.at(-1))) : null);
}

/** "12 materialized · 3 failed · ..." as badges, each with data-status and data-count. */
export function statusCounts(counts) {
  return h("span", { class: "partition-counts" }, counts.filter((c) => c.count).map((c) =>
    h("span", { class: ["badge", statusClass(c.status)], "data-status": c.status, "data-count": c.count }, `${c.count} ${c.status.toLowerCase().replace("_", " ")}`)));
}

/**
 * The backfill form: of what (`target`: {assetSelection: [{path}]} for an asset, or
 * {jobName} for a job), and which partitions: all, a range, the missing or the failed
 * ones (the server reads those from the asset partition statuses when it launches; given
 * `statuses`, an asset's, the form counts them beforehand). `onLaunched(backfillId)`.
 */
export function backfillForm({ target, what, keys, statuses = null, onLaunched, onError }) {
  const count = (status) => (statuses ? ` (${statuses.filter((st) => st === status).length})` : "");
  const choices = [["all", `All ${keys.length} partitions`], ["range", "A range"],
    ["missing", `Missing${count("MISSING")}`], ["failed", `Failed${count("FAILED")}`]];
  const options = (selected) => keys.map((k, i) => h("option", { value: k, selected: i === selected }, k));
  const start = h("select", { id: "backfill-start", "aria-label": "First partition" }, options(0));
  const end = h("select", { id: "backfill-end", "aria-label": "Last partition" }, options(keys.length - 1));
  const inFlight = h("input", { id: "backfill-max-runs", type: "number", min: 1, placeholder: "no limit", "aria-label": "Runs in flight at most" });
  const summary = h("span", { class: "log-count", id: "backfill-summary" });
  const button = h("button", { type: "button", class: "primary", id: "launch-backfill" }, "Launch backfill");
  const radios = choices.map(([value, label], i) => h("label", {}, h("input", { type: "radio", name: "backfill-which", value, checked: i === 0 }), label));
  const form = h("div", { class: "backfill-form", id: "backfill-form" },
    h("div", { class: "filters" },
      h("div", { class: "field" }, h("span", { class: "log-count" }, "Of"), h("span", { class: "mono", id: "backfill-target" }, what)),
      h("div", { class: "field" }, h("span", { class: "log-count" }, "Partitions"), h("div", { class: "check-group" }, radios)),
      h("div", { class: "field backfill-range" }, h("span", { class: "log-count" }, "From … to"), h("div", { class: "row" }, start, end)),
      h("div", { class: "field" }, h("label", { for: "backfill-max-runs" }, "Runs in flight at most"), inFlight)),
    h("p", {}, button, " ", summary));

  const which = () => form.querySelector("input[name=backfill-which]:checked").value;
  const chosen = () => {
    const w = which();
    if (w === "all") return { params: { allPartitions: true }, count: keys.length };
    if (w === "range") {
      const a = keys.indexOf(start.value);
      const b = keys.indexOf(end.value);
      return { params: { partitionRange: { start: start.value, end: end.value } }, count: b >= a ? b - a + 1 : 0 };
    }
    const status = w === "missing" ? "MISSING" : "FAILED";
    const params = w === "missing" ? { missingPartitions: true } : { failedPartitions: true };
    return { params, count: statuses ? statuses.filter((st) => st === status).length : null };
  };
  const refresh = () => {
    form.querySelector(".backfill-range").hidden = which() !== "range";
    const { count: n } = chosen();
    summary.textContent = n === null ? `the ${which()} partitions, as the catalog has them at launch; one run each`
      : n ? `${n} partition(s), one run each` : "No partition selected.";
    summary.dataset.count = n === null ? "" : String(n);
    button.disabled = n === 0;
  };
  form.addEventListener("change", refresh);
  button.addEventListener("click", async () => {
    const { params } = chosen();
    const limit = Number.parseInt(inFlight.value, 10);
    button.disabled = true;
    try {
      const data = await gql(LAUNCH, { params: { ...target, ...params, ...(limit > 0 ? { maxRunsInFlight: limit } : {}), tags: [{ key: "opgraph/launched_by", value: "ui" }] } });
      onLaunched(expectType(data.launchPartitionBackfill, "LaunchBackfillSuccess").backfillId);
    } catch (error) {
      onError(error);
      refresh();
    }
  });
  refresh();
  return form;
}

/** Cancel or resume a backfill; resolves when the mutation answered. */
export async function changeBackfill(action, id) {
  const data = await gql(action === "cancel" ? CANCEL : RESUME, { id });
  const field = action === "cancel" ? "cancelPartitionBackfill" : "resumePartitionBackfill";
  return expectType(data[field], action === "cancel" ? "CancelBackfillSuccess" : "ResumeBackfillSuccess");
}

/** Open and close `panel` with `button`; `build(panel)` fills it when first opened. */
export function toggleForm(button, panel, build) {
  button.addEventListener("click", () => {
    if (!panel.firstChild) build(panel);
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
  });
}

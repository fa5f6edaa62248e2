// /assets/<key>: definition, checks, a partitioned asset's status bar (a partition's runs on
// a click) and backfill form, its automation condition's evaluations (why it was or was
// not requested, the evaluated tree on a click), metadata plotted over its
// materializations, the materialization history, and "Materialize".
import { $, h, s, show } from "../lib/dom.js";
import { formatTime, shortId, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { showError } from "../lib/notice.js";
import { hideActions, markReady, pageData } from "../lib/page.js";
import { assetHref, keyText, materialize, metadataNumber, metadataText, stalenessBadge } from "../views/assets.js";
import { ASSET_STATUS, backfillForm, backfillHref, statusBar, statusCounts, toggleForm } from "../views/partitions.js";

const path = pageData.assetKey.split("/");
const QUERY = `query Asset($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ${ERROR_FIELDS}
  ... on Asset { key { path }
    definition { locationName groupName description opName isExecutable codeVersion kinds owners metadata
      jobNames dependencyKeys { path } dependedByKeys { path } staleness { status causes }
      assetChecks { name description blocking latestExecution { passed status timestamp runId description } }
      automationCondition { label name }
      automationEvaluations(limit: 20) { id evaluationId timestamp numRequested requestedPartitionKeys reason condition } }
    assetMaterializations(limit: 100) { eventId runId timestamp stepKey metadata codeVersion } }
  }
  assetPartitionStatusesOrError(assetKey: $key) { ${ERROR_FIELDS} ... on AssetPartitionStatuses {
    numMaterialized numFailed numInProgress numMissing statusString partitionKeys } } }`;
const PARTITION_RUNS = `query PartitionRuns($filter: RunsFilter) { runsOrError(filter: $filter, limit: 10) { ${ERROR_FIELDS}
  ... on Runs { results { runId jobName status createdAt } } } }`;
const PARTITION_TAG = "dagster/partition"; // the tag a partition's runs carry (opgraph.partitions.tags)

let partitions = null; // {keys, statuses}
let picked = null; // the partition shown below the bar (its index)

const keyLinks = (keys) => (keys.length ? keys.map((k, i) => [i ? ", " : "", h("a", { href: assetHref(k), class: "mono" }, keyText(k))]) : "—");

function renderDefinition(d) {
  if (!d) {
    show($("#asset-definition"), h("p", { class: "empty" }, "No code location defines this asset now; its history is below."));
    return;
  }
  show($("#asset-subtitle"), `group ${d.groupName} · location ${d.locationName} · `, stalenessBadge(d.staleness),
    d.staleness.causes.length ? h("span", { class: "log-count" }, ` ${d.staleness.causes.join("; ")}`) : "");
  show($("#asset-definition"),
    h("dt", {}, "Description"), h("dd", {}, d.description || "—"),
    h("dt", {}, "Upstream"), h("dd", {}, keyLinks(d.dependencyKeys)),
    h("dt", {}, "Downstream"), h("dd", {}, keyLinks(d.dependedByKeys)),
    h("dt", {}, "Kinds"), h("dd", {}, d.kinds.join(", ") || "—"),
    h("dt", {}, "Owners"), h("dd", {}, d.owners.join(", ") || "—"),
    h("dt", {}, "Op"), h("dd", { class: "mono" }, d.opName || "—"),
    h("dt", {}, "Code version"), h("dd", { class: "mono" }, d.codeVersion || "—"),
    h("dt", {}, "Jobs"), h("dd", {}, d.jobNames.join(", ") || "—"),
    h("dt", {}, "Metadata"), h("dd", {}, Object.keys(d.metadata || {}).length ? tagChips(Object.entries(d.metadata).map(([key, value]) => ({ key, value: metadataText(value) }))) : "—"));
  show($("#asset-checks"), d.assetChecks.length
    ? h("table", { id: "check-table" }, h("thead", {}, h("tr", {}, ["Check", "Latest", "When", "Run"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.assetChecks.map((c) => h("tr", { "data-check": c.name },
        h("td", {}, c.name, c.blocking ? h("span", { class: "log-count" }, " blocking") : null, c.description ? h("div", { class: "log-count" }, c.description) : null),
        h("td", {}, c.latestExecution ? h("span", { class: ["badge", c.latestExecution.passed ? "status-ok" : "status-bad"] }, c.latestExecution.status) : h("span", { class: "empty" }, "not run")),
        h("td", {}, c.latestExecution ? formatTime(c.latestExecution.timestamp) : "—"),
        h("td", {}, c.latestExecution ? h("a", { href: `/runs/${encodeURIComponent(c.latestExecution.runId)}` }, shortId(c.latestExecution.runId)) : "—")))))
    : h("p", { class: "empty" }, "No checks."));
  $("#materialize-asset").hidden = !d.isExecutable;
  hideActions();
}

let shownEvaluation = null; // the evaluation whose tree is shown (its id)

/** An evaluated condition tree: each node's label, true of candidates, dep; nested. */
function conditionTree(node) {
  const partitions = node.true_partitions?.length ? ` (${node.true_partitions.join(", ")})` : "";
  return h("li", { "data-node": node.label || node.name, class: node.true ? "cond-true" : "cond-false" },
    h("span", { class: "mono" }, node.label || node.name),
    node.dep ? h("span", { class: "log-count" }, ` of ${node.dep}`) : null,
    h("span", { class: "log-count" }, ` — true for ${node.true ?? 0} of ${node.candidates ?? 0}${partitions}`),
    node.children?.length ? h("ul", {}, node.children.map(conditionTree)) : null);
}

function renderAutomation(d) {
  $("#asset-automation").hidden = !d?.automationCondition;
  if (!d?.automationCondition) return;
  $("#automation-condition").textContent = d.automationCondition.label || d.automationCondition.name;
  const evaluations = d.automationEvaluations;
  const showTree = (e) => {
    shownEvaluation = e.id;
    for (const row of document.querySelectorAll("#automation-table tr[data-evaluation]")) row.classList.toggle("picked", row.dataset.evaluation === e.id);
    show($("#automation-tree"), h("h3", {}, `Evaluation ${e.evaluationId}`), h("ul", { class: "tree" }, conditionTree(e.condition)));
  };
  show($("#automation-evaluations"), evaluations.length
    ? h("table", { id: "automation-table" },
      h("thead", {}, h("tr", {}, ["Evaluation", "When", "Requested", "Why"].map((t) => h("th", {}, t)))),
      h("tbody", {}, evaluations.map((e) => h("tr", { "data-evaluation": e.id, class: "clickable", title: "Show the evaluated condition", onclick: () => showTree(e) },
        h("td", { class: "num" }, String(e.evaluationId)),
        h("td", {}, formatTime(e.timestamp)),
        h("td", {}, e.numRequested ? h("span", { class: "badge status-ok" }, `${e.numRequested}${e.requestedPartitionKeys.length ? `: ${e.requestedPartitionKeys.slice(0, 5).join(", ")}${e.requestedPartitionKeys.length > 5 ? " …" : ""}` : ""}`) : "—"),
        h("td", {}, e.reason)))))
    : h("p", { class: "empty" }, "Not evaluated yet: the daemon's AUTOMATION part evaluates it each tick."));
  const again = evaluations.find((e) => e.id === shownEvaluation);
  if (again) showTree(again);
  else show($("#automation-tree"));
}

/** One small chart per numeric metadata key: its value at each materialization. */
function renderPlots(history) {
  const series = new Map();
  for (const m of [...history].reverse()) {
    for (const [key, value] of Object.entries(m.metadata || {})) {
      const number = metadataNumber(value);
      if (number === null) continue;
      if (!series.has(key)) series.set(key, []);
      series.get(key).push({ t: m.timestamp, v: number, runId: m.runId });
    }
  }
  if (!series.size) {
    show($("#asset-plots"), h("p", { class: "empty" }, "No numeric metadata recorded yet."));
    return;
  }
  const W = 420;
  const H = 120;
  const pad = 28;
  show($("#asset-plots"), h("div", { class: "plots" }, [...series].map(([key, points]) => {
    const t0 = points[0].t;
    const t1 = Math.max(points.at(-1).t, t0 + 1);
    const lo = Math.min(...points.map((p) => p.v));
    const hi = Math.max(...points.map((p) => p.v), lo + 1e-9);
    const x = (t) => pad + ((t - t0) / (t1 - t0)) * (W - 2 * pad);
    const y = (v) => H - pad + 8 - ((v - lo) / (hi - lo || 1)) * (H - pad - 16);
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    return h("figure", { class: "plot", "data-metadata": key },
      h("figcaption", {}, key, h("span", { class: "log-count" }, ` latest ${points.at(-1).v} · ${points.length} points`)),
      s("svg", { width: W, height: H, class: "plot-svg", "data-points": points.length },
        s("text", { x: 2, y: y(hi) + 4, class: "gantt-axis" }, String(hi)),
        s("text", { x: 2, y: y(lo) + 4, class: "gantt-axis" }, String(lo)),
        s("path", { d, class: "plot-line" }),
        points.map((p) => s("circle", { cx: x(p.t), cy: y(p.v), r: 3, class: "plot-point" }, s("title", {}, `${p.v} at ${formatTime(p.t)} (run ${shortId(p.runId)})`)))));
  })));
}

function renderHistory(history) {
  show($("#asset-history"), history.length
    ? h("table", { id: "materialization-table" }, h("thead", {}, h("tr", {}, ["When", "Run", "Step", "Metadata"].map((t) => h("th", {}, t)))),
      h("tbody", {}, history.map((m) => h("tr", { "data-event": m.eventId },
        h("td", {}, formatTime(m.timestamp)),
        h("td", { class: "mono" }, h("a", { href: `/runs/${encodeURIComponent(m.runId)}` }, shortId(m.runId))),
        h("td", { class: "mono" }, m.stepKey || "—"),
        h("td", {}, tagChips(Object.entries(m.metadata || {}).map(([key, value]) => ({ key, value: metadataText(value) }))))))))
    : h("p", { class: "empty" }, "Never materialized."));
}

async function showPartition(index) {
  picked = index;
  renderBar();
  const key = partitions.keys[index];
  const status = partitions.statuses[index];
  const detail = $("#partition-detail");
  detail.dataset.partition = key;
  show(detail, h("h3", {}, h("span", { class: "mono", id: "partition-key" }, key), " ", statusBadge(status)), h("span", { class: "loading" }, "Loading its runs…"));
  try {
    const data = await gql(PARTITION_RUNS, { filter: { tags: [{ key: PARTITION_TAG, value: key }] } });
    const runs = expectType(data.runsOrError, "Runs").results;
    if (partitions.keys[picked] !== key) return; // another partition was picked meanwhile
    detail.lastChild.replaceWith(runs.length
      ? h("table", { id: "partition-runs" }, h("tbody", {}, runs.map((run) => h("tr", { "data-run": run.runId },
        h("td", { class: "mono" }, h("a", { href: `/runs/${encodeURIComponent(run.runId)}` }, shortId(run.runId))),
        h("td", {}, run.jobName), h("td", {}, statusBadge(run.status)), h("td", {}, formatTime(run.createdAt))))))
      : h("p", { class: "empty" }, "No run of this partition yet."));
  } catch (error) {
    showError(error, `Runs of partition ${key}`);
  }
}

function renderBar() {
  show($("#partition-bar"), statusBar(partitions.keys, partitions.statuses, { onPick: showPartition, picked }));
}

function renderPartitions(answer) {
  if (answer?.__typename !== "AssetPartitionStatuses") {
    $("#asset-partitions").hidden = true; // not partitioned (or not defined now)
    return;
  }
  partitions = { keys: answer.partitionKeys, statuses: [...answer.statusString].map((c) => ASSET_STATUS[c] || "MISSING") };
  $("#asset-partitions").hidden = false;
  show($("#partition-counts"), statusCounts([
    { status: "MATERIALIZED", count: answer.numMaterialized }, { status: "FAILED", count: answer.numFailed },
    { status: "IN_PROGRESS", count: answer.numInProgress }, { status: "MISSING", count: answer.numMissing }]));
  renderBar();
  if (picked !== null && picked < partitions.keys.length) showPartition(picked);
}

/** The backfill form: this asset's partitions (an asset backfill: runs of this asset only). */
function buildBackfill(panel) {
  show(panel, backfillForm({
    target: { assetSelection: [{ path }] }, what: `asset ${pageData.assetKey}`,
    keys: partitions.keys, statuses: partitions.statuses,
    onLaunched: (id) => { window.location.href = backfillHref(id); },
    onError: (error) => showError(error, "Launch backfill"),
  }));
}

async function load() {
  try {
    const data = await gql(QUERY, { key: { path } });
    const asset = expectType(data.assetOrError, "Asset");
    renderDefinition(asset.definition);
    renderAutomation(asset.definition);
    renderPartitions(asset.definition ? data.assetPartitionStatusesOrError : null);
    renderPlots(asset.assetMaterializations);
    renderHistory(asset.assetMaterializations);
  } catch (error) {
    show($("#asset-subtitle"), h("span", { class: "empty" }, error.typename === "AssetNotFoundError" ? "No such asset." : "The asset could not be loaded."));
    showError(error, `Asset ${pageData.assetKey}`);
  }
  markUpdated();
  markReady();
}

$("#materialize-asset").addEventListener("click", async () => {
  try {
    const runId = await materialize([{ path }]);
    window.location.href = `/runs/${encodeURIComponent(runId)}`;
  } catch (error) {
    showError(error, "Materialize");
  }
});
toggleForm($("#open-backfill"), $("#backfill-panel"), buildBackfill);
load().then(() => keepFresh(load));

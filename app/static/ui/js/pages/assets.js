// /assets: the asset catalog (search, group / kind / owner filters, latest
// materialization, staleness, checks) and the lineage graph grouped by group name, with
// selection (click, + upstream, + downstream) and "materialize selected" / "stale".
import { $, h, show } from "../lib/dom.js";
import { formatAgo, shortId } from "../lib/format.js";
import { gql } from "../lib/gql.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { showError } from "../lib/notice.js";
import { hideActions, markReady } from "../lib/page.js";
import { assetHref, keyText, materialize, stalenessBadge } from "../views/assets.js";
import { drawGraph } from "../views/graph.js";

const QUERY = `{ assetNodes { assetKey { path } locationName groupName description kinds owners isExecutable
  dependencies { assetKey { path } partitionMapping { className description } }
  latestMaterialization { runId timestamp } staleness { status causes }
  assetChecks { name latestExecution { passed } } } }`;

let nodes = [];
const selected = new Set();
let graph = null;
let graphShape = "";

const graphId = (node) => `${node.groupName}.${keyText(node.assetKey)}`; // groups draw as frames

function matches(node) {
  const needle = $("#asset-search").value.trim().toLowerCase();
  if (needle && !keyText(node.assetKey).toLowerCase().includes(needle)) return false;
  if ($("#asset-group").value && node.groupName !== $("#asset-group").value) return false;
  if ($("#asset-kind").value && !node.kinds.includes($("#asset-kind").value)) return false;
  if ($("#asset-owner").value && !node.owners.includes($("#asset-owner").value)) return false;
  return true;
}

function fillSelect(select, values) {
  const chosen = select.value;
  const first = select.options[0];
  select.replaceChildren(first, ...[...new Set(values)].sort().map((v) => h("option", { value: v }, v)));
  select.value = chosen;
}

function checksCell(node) {
  if (!node.assetChecks.length) return "—";
  const failed = node.assetChecks.filter((c) => c.latestExecution && !c.latestExecution.passed).length;
  const passed = node.assetChecks.filter((c) => c.latestExecution?.passed).length;
  return h("span", { "data-checks": `${passed}/${node.assetChecks.length}` },
    failed ? h("span", { class: "badge status-bad" }, `${failed} failed`) : null, ` ${passed} of ${node.assetChecks.length} passed`);
}

function renderTable() {
  const shown = nodes.filter(matches);
  const body = $("#asset-table tbody");
  show(body, shown.length ? shown.map((node) => {
    const key = keyText(node.assetKey);
    const latest = node.latestMaterialization;
    return h("tr", { "data-asset": key },
      h("td", { "data-action": true }, h("input", { type: "checkbox", checked: selected.has(key), "aria-label": `Select ${key}`, onchange: (e) => toggle(key, e.target.checked) })),
      h("td", { class: "mono" }, h("a", { href: assetHref(node.assetKey) }, key), node.description ? h("div", { class: "log-count" }, node.description) : null),
      h("td", {}, node.groupName),
      h("td", {}, node.kinds.join(", ") || "—"),
      h("td", {}, node.owners.join(", ") || "—"),
      h("td", {}, latest ? [formatAgo(latest.timestamp), " · ", h("a", { href: `/runs/${encodeURIComponent(latest.runId)}` }, shortId(latest.runId))] : h("span", { class: "empty" }, "never")),
      h("td", {}, stalenessBadge(node.staleness)),
      h("td", {}, checksCell(node)));
  }) : h("tr", {}, h("td", { colspan: 8, class: "empty" }, nodes.length ? "No asset matches." : "No assets in the workspace.")));
  hideActions(body);
}

function renderGraph() {
  const mappingText = (dep) => (dep.partitionMapping ? `${dep.partitionMapping.className}: ${dep.partitionMapping.description}` : "");
  const shape = nodes.map((n) => `${graphId(n)}<${n.dependencies.map((d) => `${keyText(d.assetKey)}=${mappingText(d)}`).join(",")}`).join(";");
  const byKey = new Map(nodes.map((n) => [keyText(n.assetKey), n]));
  const status = (id) => {
    const node = byKey.get(id.slice(id.indexOf(".") + 1));
    return node ? { status: node.staleness.status, count: 1 } : undefined;
  };
  if (graph && shape === graphShape) { // same graph: only colors and selection change
    for (const el of graph.svg.querySelectorAll(".graph-node")) {
      const key = el.dataset.node.slice(el.dataset.node.indexOf(".") + 1);
      el.classList.toggle("picked", selected.has(key));
      el.dataset.status = byKey.get(key)?.staleness.status || "";
    }
    return;
  }
  graphShape = shape;
  // An edge carries the dependency's partition mapping, shown when it is hovered (as the
  // job graph's edges show the type of what they carry): the asset GraphQL has no type
  // for the value an asset passes on, and the mapping is what decides which upstream
  // partitions a run reads. A dependency naming no mapping gets no label.
  const edges = [];
  const edgeTypes = new Map();
  for (const node of nodes) {
    for (const dep of node.dependencies) {
      const up = byKey.get(keyText(dep.assetKey));
      if (!up) continue;
      edges.push([graphId(up), graphId(node)]);
      if (dep.partitionMapping) edgeTypes.set(`${graphId(up)}\u0000${graphId(node)}`, mappingText(dep));
    }
  }
  graph = drawGraph($("#asset-graph"), { nodes: nodes.map((n) => ({ id: graphId(n), label: graphId(n), sub: "" })), edges, edgeTypes }, {
    statusOf: status,
    noun: "assets",
    onSelect: (id) => {
      const key = id.slice(id.indexOf(".") + 1);
      toggle(key, !selected.has(key));
    },
  });
  show($("#graph-tools"), graph.tools);
  renderGraph();
}

function toggle(key, on) {
  if (on) selected.add(key);
  else selected.delete(key);
  update();
}

function update() {
  $("#selected-assets").textContent = `${selected.size} selected`;
  $("#materialize-selected").disabled = selected.size === 0;
  $("#materialize-stale").disabled = !nodes.some((n) => n.isExecutable && n.staleness.status !== "FRESH");
  renderTable();
  if (nodes.length) renderGraph();
}

/** Add every asset upstream (or downstream) of the selection to it. */
function extend(direction) {
  const deps = new Map(nodes.map((n) => [keyText(n.assetKey), n.dependencies.map((d) => keyText(d.assetKey))]));
  const next = new Map([...deps.keys()].map((k) => [k, []]));
  for (const [key, ups] of deps) for (const up of ups) next.get(up)?.push(key);
  const edges = direction === "up" ? deps : next;
  const stack = [...selected];
  while (stack.length) for (const other of edges.get(stack.pop()) || []) if (!selected.has(other)) { selected.add(other); stack.push(other); }
  update();
}

async function launch(keys, label) {
  try {
    const runId = await materialize(keys.map((k) => ({ path: k.split("/") })));
    window.location.href = `/runs/${encodeURIComponent(runId)}`;
  } catch (error) {
    showError(error, label);
  }
}

async function load() {
  try {
    nodes = (await gql(QUERY)).assetNodes;
    $("#assets-subtitle").textContent = `${nodes.length} assets in ${new Set(nodes.map((n) => n.groupName)).size} groups`;
    fillSelect($("#asset-group"), nodes.map((n) => n.groupName));
    fillSelect($("#asset-kind"), nodes.flatMap((n) => n.kinds));
    fillSelect($("#asset-owner"), nodes.flatMap((n) => n.owners));
    if (!nodes.length) show($("#asset-graph"), h("p", { class: "empty" }, "No assets."));
    update();
  } catch (error) {
    show($("#asset-table tbody"), h("tr", {}, h("td", { colspan: 8, class: "empty" }, "The assets could not be loaded.")));
    showError(error, "Assets");
  }
  markUpdated();
  markReady();
}

for (const id of ["#asset-search", "#asset-group", "#asset-kind", "#asset-owner"]) $(id).addEventListener("input", renderTable);
$("#asset-filter").addEventListener("submit", (e) => e.preventDefault());
$("#select-upstream").addEventListener("click", () => extend("up"));
$("#select-downstream").addEventListener("click", () => extend("down"));
$("#materialize-selected").addEventListener("click", () => launch([...selected], "Materialize selected"));
$("#materialize-stale").addEventListener("click", () => launch(nodes.filter((n) => n.isExecutable && n.staleness.status !== "FRESH").map((n) => keyText(n.assetKey)), "Materialize stale"));
load().then(() => keepFresh(load)); // a materialization is a run: read again when runs change

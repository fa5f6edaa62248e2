// /assets: the asset catalog (search, group / kind / owner filters, latest
// materialization, staleness, checks) and the lineage graph grouped by group name, with
// selection (click, + upstream, + downstream) and "materialize selected" / "stale".
//
// The catalog is read a page at a time, filtered on the server (assetCatalogOrError): with
// 10,000 assets, reading them all took seconds. The lineage draws every asset up to
// GRAPH_MAX of them; above that it draws the groups (an asset count each, an edge where
// a group reads from another), and a group picked (click it, or the group filter) draws
// that group's assets. The filters live in the address (?group=...), so a group's page
// can be linked.
import { $, h, show } from "../lib/dom.js";
import { formatAgo, shortId } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { showError } from "../lib/notice.js";
import { hideActions, markReady } from "../lib/page.js";
import { assetHref, keyText, materialize, stalenessBadge } from "../views/assets.js";
import { drawGraph } from "../views/graph.js";

const PAGE_SIZE = 100;
const GRAPH_MAX = 300; // dagre lays out a few hundred nodes in well under 300 ms
const DEPENDENCIES = "dependencies { assetKey { path } partitionMapping { className description } }";
const CATALOG = `query($search: String, $group: String, $kind: String, $owner: String, $offset: Int, $limit: Int) {
  assetCatalogOrError(search: $search, group: $group, kind: $kind, owner: $owner, offset: $offset, limit: $limit) {
    ${ERROR_FIELDS} ... on AssetCatalogPage { total assetCount offset groups { name assetCount upstreamGroups } kinds owners
      nodes { assetKey { path } locationName groupName description kinds owners isExecutable ${DEPENDENCIES}
        latestMaterialization { runId timestamp } staleness { status causes }
        assetChecks { name latestExecution { passed } } } } } }`;
const GRAPH = `query($group: String) { assetNodes(group: $group) { assetKey { path } groupName isExecutable ${DEPENDENCIES}
  staleness { status causes } } }`;
const FILTERS = { search: "#asset-search", group: "#asset-group", kind: "#asset-kind", owner: "#asset-owner" };

let catalog = null; // the last page's answer
let nodes = []; // the table's assets (this page)
let graphNodes = []; // the assets the lineage draws (none while it draws groups)
let offset = 0;
const selected = new Set();
let graph = null;
let graphShape = "";

// Assets of several groups draw in a frame per group (an id "group.key"); one group's
// draw without one (a compound layout cost dagre about twice the time).
let framed = true;
const graphId = (node) => (framed ? `${node.groupName}.${keyText(node.assetKey)}` : keyText(node.assetKey));
const keyOfId = (id) => (framed ? id.slice(id.indexOf(".") + 1) : id);

function filters() {
  const values = {};
  for (const [name, selector] of Object.entries(FILTERS)) values[name] = $(selector).value.trim() || null;
  return values;
}

/** The filters into the address, so that reloading or sharing keeps them. */
function keepInAddress() {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters())) if (value) params.set(name, value);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

/** Every asset known here (the page's and the lineage's), by key. */
function known() {
  return new Map([...graphNodes, ...nodes].map((n) => [keyText(n.assetKey), n]));
}

function fillSelect(select, values, chosen = select.value) {
  const first = select.options[0];
  select.replaceChildren(first, ...[...new Set([...values, ...(chosen ? [chosen] : [])])].sort().map((v) => h("option", { value: v }, v)));
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
  const shown = nodes;
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
  }) : h("tr", {}, h("td", { colspan: 8, class: "empty" }, catalog?.assetCount ? "No asset matches." : "No assets in the workspace.")));
  hideActions(body);
  const total = catalog?.total || 0;
  $("#asset-page-info").textContent = total ? `${offset + 1}–${offset + shown.length} of ${total.toLocaleString("en")}` : "";
  $("#asset-prev").disabled = offset === 0;
  $("#asset-next").disabled = offset + shown.length >= total;
}

/** The lineage of groups (a catalog too big to draw asset by asset): click one to draw it. */
function renderGroups() {
  const shape = `groups:${catalog.groups.map((g) => `${g.name}=${g.assetCount}<${g.upstreamGroups.join(",")}`).join(";")}`;
  if (graph && shape === graphShape) return;
  graphShape = shape;
  const edges = catalog.groups.flatMap((g) => g.upstreamGroups.map((up) => [up, g.name]));
  graph = drawGraph($("#asset-graph"), { nodes: catalog.groups.map((g) => ({ id: g.name, label: g.name, sub: `${g.assetCount.toLocaleString("en")} assets` })), edges }, {
    noun: "groups",
    onSelect: (name) => {
      $("#asset-group").value = name;
      refilter();
    },
  });
  $("#asset-graph svg").dataset.level = "groups";
  show($("#graph-tools"), graph.tools);
}

function renderGraph() {
  if (!graphNodes.length && catalog?.groups.length) {
    renderGroups();
    return;
  }
  const nodes = graphNodes;
  framed = new Set(nodes.map((n) => n.groupName)).size > 1;
  const mappingText = (dep) => (dep.partitionMapping ? `${dep.partitionMapping.className}: ${dep.partitionMapping.description}` : "");
  const shape = nodes.map((n) => `${graphId(n)}<${n.dependencies.map((d) => `${keyText(d.assetKey)}=${mappingText(d)}`).join(",")}`).join(";");
  const byKey = new Map(nodes.map((n) => [keyText(n.assetKey), n]));
  const status = (id) => {
    const node = byKey.get(keyOfId(id));
    return node ? { status: node.staleness.status, count: 1 } : undefined;
  };
  if (graph && shape === graphShape) { // same graph: only colors and selection change
    for (const el of graph.svg.querySelectorAll(".graph-node")) {
      const key = keyOfId(el.dataset.node);
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
      const key = keyOfId(id);
      toggle(key, !selected.has(key));
    },
  });
  $("#asset-graph svg").dataset.level = "assets";
  show($("#graph-tools"), graph.tools);
  renderGraph();
}

function toggle(key, on) {
  if (on) selected.add(key);
  else selected.delete(key);
  update();
}

const staleKeys = () => [...known().values()].filter((n) => n.isExecutable && n.staleness.status !== "FRESH").map((n) => keyText(n.assetKey));

function update() {
  $("#selected-assets").textContent = `${selected.size} selected`;
  $("#materialize-selected").disabled = selected.size === 0;
  $("#materialize-stale").disabled = staleKeys().length === 0;
  renderTable();
  if (catalog?.assetCount) renderGraph();
}

/** Add every asset upstream (or downstream) of the selection to it (of those known here:
 * every asset, or the group drawn, and the table's page). */
function extend(direction) {
  const deps = new Map([...known()].map(([key, n]) => [key, n.dependencies.map((d) => keyText(d.assetKey))]));
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

async function loadCatalog() {
  const answer = await gql(CATALOG, { ...filters(), offset, limit: PAGE_SIZE });
  catalog = expectType(answer.assetCatalogOrError, "AssetCatalogPage");
  nodes = catalog.nodes;
  $("#assets-subtitle").textContent = `${catalog.assetCount.toLocaleString("en")} assets in ${catalog.groups.length} groups`;
  const chosen = filters();
  fillSelect($("#asset-group"), catalog.groups.map((g) => g.name), chosen.group || "");
  fillSelect($("#asset-kind"), catalog.kinds, chosen.kind || "");
  fillSelect($("#asset-owner"), catalog.owners, chosen.owner || "");
}

/** Every asset when there are few; the chosen group's when there are many; else none
 * (the lineage then draws the groups). `early` is the chosen group's, asked for beside
 * the catalog before its size was known. */
async function loadGraph(early = null) {
  const group = filters().group;
  const few = catalog.assetCount <= GRAPH_MAX;
  $("#lineage-hint").textContent = few || group
    ? "Grouped by group name; click an asset to select it."
    : `${catalog.assetCount.toLocaleString("en")} assets are too many to draw one by one: click a group (or pick one above) to draw its assets.`;
  if (!few && !group) graphNodes = [];
  else graphNodes = (await (few ? gql(GRAPH, { group: null }) : early || gql(GRAPH, { group }))).assetNodes;
}

async function load() {
  try {
    // A group in the address: its lineage is read beside the catalog (most pages that
    // name a group are of a catalog too big to draw whole).
    const group = filters().group;
    const early = group ? gql(GRAPH, { group }) : null;
    early?.catch(() => {}); // awaited (and its error shown) below, if it is used
    await loadCatalog();
    await loadGraph(early);
    if (!catalog.assetCount) show($("#asset-graph"), h("p", { class: "empty" }, "No assets."));
    update();
  } catch (error) {
    show($("#asset-table tbody"), h("tr", {}, h("td", { colspan: 8, class: "empty" }, "The assets could not be loaded.")));
    showError(error, "Assets");
  }
  markUpdated();
  markReady();
}

let asked = 0; // answers to older filters are dropped
async function refilter({ toFirstPage = true } = {}) {
  if (toFirstPage) offset = 0;
  keepInAddress();
  const mine = ++asked;
  try {
    const graphBefore = graphNodes.length ? graphNodes[0].groupName : null;
    await loadCatalog();
    if (mine !== asked) return;
    const group = filters().group;
    if (catalog.assetCount > GRAPH_MAX && group !== graphBefore) await loadGraph();
    if (mine === asked) update();
  } catch (error) {
    showError(error, "Assets");
  }
}

const params = new URLSearchParams(window.location.search);
for (const [name, selector] of Object.entries(FILTERS)) {
  const given = params.get(name);
  if (given && selector !== FILTERS.search) $(selector).append(h("option", { value: given }, given));
  if (given) $(selector).value = given;
}
let typing = null;
$("#asset-search").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(refilter, 150); // one request per pause, not per key
});
for (const id of ["#asset-group", "#asset-kind", "#asset-owner"]) $(id).addEventListener("input", () => refilter());
$("#asset-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); refilter({ toFirstPage: false }); });
$("#asset-next").addEventListener("click", () => { offset += PAGE_SIZE; refilter({ toFirstPage: false }); });
$("#asset-filter").addEventListener("submit", (e) => e.preventDefault());
$("#select-upstream").addEventListener("click", () => extend("up"));
$("#select-downstream").addEventListener("click", () => extend("down"));
$("#materialize-selected").addEventListener("click", () => launch([...selected], "Materialize selected"));
$("#materialize-stale").addEventListener("click", () => launch(staleKeys(), "Materialize stale"));
load().then(() => keepFresh(load)); // a materialization is a run: read again when runs change

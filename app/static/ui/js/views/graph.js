// An op graph as an SVG drawing, laid out as a layered DAG by dagre (vendored in
// app/static/vendor/dagre). Nodes are ops (by handle), edges go from upstream to downstream.
import { clear, h, s } from "../lib/dom.js";
import { statusClass } from "../lib/format.js";

const NODE_HEIGHT = 38;
const CHAR_WIDTH = 7.2;
const GROUP_HEAD = 22;

/**
 * Nodes and edges of a job's ops (workspace `ops { handle opName inputs { upstream { handle output } }
 * outputs { name dagsterType } }`). `edgeTypes` maps "from\0to" to what the edge carries
 * ("output: Type", one line per output), shown when the edge is hovered, as Dagster does.
 */
export function graphOfOps(ops) {
  const handles = new Set(ops.map((op) => op.handle));
  const typeOf = new Map();
  for (const op of ops) for (const out of op.outputs || []) typeOf.set(`${op.handle}\u0000${out.name}`, out.dagsterType);
  const edges = new Map();
  for (const op of ops) {
    for (const input of op.inputs) {
      for (const up of input.upstream) {
        if (!handles.has(up.handle) || up.handle === op.handle) continue;
        const key = `${up.handle}\u0000${op.handle}`;
        if (!edges.has(key)) edges.set(key, new Set());
        const type = typeOf.get(`${up.handle}\u0000${up.output}`);
        edges.get(key).add(type ? `${up.output}: ${type}` : up.output);
      }
    }
  }
  return {
    nodes: ops.map((op) => ({ id: op.handle, label: op.handle, sub: op.opName !== op.handle.split(".").at(-1) ? op.opName : "" })),
    edges: [...edges.keys()].map((pair) => pair.split("\u0000")),
    edgeTypes: new Map([...edges].map(([key, carried]) => [key, [...carried].join("\n")])),
  };
}

/** Every group (nested graph) a handle is inside: "a.b.op" -> ["a", "a.b"]. */
function groupsOf(id) {
  const parts = id.split(".");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("."));
}

/**
 * What is drawn, given the collapsed groups: ops of an open group sit inside its frame; a
 * collapsed group is one node standing for its ops (edges to them go to it).
 */
function visibleGraph(nodes, edges, collapsed) {
  const shownAs = (id) => groupsOf(id).find((group) => collapsed.has(group)) || id;
  const shown = new Map();
  const groups = new Map(); // open group id -> {id, label, count}
  for (const node of nodes) {
    const as = shownAs(node.id);
    if (as === node.id) shown.set(node.id, { ...node, parent: groupsOf(node.id).at(-1) || null });
    else if (!shown.has(as)) shown.set(as, { id: as, label: as.split(".").at(-1), sub: "", group: true, collapsed: true, parent: groupsOf(as).at(-1) || null, count: 0 });
    if (as !== node.id) shown.get(as).count += 1;
    for (const group of groupsOf(as === node.id ? node.id : as)) {
      if (!groups.has(group)) groups.set(group, { id: group, label: group.split(".").at(-1), parent: groupsOf(group).at(-1) || null, count: 0 });
    }
    for (const group of groupsOf(node.id)) if (groups.has(group)) groups.get(group).count += 1;
  }
  const pairs = new Set();
  for (const [from, to] of edges) {
    const a = shownAs(from);
    const b = shownAs(to);
    if (a !== b) pairs.add(`${a}\u0000${b}`);
  }
  return { shown: [...shown.values()], groups: [...groups.values()], edges: [...pairs].map((p) => p.split("\u0000")) };
}

const LARGE_GRAPH = 100;

function layout(shown, groups, edges, rankdir) {
  const g = new window.dagre.graphlib.Graph({ compound: groups.length > 0 });
  // A group's frame is drawn GROUP_HEAD above its ops (for its name): more room between nodes.
  // dagre keeps two frames that share a rank apart by edgesep only (their borders are dummy
  // nodes), so with groups edgesep must leave room for the lower frame's raised head too.
  const spaced = groups.length > 0;
  // dagre's default ranker (network simplex) laid out a 200-node tree in 50-120 ms in
  // headless Chromium, "longest-path" in 23-29 ms (same ranks for a tree; longer edges
  // elsewhere): above LARGE_GRAPH nodes the page's data-shown time matters more.
  const ranker = shown.length > LARGE_GRAPH ? "longest-path" : "network-simplex";
  g.setGraph({ rankdir, ranker, nodesep: spaced ? GROUP_HEAD + 14 : 14, ranksep: 46, edgesep: spaced ? GROUP_HEAD + 12 : 8, marginx: 12, marginy: spaced ? GROUP_HEAD + 12 : 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const group of groups) g.setNode(group.id, { label: group.label });
  for (const group of groups) if (group.parent) g.setParent(group.id, group.parent);
  for (const node of shown) {
    const label = node.collapsed ? `▸ ${node.label}` : node.label;
    const chars = Math.max(label.length, (node.sub || "").length + 2, 10);
    g.setNode(node.id, { width: Math.min(300, chars * CHAR_WIDTH + 28), height: NODE_HEIGHT });
    if (node.parent) g.setParent(node.id, node.parent);
  }
  for (const [from, to] of edges) g.setEdge(from, to);
  window.dagre.layout(g);
  return g;
}

/**
 * Draw the graph into `frame`. `statusOf(id)` -> {status, count} | undefined colors nodes;
 * `onSelect(id)` is called when a node is clicked. Nested graphs (handles "graph.op") are
 * frames that fold into one node and open again on a click. Returns {svg, tools, select(id)}.
 */
export function drawGraph(frame, { nodes, edges, edgeTypes = new Map() }, { statusOf = () => undefined, onSelect = () => {}, rankdir = "LR", noun = "ops" } = {}) {
  if (!window.dagre) throw new Error("the graph layout library (dagre) did not load");
  const collapsed = new Set();
  let scale = null;
  let selected = null;
  let width = 0;
  let height = 0;
  let nodeEls = new Map();
  const svg = s("svg", { class: "op-graph", role: "img", "aria-label": "Op graph", "data-nodes": nodes.length, "data-edges": edges.length });

  function render() {
    const view = visibleGraph(nodes, edges, collapsed);
    const g = layout(view.shown, view.groups, view.edges, rankdir);
    ({ width, height } = g.graph());
    if (scale === null) scale = Math.min(1, Math.max(0.35, (frame.clientWidth - 4) / width));
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.dataset.groups = String(view.groups.length + view.shown.filter((n) => n.group).length);
    svg.replaceChildren(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "graph-arrow" }))));
    for (const group of view.groups) {
      const box = g.node(group.id);
      if (!box || box.width === undefined) continue;
      const depth = groupsOf(group.id).length; // an inner frame's head sits below its parent's
      const x = box.x - box.width / 2;
      const y = box.y - box.height / 2 - GROUP_HEAD * (1 - depth * 0.5);
      const el = s("g", { class: "graph-group", "data-group": group.id, tabindex: 0, role: "button" },
        s("title", {}, `graph ${group.id}: ${group.count} ops; click to fold`),
        s("rect", { x, y, width: box.width, height: box.height + (box.y - box.height / 2 - y), rx: 8, class: "group-box" }),
        s("text", { x: x + 10, y: y + 16, class: "group-label" }, `▾ ${group.label}`));
      el.addEventListener("click", () => { collapsed.add(group.id); render(); });
      svg.append(el);
    }
    for (const edge of g.edges()) {
      const points = g.edge(edge).points;
      const d = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
      const carried = edgeTypes.get(`${edge.v}\u0000${edge.w}`);
      const label = carried && `${edge.v} → ${edge.w}\n${carried}`;
      const path = s("path", { d, class: "graph-edge", "marker-end": "url(#arrow)", "data-from": edge.v, "data-to": edge.w, "data-type": carried }, carried && s("title", {}, label));
      // A wider, invisible twin of the edge, so that hovering near a 1.5px line shows its type.
      if (carried) svg.append(s("path", { d, class: "graph-edge-hit", "aria-label": label }, s("title", {}, label)));
      svg.append(path);
    }
    nodeEls = new Map();
    for (const node of view.shown) {
      const box = g.node(node.id);
      const x = box.x - box.width / 2;
      const y = box.y - box.height / 2;
      if (node.collapsed) {
        const el = s("g", { class: "graph-folded", "data-group": node.id, tabindex: 0, role: "button" },
          s("title", {}, `graph ${node.id}: ${node.count} ops; click to open`),
          s("rect", { x, y, width: box.width, height: box.height, rx: 5, class: "node-box group-node" }),
          s("text", { x: x + 12, y: y + 16, class: "node-label" }, `▸ ${node.label}`),
          s("text", { x: x + 12, y: y + 30, class: "node-sub" }, `graph · ${node.count} ops`));
        el.addEventListener("click", () => { collapsed.delete(node.id); render(); });
        svg.append(el);
        continue;
      }
      const state = statusOf(node.id);
      const sub = state ? `${state.status}${state.count > 1 ? ` ×${state.count}` : ""}` : node.sub;
      const label = node.label.split(".").at(-1);
      const el = s("g", { class: "graph-node", "data-node": node.id, "data-status": state?.status || "", tabindex: 0, role: "button" },
        s("title", {}, [node.id, node.sub && `op ${node.sub}`, state && `status ${state.status}`].filter(Boolean).join("\n")),
        s("rect", { x, y, width: box.width, height: box.height, rx: 5, class: "node-box" }),
        s("rect", { x, y, width: 5, height: box.height, rx: 2, class: ["node-stripe", state ? statusClass(state.status).replace("status-", "fill-") : "fill-muted"] }),
        s("text", { x: x + 12, y: y + (sub ? 16 : 23), class: "node-label" }, label.length > 40 ? `${label.slice(0, 39)}…` : label),
        s("text", { x: x + 12, y: y + 30, class: "node-sub" }, sub || ""));
      el.addEventListener("click", () => select(node.id, true));
      el.addEventListener("keydown", (event) => { if (event.key === "Enter") select(node.id, true); });
      nodeEls.set(node.id, el);
      svg.append(el);
    }
    if (selected) nodeEls.get(selected)?.classList.add("selected");
    applyScale();
  }

  function applyScale() {
    svg.setAttribute("width", String(Math.round(width * scale)));
    svg.setAttribute("height", String(Math.round(height * scale)));
    zoomLabel.textContent = `${Math.round(scale * 100)}%`;
  }
  function select(id, notify) {
    if (selected) nodeEls.get(selected)?.classList.remove("selected");
    selected = id;
    if (id) nodeEls.get(id)?.classList.add("selected");
    if (notify) onSelect(id);
  }
  const zoomLabel = h("span", { class: "log-count" });
  const tools = h("div", { class: "graph-tools" },
    h("button", { type: "button", class: "button-small", title: "Zoom out", onclick: () => { scale = Math.max(0.2, scale / 1.25); applyScale(); } }, "−"),
    zoomLabel,
    h("button", { type: "button", class: "button-small", title: "Zoom in", onclick: () => { scale = Math.min(2, scale * 1.25); applyScale(); } }, "+"),
    h("button", { type: "button", class: "button-small", onclick: () => { scale = Math.min(1, (frame.clientWidth - 4) / width); applyScale(); } }, "Fit"),
    h("span", { class: "log-count" }, `${nodes.length} ${noun}`));
  render();
  clear(frame);
  frame.append(svg);
  return { svg, tools, select: (id) => select(id, false) };
}

// An op graph as an SVG drawing, laid out as a layered DAG by dagre (vendored in
// app/static/vendor/dagre). Nodes are ops (by handle), edges go from upstream to downstream.
import { clear, h, s } from "../lib/dom.js";
import { statusClass } from "../lib/format.js";

const NODE_HEIGHT = 38;
const CHAR_WIDTH = 7.2;

/** Nodes and edges of a job's ops (workspace `ops { handle opName inputs { upstream { handle } } }`). */
export function graphOfOps(ops) {
  const handles = new Set(ops.map((op) => op.handle));
  const edges = new Set();
  for (const op of ops) {
    for (const input of op.inputs) {
      for (const up of input.upstream) {
        if (handles.has(up.handle) && up.handle !== op.handle) edges.add(`${up.handle}\u0000${op.handle}`);
      }
    }
  }
  return {
    nodes: ops.map((op) => ({ id: op.handle, label: op.handle, sub: op.opName !== op.handle.split(".").at(-1) ? op.opName : "" })),
    edges: [...edges].map((pair) => pair.split("\u0000")),
  };
}

function layout(nodes, edges, rankdir) {
  const g = new window.dagre.graphlib.Graph();
  g.setGraph({ rankdir, nodesep: 14, ranksep: 46, edgesep: 8, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    const chars = Math.max(node.label.length, (node.sub || "").length + 2, 10);
    g.setNode(node.id, { width: Math.min(300, chars * CHAR_WIDTH + 28), height: NODE_HEIGHT });
  }
  for (const [from, to] of edges) g.setEdge(from, to);
  window.dagre.layout(g);
  return g;
}

/**
 * Draw the graph into `frame`. `statusOf(id)` -> {status, count} | undefined colors nodes;
 * `onSelect(id)` is called when a node is clicked. Returns {select(id), redraw()}.
 */
export function drawGraph(frame, { nodes, edges }, { statusOf = () => undefined, onSelect = () => {}, rankdir = "LR" } = {}) {
  if (!window.dagre) throw new Error("the graph layout library (dagre) did not load");
  const g = layout(nodes, edges, rankdir);
  const { width, height } = g.graph();
  let scale = Math.min(1, Math.max(0.35, (frame.clientWidth - 4) / width));
  let selected = null;
  const byId = new Map(nodes.map((node) => [node.id, node]));

  const svg = s("svg", { class: "op-graph", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Op graph", "data-nodes": nodes.length, "data-edges": edges.length });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "graph-arrow" }))));
  for (const edge of g.edges()) {
    const points = g.edge(edge).points;
    const d = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    svg.append(s("path", { d, class: "graph-edge", "marker-end": "url(#arrow)", "data-from": edge.v, "data-to": edge.w }));
  }
  const nodeEls = new Map();
  for (const id of g.nodes()) {
    const box = g.node(id);
    const node = byId.get(id);
    const state = statusOf(id);
    const x = box.x - box.width / 2;
    const y = box.y - box.height / 2;
    const sub = state ? `${state.status}${state.count > 1 ? ` ×${state.count}` : ""}` : node.sub;
    const el = s("g", { class: "graph-node", "data-node": id, "data-status": state?.status || "", tabindex: 0, role: "button" },
      s("title", {}, [id, node.sub && `op ${node.sub}`, state && `status ${state.status}`].filter(Boolean).join("\n")),
      s("rect", { x, y, width: box.width, height: box.height, rx: 5, class: "node-box" }),
      s("rect", { x, y, width: 5, height: box.height, rx: 2, class: ["node-stripe", state ? statusClass(state.status).replace("status-", "fill-") : "fill-muted"] }),
      s("text", { x: x + 12, y: y + (sub ? 16 : 23), class: "node-label" }, node.label.length > 40 ? `${node.label.slice(0, 39)}…` : node.label),
      s("text", { x: x + 12, y: y + 30, class: "node-sub" }, sub || ""));
    el.addEventListener("click", () => select(id, true));
    el.addEventListener("keydown", (event) => { if (event.key === "Enter") select(id, true); });
    nodeEls.set(id, el);
    svg.append(el);
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
    h("span", { class: "log-count" }, `${nodes.length} ops`));
  applyScale();
  clear(frame);
  frame.append(svg);
  return { svg, tools, select: (id) => select(id, false) };
}

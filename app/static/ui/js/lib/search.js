// The global search (Ctrl-K, or "/" outside a text field): jobs, schedules, sensors and
// assets of the workspace by part of their name, and a run by its id. The workspace's names are read
// once, when the search first opens; a run id is looked up as it is typed.
import { $, h, show } from "./dom.js";
import { gql } from "./gql.js";
import { statusBadge } from "./format.js";

const NAMES = `{ workspaceOrError { __typename ... on Workspace { locationEntries { name
  jobs { name } schedules { name } sensors { name } } } }
  assetNodes { assetKey { path } locationName } }`;
const RUN = `query($id: String!) { runOrError(runId: $id) { __typename ... on Run { runId jobName status } } }`;
const MAX_SHOWN = 12;

let entries = null; // a promise of [{kind, name, location, href}], shared by every keystroke
let active = 0;
let generation = 0; // the latest keystroke's number: an answer for an older one is dropped

function loadEntries() {
  // One read for all keystrokes typed while it is in flight; a failed read is tried again.
  entries ??= readEntries().catch((error) => { entries = null; throw error; });
  return entries;
}

async function readEntries() {
  const data = await gql(NAMES);
  const list = [];
  if (data.workspaceOrError.__typename !== "Workspace") return list;
  for (const loc of data.workspaceOrError.locationEntries) {
    const at = (kind, plural, name) => ({ kind, name, location: loc.name, href: `/${plural}/${encodeURIComponent(loc.name)}/${encodeURIComponent(name)}` });
    for (const job of loc.jobs) list.push(at("job", "jobs", job.name));
    for (const item of loc.schedules) list.push(at("schedule", "schedules", item.name));
    for (const item of loc.sensors) list.push(at("sensor", "sensors", item.name));
  }
  for (const node of data.assetNodes || []) {
    list.push({ kind: "asset", name: node.assetKey.path.join("/"), location: node.locationName, href: `/assets/${node.assetKey.path.map(encodeURIComponent).join("/")}` });
  }
  return list;
}

function rank(entry, needle) {
  const name = entry.name.toLowerCase();
  if (name === needle) return 0;
  if (name.startsWith(needle)) return 1;
  return name.includes(needle) ? 2 : -1;
}

function results() {
  return [...$("#search-results").querySelectorAll("a")];
}

function highlight(index) {
  const links = results();
  active = Math.max(0, Math.min(index, links.length - 1));
  links.forEach((link, i) => link.classList.toggle("active", i === active));
  links[active]?.scrollIntoView({ block: "nearest" });
}

function row(kind, label, href, extra = null) {
  return h("li", {}, h("a", { href, "data-kind": kind }, h("span", { class: "search-kind" }, kind), " ", label, extra ? [" ", extra] : null));
}

async function update(text) {
  const mine = ++generation;
  const needle = text.trim().toLowerCase();
  const all = await loadEntries();
  if (mine !== generation) return; // a later keystroke owns the list now
  const found = needle
    ? all.map((e) => [rank(e, needle), e]).filter(([r]) => r >= 0).sort((a, b) => a[0] - b[0] || a[1].name.localeCompare(b[1].name)).slice(0, MAX_SHOWN).map(([, e]) => e)
    : all.slice(0, MAX_SHOWN);
  const rows = found.map((e) => row(e.kind, e.name, e.href, h("span", { class: "log-count" }, e.location)));
  if (needle) rows.push(row("runs", `runs of jobs matching "${text.trim()}"`, `/runs?job=${encodeURIComponent(text.trim())}`));
  show($("#search-results"), rows);
  highlight(0);
  // A run id (or one being pasted): ask for it, and put it first when it exists.
  const id = text.trim();
  if (id.length >= 8 && /^[\w-]+$/.test(id)) {
    try {
      const run = (await gql(RUN, { id })).runOrError;
      if (mine !== generation || run.__typename !== "Run") return;
      $("#search-results").prepend(row("run", `${run.runId} (${run.jobName})`, `/runs/${encodeURIComponent(run.runId)}`, statusBadge(run.status)));
      highlight(0);
    } catch {
      // not a run: the names above stand
    }
  }
}

function open() {
  const dialog = $("#search-dialog");
  if (dialog.open) return;
  dialog.showModal();
  $("#search-input").value = "";
  update("").catch(() => show($("#search-results"), h("li", { class: "empty" }, "The workspace could not be read.")));
}

export function wireSearch() {
  const dialog = $("#search-dialog");
  if (!dialog) return;
  $("#search-button")?.addEventListener("click", open);
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLElement && (event.target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName));
    if ((event.key === "k" && (event.ctrlKey || event.metaKey)) || (event.key === "/" && !typing)) {
      event.preventDefault();
      open();
    }
  });
  const input = $("#search-input");
  input.addEventListener("input", () => update(input.value));
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
    if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
    if (event.key === "Enter") {
      event.preventDefault();
      const link = results()[active];
      if (link) window.location.href = link.href;
    }
  });
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
}

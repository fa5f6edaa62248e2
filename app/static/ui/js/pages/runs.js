// /runs: filtered, cursor-paged run table with bulk cancel / re-execute / delete.
import { $, $$, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, launchedBy, runDuration, shortId, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError, showInfo } from "../lib/notice.js";
import { confirmAction, hideActions, markReady } from "../lib/page.js";

const RUNS = `query Runs($filter: RunsFilter, $cursor: String, $limit: Int) {
  runsOrError(filter: $filter, cursor: $cursor, limit: $limit) {
    ${ERROR_FIELDS}
    ... on Runs { cursor hasMore count results { runId jobName status locationName parentRunId
      createdAt startTime endTime canTerminate tags { key value } } }
  }
}`;
const TERMINATE = `mutation($ids: [String!]!) { terminateRuns(runIds: $ids) { ${ERROR_FIELDS}
  ... on TerminateRunsSuccess { terminateRunResults { ${ERROR_FIELDS} } } } }`;
const REEXECUTE = `mutation($id: String!) { launchRunReexecution(parentRunId: $id, strategy: ALL_STEPS) {
  ${ERROR_FIELDS} ... on LaunchRunSuccess { run { runId } } } }`;
const DELETE = `mutation($id: String!) { deleteRun(runId: $id) { ${ERROR_FIELDS} } }`;
const FINISHED = new Set(["SUCCESS", "FAILURE", "CANCELED"]);

const form = $("#runs-filter");
const cursors = []; // cursors of the pages before this one (null = first page)
let cursor = null;
let page = [];
const selected = new Set();

/** Filter from the URL (?status=FAILURE,STARTED&job=x&tag=k=v&after=2026-11-01&before=...). */
function filterFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const statuses = (params.get("status") || "").split(",").filter(Boolean);
  for (const box of $$("input[name=status]", form)) box.checked = statuses.includes(box.value);
  for (const name of ["job", "tag", "after", "before"]) form.elements[name].value = params.get(name) || "";
  form.elements.limit.value = params.get("limit") || "50";
  const filter = {};
  if (statuses.length) filter.statuses = statuses;
  if (params.get("job")) filter.jobName = params.get("job");
  const tag = params.get("tag");
  if (tag) {
    const at = tag.indexOf("=");
    if (at < 1) throw new Error(`tag filter: expected key=value, got "${tag}"`);
    filter.tags = [{ key: tag.slice(0, at), value: tag.slice(at + 1) }];
  }
  const day = (value, end) => (value ? new Date(`${value}T${end ? "23:59:59.999" : "00:00:00"}`).getTime() / 1000 : null);
  if (params.get("after")) filter.createdAfter = day(params.get("after"), false);
  if (params.get("before")) filter.createdBefore = day(params.get("before"), true);
  return { filter, limit: Number(form.elements.limit.value) };
}

function urlFromForm() {
  const params = new URLSearchParams();
  const statuses = $$("input[name=status]:checked", form).map((box) => box.value);
  if (statuses.length) params.set("status", statuses.join(","));
  for (const name of ["job", "tag", "after", "before"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  if (form.elements.limit.value !== "50") params.set("limit", form.elements.limit.value);
  const query = params.toString();
  return query ? `?${query}` : window.location.pathname;
}

async function load() {
  let request;
  try {
    request = filterFromUrl();
  } catch (error) {
    showError(error, "Filter");
    markReady();
    return;
  }
  try {
    const data = await gql(RUNS, { filter: request.filter, cursor, limit: request.limit });
    const runs = expectType(data.runsOrError, "Runs");
    page = runs.results;
    render(runs);
  } catch (error) {
    show($("#runs-table tbody"), h("tr", {}, h("td", { colspan: 9, class: "empty" }, "Runs could not be loaded.")));
    showError(error, "Loading runs");
  }
  markReady();
}

function render(runs) {
  selected.clear();
  updateSelection();
  $("#runs-count").textContent = `${runs.count.toLocaleString()} runs match`;
  const pageNumber = cursors.length + 1;
  $("#page-info").textContent = `page ${pageNumber} · ${runs.results.length} runs shown`;
  $("#first-page").disabled = cursors.length === 0;
  $("#prev-page").disabled = cursors.length === 0;
  $("#next-page").disabled = !runs.hasMore;
  $("#next-page").onclick = () => { cursors.push(cursor); cursor = runs.cursor; load(); };
  const body = $("#runs-table tbody");
  if (!runs.results.length) {
    show(body, h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No runs match.")));
    return;
  }
  show(body, runs.results.map((run) => h("tr", { "data-run-id": run.runId },
    h("td", { "data-action": true }, h("input", { type: "checkbox", class: "select-run", "aria-label": `Select run ${run.runId}`, onchange: (e) => { toggle(run.runId, e.target.checked); } })),
    h("td", { class: "mono" }, h("a", { href: `/runs/${encodeURIComponent(run.runId)}`, title: run.runId }, shortId(run.runId))),
    h("td", {}, statusBadge(run.status)),
    h("td", {}, run.locationName ? h("a", { href: `/jobs/${encodeURIComponent(run.locationName)}/${encodeURIComponent(run.jobName)}` }, run.jobName) : run.jobName),
    h("td", {}, formatTime(run.createdAt)),
    h("td", {}, formatTime(run.startTime)),
    h("td", { class: "num" }, formatDuration(runDuration(run))),
    h("td", {}, launchedBy(run)),
    h("td", {}, tagChips(run.tags.filter((t) => !t.key.startsWith("opgraph/run_worker")))))));
  hideActions(body);
}

function toggle(runId, on) {
  if (on) selected.add(runId);
  else selected.delete(runId);
  updateSelection();
}

function updateSelection() {
  const runs = page.filter((run) => selected.has(run.runId));
  $("#selected-count").textContent = `${selected.size} selected`;
  $("#bulk-cancel").disabled = !runs.some((run) => run.canTerminate);
  $("#bulk-reexecute").disabled = !runs.some((run) => FINISHED.has(run.status));
  $("#bulk-delete").disabled = !runs.some((run) => FINISHED.has(run.status));
  $("#select-all").checked = page.length > 0 && selected.size === page.length;
}

/** Run `one(runId)` for each run; list every failure, then reload the page. */
async function bulk(label, runIds, one) {
  const failures = [];
  for (const runId of runIds) {
    try {
      await one(runId);
    } catch (error) {
      failures.push(`${runId}: ${error.message}`);
    }
  }
  if (failures.length) showError({ message: `${failures.length} of ${runIds.length} failed`, details: failures.join("\n") }, label);
  else showInfo(`${label}: done for ${runIds.length} run(s).`);
  load();
}

function wireBulk() {
  $("#select-all").addEventListener("change", (e) => {
    for (const box of $$(".select-run")) box.checked = e.target.checked;
    selected.clear();
    if (e.target.checked) page.forEach((run) => selected.add(run.runId));
    updateSelection();
  });
  const chosen = (test) => page.filter((run) => selected.has(run.runId) && test(run)).map((run) => run.runId);
  $("#bulk-cancel").addEventListener("click", async () => {
    const ids = chosen((run) => run.canTerminate);
    if (!(await confirmAction(`Cancel ${ids.length} run(s)?`, "Cancel runs"))) return;
    try {
      const data = await gql(TERMINATE, { ids });
      const results = expectType(data.terminateRuns, "TerminateRunsSuccess").terminateRunResults;
      const failed = results.map((r, i) => (r.__typename === "TerminateRunSuccess" ? null : `${ids[i]}: ${r.message}`)).filter(Boolean);
      if (failed.length) showError({ message: `${failed.length} of ${ids.length} not canceled`, details: failed.join("\n") }, "Cancel");
      else showInfo(`Asked ${ids.length} run(s) to cancel.`);
    } catch (error) {
      showError(error, "Cancel");
    }
    load();
  });
  $("#bulk-reexecute").addEventListener("click", async () => {
    const ids = chosen((run) => FINISHED.has(run.status));
    if (!(await confirmAction(`Re-execute ${ids.length} finished run(s), all steps?`, "Re-execute"))) return;
    bulk("Re-execute", ids, async (id) => expectType((await gql(REEXECUTE, { id })).launchRunReexecution, "LaunchRunSuccess"));
  });
  $("#bulk-delete").addEventListener("click", async () => {
    const ids = chosen((run) => FINISHED.has(run.status));
    if (!(await confirmAction(`Delete ${ids.length} finished run(s) with their events and logs? This cannot be undone.`, "Delete"))) return;
    bulk("Delete", ids, async (id) => expectType((await gql(DELETE, { id })).deleteRun, "DeleteRunSuccess"));
  });
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  history.pushState(null, "", urlFromForm());
  cursors.length = 0;
  cursor = null;
  load();
});
form.addEventListener("reset", (e) => {
  e.preventDefault();
  history.pushState(null, "", window.location.pathname);
  cursors.length = 0;
  cursor = null;
  load();
});
window.addEventListener("popstate", () => { cursors.length = 0; cursor = null; load(); });
$("#first-page").addEventListener("click", () => { cursors.length = 0; cursor = null; load(); });
$("#prev-page").addEventListener("click", () => { cursor = cursors.pop() ?? null; load(); });
wireBulk();
load();

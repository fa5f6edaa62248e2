// /runs: filtered, cursor-paged run table with bulk cancel / re-execute / delete.
import { $, $$, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, launchedBy, runDuration, shortId, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError, showInfo } from "../lib/notice.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
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
const MAX_JOBS_MATCHED = 20; // one runs query per matched job

const form = $("#runs-filter");
const cursors = []; // cursors of the pages before this one (null = first page)
let cursor = null;
let page = [];
const selected = new Set();

const SYSTEM_TAGS_KEY = "opgraph.showSystemTags";
const JOB_NAMES = `{ workspaceOrError { __typename ... on Workspace { locationEntries { jobs { name } } } } }`;
let jobNames = []; // every job of the workspace, for suggestions and part-of-name matches
let tagFilters = []; // "key=value" strings, shown as chips in the filter

function parseTag(tag) {
  const at = tag.indexOf("=");
  if (at < 1) throw new Error(`tag filter: expected key=value, got "${tag}"`);
  return { key: tag.slice(0, at), value: tag.slice(at + 1) };
}

/** The job names a job filter means: the one named exactly, else every job whose name
 * contains it (case-insensitive); runs of jobs no longer in the workspace match exactly. */
export function jobsMatching(text, names) {
  if (!text) return [];
  if (names.includes(text)) return [text];
  const needle = text.toLowerCase();
  const found = names.filter((name) => name.toLowerCase().includes(needle));
  return found.length ? found : [text];
}

/** Filter from the URL (?status=FAILURE,STARTED&job=x&tag=k=v&tag=k2=v2&run=<id>&after=2026-11-01&before=...). */
function filterFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const statuses = (params.get("status") || "").split(",").filter(Boolean);
  for (const box of $$("input[name=status]", form)) box.checked = statuses.includes(box.value);
  for (const name of ["job", "run", "after", "before", "launched"]) form.elements[name].value = params.get(name) || "";
  form.elements.tag.value = "";
  tagFilters = params.getAll("tag").filter(Boolean);
  renderTagChips();
  form.elements.limit.value = params.get("limit") || "50";
  const statusParam = statuses.join(",");
  for (const tab of $$("#status-tabs a")) tab.classList.toggle("active", tab.dataset.tab === statusParam);
  const filter = {};
  if (statuses.length) filter.statuses = statuses;
  const tags = tagFilters.map(parseTag);
  if (params.get("launched")) tags.push({ key: "opgraph/launched_by", value: params.get("launched") });
  if (tags.length) filter.tags = tags;
  if (params.get("run")) filter.runIds = [params.get("run").trim()];
  const day = (value, end) => (value ? new Date(`${value}T${end ? "23:59:59.999" : "00:00:00"}`).getTime() / 1000 : null);
  if (params.get("after")) filter.createdAfter = day(params.get("after"), false);
  if (params.get("before")) filter.createdBefore = day(params.get("before"), true);
  return { filter, jobs: jobsMatching(params.get("job") || "", jobNames), limit: Number(form.elements.limit.value) };
}

function renderTagChips() {
  show($("#tag-filter-chips"), tagFilters.map((tag) => h("span", { class: "tag tag-filter", "data-tag": tag }, tag,
    h("button", { type: "button", class: "chip-remove", "aria-label": `Remove the filter ${tag}`, onclick: () => {
      tagFilters = tagFilters.filter((t) => t !== tag);
      applyForm();
    } }, "×"))));
}

function urlFromForm() {
  const params = new URLSearchParams();
  const statuses = $$("input[name=status]:checked", form).map((box) => box.value);
  if (statuses.length) params.set("status", statuses.join(","));
  for (const name of ["run", "job", "after", "before", "launched"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  const typed = form.elements.tag.value.trim();
  if (typed && !tagFilters.includes(typed)) tagFilters.push(typed);
  for (const tag of tagFilters) params.append("tag", tag);
  if (form.elements.limit.value !== "50") params.set("limit", form.elements.limit.value);
  const query = params.toString();
  return query ? `?${query}` : window.location.pathname;
}

function applyForm() {
  history.pushState(null, "", urlFromForm());
  cursors.length = 0;
  cursor = null;
  load();
}

/** Add a tag to the filter (clicking a tag in the table does). */
function filterByTag(tag) {
  if (!tagFilters.includes(tag)) tagFilters.push(tag);
  applyForm();
}

async function loadJobNames() {
  try {
    const data = await gql(JOB_NAMES);
    if (data.workspaceOrError.__typename !== "Workspace") return;
    jobNames = [...new Set(data.workspaceOrError.locationEntries.flatMap((entry) => entry.jobs.map((job) => job.name)))].sort();
    show($("#job-names"), jobNames.map((name) => h("option", { value: name })));
  } catch {
    // suggestions only: the job filter still matches names exactly
  }
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
    const runs = await readRuns(request);
    page = runs.results;
    render(runs, request);
  } catch (error) {
    show($("#runs-table tbody"), h("tr", {}, h("td", { colspan: 9, class: "empty" }, "Runs could not be loaded.")));
    showError(error, "Loading runs");
  }
  markUpdated();
  markReady();
}

/** One runsOrError per job the job filter means (most often one), merged newest first. */
async function readRuns(request) {
  const jobs = request.jobs.length ? request.jobs : [null];
  if (jobs.length > MAX_JOBS_MATCHED) {
    throw new Error(`the job filter matches ${jobs.length} jobs; type more of the name (at most ${MAX_JOBS_MATCHED})`);
  }
  const answers = await Promise.all(jobs.map(async (jobName) => {
    const filter = jobName ? { ...request.filter, jobName } : request.filter;
    const data = await gql(RUNS, { filter, cursor: jobs.length > 1 ? null : cursor, limit: request.limit });
    return expectType(data.runsOrError, "Runs");
  }));
  if (answers.length === 1) return answers[0];
  // Several jobs: the newest `limit` runs of all of them, on one page.
  const results = answers.flatMap((a) => a.results).sort((a, b) => b.createdAt - a.createdAt).slice(0, request.limit);
  return { results, count: answers.reduce((sum, a) => sum + a.count, 0), hasMore: false, cursor: null };
}

function render(runs, request) {
  selected.clear();
  updateSelection();
  $("#runs-count").textContent = `${runs.count.toLocaleString()} runs match`;
  const typed = new URLSearchParams(window.location.search).get("job");
  show($("#job-matches"), typed && !(request.jobs.length === 1 && request.jobs[0] === typed)
    ? [`"${typed}" matches the jobs `, request.jobs.map((name, i) => [i ? ", " : "", h("a", { href: "#", "data-job": name, onclick: (e) => { e.preventDefault(); form.elements.job.value = name; applyForm(); } }, name)])]
    : "");
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
    h("td", { class: "tags-cell" }, tagChips(run.tags.filter((t) => showSystemTags || !t.key.startsWith("opgraph/")), filterByTag)))));
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
    if (!(await confirmAction(`Cancel ${ids.length} run(s)? Queued ones will not run; running ones finish the ops they run now and start no other.`, "Cancel the runs", "Keep them"))) return;
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
    if (!(await confirmAction(`Re-execute ${ids.length} finished run(s), all steps?`, "Re-execute", "Back"))) return;
    bulk("Re-execute", ids, async (id) => expectType((await gql(REEXECUTE, { id })).launchRunReexecution, "LaunchRunSuccess"));
  });
  $("#bulk-delete").addEventListener("click", async () => {
    const ids = chosen((run) => FINISHED.has(run.status));
    if (!(await confirmAction(`Delete ${ids.length} finished run(s) with their events and logs? This cannot be undone.`, "Delete", "Keep them"))) return;
    bulk("Delete", ids, async (id) => expectType((await gql(DELETE, { id })).deleteRun, "DeleteRunSuccess"));
  });
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  applyForm();
});
form.addEventListener("reset", (e) => {
  e.preventDefault();
  tagFilters = [];
  history.pushState(null, "", window.location.pathname);
  cursors.length = 0;
  cursor = null;
  load();
});
window.addEventListener("popstate", () => { cursors.length = 0; cursor = null; load(); });
$("#first-page").addEventListener("click", () => { cursors.length = 0; cursor = null; load(); });
$("#prev-page").addEventListener("click", () => { cursor = cursors.pop() ?? null; load(); });
$("#status-tabs").addEventListener("click", (e) => {
  const tab = e.target.closest("a[data-tab]");
  if (!tab) return;
  e.preventDefault();
  for (const box of $$("input[name=status]", form)) box.checked = tab.dataset.tab.split(",").includes(box.value);
  applyForm();
});
let showSystemTags = localStorage.getItem(SYSTEM_TAGS_KEY) === "1";
$("#show-system-tags").checked = showSystemTags;
$("#show-system-tags").addEventListener("change", (e) => {
  showSystemTags = e.target.checked;
  localStorage.setItem(SYSTEM_TAGS_KEY, showSystemTags ? "1" : "0");
  load();
});
wireBulk();
// The job names are needed first only when the URL filters by (part of) a job's name.
const names = loadJobNames();
(new URLSearchParams(window.location.search).get("job") ? names.then(load) : load()).then(() => {
  // New runs and status changes appear by themselves on the first page, unless the user
  // is choosing runs for a bulk action (the table would change under the pointer).
  keepFresh(load, { paused: () => selected.size > 0 || cursors.length > 0 });
});

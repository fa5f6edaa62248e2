// /runs: filtered, cursor-paged run table with bulk cancel / re-execute / delete.
import { $, $$, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, launchedBy, runDuration, shortId, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError, showInfo } from "../lib/notice.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { confirmAction, hideActions, markReady } from "../lib/page.js";
import { filterBar, parseToken } from "../views/runfilter.js";

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
// Tag suggestions come from the newest runs' tags (and every page shown since).
const RECENT_TAGS = `query { runsOrError(limit: 200) { ${ERROR_FIELDS} ... on Runs { results { tags { key value } } } } }`;
let jobNames = []; // every job of the workspace, for suggestions and part-of-name matches
const tagsSeen = new Map(); // key -> Set(values)
const LAUNCHERS = ["ui", "dev"];

function parseTag(tag) {
  const at = tag.indexOf("=");
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

function noteTags(runs) {
  for (const run of runs) {
    for (const { key, value } of run.tags) {
      if (!tagsSeen.has(key)) tagsSeen.set(key, new Set());
      tagsSeen.get(key).add(value);
    }
  }
}

const bar = filterBar($("#run-filter-bar"), {
  known: () => ({ jobs: jobNames, tags: tagsSeen, launchers: [...new Set([...LAUNCHERS, ...(tagsSeen.get("opgraph/launched_by") || [])])] }),
  onChange: () => applyForm(),
});

/** The URL's parameters for each kind of chip (links and old bookmarks use them too). */
const URL_PARAM = { job: "job", tag: "tag", id: "run", launched_by: "launched", after: "after", before: "before" };

function chipsFromUrl(params) {
  const chips = [];
  for (const status of (params.get("status") || "").split(",").filter(Boolean)) chips.push({ kind: "status", value: status });
  for (const [kind, name] of Object.entries(URL_PARAM)) {
    for (const value of params.getAll(name)) if (value.trim()) chips.push({ kind, value: value.trim() });
  }
  return chips;
}

const sameSet = (a, b) => a.length === b.length && a.every((x) => b.includes(x));

/** Filter from the URL (?status=FAILURE,STARTED&job=x&tag=k=v&tag=k2=v2&run=<id>&launched=ui&after=2026-11-01&before=...). */
function filterFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const chips = chipsFromUrl(params);
  bar.show(chips);
  const values = (kind) => chips.filter((c) => c.kind === kind).map((c) => c.value);
  for (const chip of chips) parseToken(`${chip.kind}:${chip.value}`); // a hand-made URL is checked as typed text is
  form.elements.limit.value = params.get("limit") || "50";
  const statuses = values("status");
  for (const tab of $$("#status-tabs a")) tab.classList.toggle("active", sameSet(tab.dataset.tab.split(",").filter(Boolean), statuses));
  const filter = {};
  if (statuses.length) filter.statuses = statuses;
  const tags = values("tag").map(parseTag);
  if (values("launched_by").length) tags.push({ key: "opgraph/launched_by", value: values("launched_by")[0] });
  if (tags.length) filter.tags = tags;
  if (values("id").length) filter.runIds = values("id");
  const day = (value, end) => (value ? new Date(`${value}T${end ? "23:59:59.999" : "00:00:00"}`).getTime() / 1000 : null);
  if (values("after").length) filter.createdAfter = day(values("after")[0], false);
  if (values("before").length) filter.createdBefore = day(values("before")[0], true);
  return { filter, jobs: jobsMatching(values("job")[0] || "", jobNames), limit: Number(form.elements.limit.value) };
}

function urlFromChips(chips) {
  const params = new URLSearchParams();
  const statuses = chips.filter((c) => c.kind === "status").map((c) => c.value);
  if (statuses.length) params.set("status", statuses.join(","));
  for (const chip of chips) if (chip.kind !== "status") params.append(URL_PARAM[chip.kind], chip.value);
  if (form.elements.limit.value !== "50") params.set("limit", form.elements.limit.value);
  const query = params.toString();
  return query ? `?${query}` : window.location.pathname;
}

function applyForm() {
  const url = urlFromChips(bar.chips());
  if (url !== (window.location.search || window.location.pathname)) history.pushState(null, "", url);
  cursors.length = 0;
  cursor = null;
  load();
}

/** Add a tag to the filter (clicking a tag in the table does). */
function filterByTag(tag) {
  bar.add({ kind: "tag", value: tag });
}

async function loadJobNames() {
  try {
    const data = await gql(JOB_NAMES);
    if (data.workspaceOrError.__typename !== "Workspace") return;
    jobNames = [...new Set(data.workspaceOrError.locationEntries.flatMap((entry) => entry.jobs.map((job) => job.name)))].sort();
    bar.refresh();
  } catch {
    // suggestions only: the job filter still matches names exactly
  }
}

async function loadRecentTags() {
  try {
    noteTags(expectType((await gql(RECENT_TAGS)).runsOrError, "Runs").results);
    bar.refresh();
  } catch {
    // suggestions only
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
    noteTags(page);
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
  const typed = bar.chips().find((c) => c.kind === "job")?.value;
  show($("#job-matches"), typed && !(request.jobs.length === 1 && request.jobs[0] === typed)
    ? [`"${typed}" matches the jobs `, request.jobs.map((name, i) => [i ? ", " : "", h("a", { href: "#", "data-job": name, onclick: (e) => { e.preventDefault(); bar.add({ kind: "job", value: name }); } }, name)])]
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

form.addEventListener("submit", (e) => e.preventDefault());
form.elements.limit.addEventListener("change", applyForm);
$("#reset-filter").addEventListener("click", () => {
  bar.show([]);
  applyForm();
});
window.addEventListener("popstate", () => { cursors.length = 0; cursor = null; load(); });
$("#first-page").addEventListener("click", () => { cursors.length = 0; cursor = null; load(); });
$("#prev-page").addEventListener("click", () => { cursor = cursors.pop() ?? null; load(); });
$("#status-tabs").addEventListener("click", (e) => {
  const tab = e.target.closest("a[data-tab]");
  if (!tab) return;
  e.preventDefault();
  const others = bar.chips().filter((c) => c.kind !== "status");
  bar.show([...others, ...tab.dataset.tab.split(",").filter(Boolean).map((value) => ({ kind: "status", value }))]);
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
loadRecentTags();
(new URLSearchParams(window.location.search).get("job") ? names.then(load) : load()).then(() => {
  // New runs and status changes appear by themselves on the first page, unless the user
  // is choosing runs for a bulk action (the table would change under the pointer).
  keepFresh(load, { paused: () => selected.size > 0 || cursors.length > 0 });
});

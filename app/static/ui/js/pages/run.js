// /runs/<id>: status and actions, timeline, op graph, steps, live event log, step output.
import { $, clear, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, launchedBy, runDuration, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { followRunEvents } from "../lib/live.js";
import { showError, showInfo } from "../lib/notice.js";
import { confirmAction, hideActions, markReady, pageData, readOnly } from "../lib/page.js";
import { EventLog } from "../views/eventlog.js";
import { drawGraph, graphOfOps } from "../views/graph.js";
import { StepTracker, opHandle } from "../views/steps.js";
import { StepOutput } from "../views/stdio.js";
import { drawTimeline } from "../views/timeline.js";

const RUN_QUERY = `query Run($runId: String!) {
  runOrError(runId: $runId) {
    ${ERROR_FIELDS}
    ... on Run { runId jobName status runConfigYaml tags { key value } parentRunId rootRunId
      locationName codeVersion createdAt startTime endTime runWorkerHost canTerminate }
  }
}`;
const CHILDREN_QUERY = `query Children($tag: String!) {
  runsOrError(filter: {tags: [{key: "opgraph/parent_run_id", value: $tag}]}, limit: 50) {
    ${ERROR_FIELDS} ... on Runs { results { runId status createdAt } }
  }
}`;
const JOB_QUERY = `query JobGraph($job: String!) {
  workspaceOrError { ${ERROR_FIELDS}
    ... on Workspace { locationEntries { name version job(name: $job) { ops { handle opName inputs { upstream { handle } } } } } }
  }
}`;
const TERMINATE = `mutation Terminate($runId: String!, $policy: TerminateRunPolicy!) {
  terminateRun(runId: $runId, policy: $policy) { ${ERROR_FIELDS} ... on TerminateRunSuccess { message } }
}`;
const REEXECUTE = `mutation Reexecute($runId: String!, $strategy: ReexecutionStrategy!, $steps: [String!]) {
  launchRunReexecution(parentRunId: $runId, strategy: $strategy, stepKeys: $steps) {
    ${ERROR_FIELDS} ... on LaunchRunSuccess { run { runId } }
  }
}`;
const LIVE = new Set(["NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING"]);
const RUN_EVENTS = /^RUN_/;

const runId = pageData.runId;
let run = null;
const tracker = new StepTracker();
const selectedSteps = new Set();
let graph = null;
let redrawPending = false;
let lastRedraw = 0;
const REDRAW_MS = 250;
let refreshPending = null;
let ticker = null;

const log = new EventLog($("#event-log-root"));
const output = new StepOutput($("#step-output-root"), runId, () => run && LIVE.has(run.status));

async function loadRun() {
  const data = await gql(RUN_QUERY, { runId });
  run = expectType(data.runOrError, "Run");
  tracker.defaultWorker = run.runWorkerHost;
  renderHeader();
}

/** Start and end from the RUN_* events (events are the truth), the run record as fallback. */
function runTimes() {
  return { startTime: tracker.runStart ?? run.startTime, endTime: tracker.runEnd ?? run.endTime };
}

function renderHeader() {
  show($("#run-status"), statusBadge(run.status));
  document.title = `Run ${run.runId.slice(0, 8)} ${run.status} · opgraph`;
  const times = runTimes();
  const jobHref = run.locationName ? `/jobs/${encodeURIComponent(run.locationName)}/${encodeURIComponent(run.jobName)}` : null;
  const live = LIVE.has(run.status);
  show($("#run-subtitle"),
    "Job ", jobHref ? h("a", { href: jobHref }, run.jobName) : run.jobName,
    run.locationName ? ` in ${run.locationName}` : "",
    ` · launched by ${launchedBy(run)}`,
    times.startTime ? ` · started ${formatTime(times.startTime)}` : " · not started",
    times.startTime && (live || times.endTime) ? ` · ${live ? "running for" : "took"} ${formatDuration(runDuration(times))}` : "");
  show($("#run-facts"),
    h("dt", {}, "Created"), h("dd", {}, formatTime(run.createdAt)),
    h("dt", {}, "Started"), h("dd", {}, formatTime(times.startTime)),
    h("dt", {}, "Ended"), h("dd", {}, formatTime(times.endTime)),
    h("dt", {}, "Run worker"), h("dd", {}, run.runWorkerHost || "—"),
    h("dt", {}, "Code version"), h("dd", { class: "mono" }, run.codeVersion || "—"),
    h("dt", {}, "Parent run"), h("dd", {}, run.parentRunId ? h("a", { href: `/runs/${encodeURIComponent(run.parentRunId)}`, id: "parent-link" }, run.parentRunId) : "—"),
    h("dt", {}, "Root run"), h("dd", {}, run.rootRunId && run.rootRunId !== run.parentRunId ? h("a", { href: `/runs/${encodeURIComponent(run.rootRunId)}` }, run.rootRunId) : (run.rootRunId ? "the parent" : "—")));
  show($("#run-tags"), run.tags.length ? tagChips(run.tags) : h("span", { class: "empty" }, "No tags."));
  $("#run-config").textContent = run.runConfigYaml || "{}  # no run config";
  const finished = !LIVE.has(run.status);
  $("#cancel-run").hidden = !run.canTerminate;
  $("#force-cancel-run").hidden = !run.canTerminate || run.status === "NOT_STARTED" || run.status === "QUEUED";
  $("#reexecute-all").hidden = !finished;
  $("#reexecute-failure").hidden = !finished || run.status === "SUCCESS";
  $("#reexecute-selected").hidden = !finished;
  hideActions();
}

/** A run's status or times changed (a RUN_* event arrived): read the run again, at most once a second. */
function refreshRunSoon() {
  if (refreshPending) return;
  refreshPending = setTimeout(async () => {
    refreshPending = null;
    try {
      await loadRun();
    } catch (error) {
      showError(error, "Reading the run");
    }
  }, 300);
}

/** Redraw the timeline, steps and graph at most every REDRAW_MS (a long log streams in fast). */
function redrawSoon() {
  if (redrawPending) return;
  redrawPending = true;
  const wait = Math.max(0, lastRedraw + REDRAW_MS - performance.now());
  setTimeout(() => requestAnimationFrame(() => {
    redrawPending = false;
    lastRedraw = performance.now();
    redraw();
  }), wait);
}

function redraw() {
  const steps = tracker.list();
  drawTimeline($("#timeline"), steps, { runEnd: tracker.runEnd ?? run?.endTime });
  renderSteps(steps);
  if (graph) colorGraph();
  output.setSteps(steps.map((step) => step.stepKey));
}

function renderSteps(steps) {
  const body = $("#steps-table tbody");
  $("#steps-count").textContent = `${steps.length} steps`;
  if (!steps.length) {
    show(body, h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No step has started yet.")));
    return;
  }
  const now = Date.now() / 1000;
  show(body, steps.map((step) => {
    const last = step.attempts.at(-1);
    const duration = step.startTime ? (step.endTime ?? now) - step.startTime : null;
    return h("tr", { "data-step": step.stepKey },
      h("td", { "data-action": true }, h("input", {
        type: "checkbox", "aria-label": `Select ${step.stepKey}`, checked: selectedSteps.has(step.stepKey),
        onchange: (e) => toggleStep(step.stepKey, e.target.checked),
      })),
      h("td", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); focusStep(step.stepKey); } }, step.stepKey)),
      h("td", {}, statusBadge(step.status)),
      h("td", { class: "num" }, step.attempts.length),
      h("td", { class: "num" }, formatDuration(duration)),
      h("td", { class: "mono" }, last?.worker || "—"));
  }));
  hideActions(body);
}

function toggleStep(stepKey, on) {
  if (on) selectedSteps.add(stepKey);
  else selectedSteps.delete(stepKey);
  const button = $("#reexecute-selected");
  button.disabled = selectedSteps.size === 0;
  button.textContent = selectedSteps.size ? `Re-execute selected (${selectedSteps.size})` : "Re-execute selected";
}

/** Show one step everywhere: log filtered to it, its output open, its node selected. */
function focusStep(stepKey) {
  log.setFilter({ step: stepKey });
  output.open(stepKey);
  graph?.select(opHandle(stepKey));
}

async function loadGraph() {
  const frame = $("#run-graph");
  try {
    const data = await gql(JOB_QUERY, { job: run.jobName });
    const workspace = expectType(data.workspaceOrError, "Workspace");
    const entry = workspace.locationEntries.find((loc) => loc.name === run.locationName && loc.job)
      || workspace.locationEntries.find((loc) => loc.job);
    if (!entry) {
      show(frame, h("p", { class: "empty" }, `Job ${run.jobName} is not in the workspace now, so its graph cannot be drawn.`));
      return;
    }
    graph = drawGraph(frame, graphOfOps(entry.job.ops), {
      statusOf: (id) => tracker.statusByOp().get(id),
      onSelect: (id) => {
        const step = tracker.list().find((s) => opHandle(s.stepKey) === id);
        if (step) focusStep(step.stepKey);
        else log.setFilter({ step: "" });
      },
    });
    show($("#graph-tools"), graph.tools);
    if (run.codeVersion && entry.version && run.codeVersion !== entry.version) {
      $("#graph-note").textContent = `Drawn from ${entry.name}'s current code (version ${entry.version}); this run used version ${run.codeVersion}.`;
    }
  } catch (error) {
    show(frame, h("p", { class: "empty" }, "The op graph could not be loaded."));
    showError(error, "Loading the op graph");
  }
}

function colorGraph() {
  const statuses = tracker.statusByOp();
  for (const node of graph.svg.querySelectorAll(".graph-node")) {
    const state = statuses.get(node.dataset.node);
    const status = state?.status || "";
    if (node.dataset.status === status) continue;
    node.dataset.status = status;
    const stripe = node.querySelector(".node-stripe");
    stripe.setAttribute("class", `node-stripe fill-${{ SUCCESS: "ok", FAILURE: "bad", STARTED: "live", UP_FOR_RETRY: "warn" }[status] || "muted"}`);
    const sub = node.querySelector(".node-sub");
    if (state) {
      sub.textContent = `${status}${state.count > 1 ? ` ×${state.count}` : ""}`;
      node.querySelector(".node-label").setAttribute("y", String(Number(sub.getAttribute("y")) - 14));
    }
  }
}

async function loadChildren() {
  try {
    const data = await gql(CHILDREN_QUERY, { tag: runId });
    const runs = expectType(data.runsOrError, "Runs").results;
    show($("#run-children"), runs.length
      ? h("ul", {}, runs.map((child) => h("li", {}, h("a", { href: `/runs/${encodeURIComponent(child.runId)}` }, child.runId), " ", statusBadge(child.status), ` ${formatTime(child.createdAt)}`)))
      : h("span", { class: "empty" }, "None."));
  } catch (error) {
    show($("#run-children"), "—");
    showError(error, "Loading re-executions");
  }
}

function onEvents(events) {
  tracker.add(events);
  log.add(events);
  if (events.some((event) => RUN_EVENTS.test(event.eventType))) refreshRunSoon();
  redrawSoon();
}

function setLiveState(state) {
  const indicator = $("#live-indicator");
  indicator.hidden = state === "ended";
  indicator.textContent = { open: "live", reconnecting: "reconnecting…", closed: "disconnected" }[state] || "";
  if (state === "closed") showError("The live event stream closed; reload the page to follow the run again.", "Live events");
}

async function act(label, mutation, variables, field, successType, onSuccess) {
  try {
    const data = await gql(mutation, variables);
    const result = expectType(data[field], successType);
    onSuccess(result);
  } catch (error) {
    showError(error, label);
  }
}

function wireActions() {
  if (readOnly) return;
  $("#cancel-run").addEventListener("click", async () => {
    if (!(await confirmAction(`Cancel run ${runId}? It stops at its next step boundary.`, "Cancel run"))) return;
    act("Cancel", TERMINATE, { runId, policy: "SAFE" }, "terminateRun", "TerminateRunSuccess", (r) => { showInfo(r.message); refreshRunSoon(); });
  });
  $("#force-cancel-run").addEventListener("click", async () => {
    if (!(await confirmAction(`Force cancel run ${runId}? Its run worker is killed at once.`, "Force cancel"))) return;
    act("Force cancel", TERMINATE, { runId, policy: "FORCE" }, "terminateRun", "TerminateRunSuccess", (r) => { showInfo(r.message); refreshRunSoon(); });
  });
  const reexecute = (strategy, steps) => act("Re-execute", REEXECUTE, { runId, strategy, steps }, "launchRunReexecution", "LaunchRunSuccess",
    (result) => { window.location.href = `/runs/${encodeURIComponent(result.run.runId)}`; });
  $("#reexecute-all").addEventListener("click", () => reexecute("ALL_STEPS", null));
  $("#reexecute-failure").addEventListener("click", () => reexecute("FROM_FAILURE", null));
  $("#reexecute-selected").addEventListener("click", () => reexecute("SELECTED", [...selectedSteps]));
}

async function main() {
  try {
    await loadRun();
  } catch (error) {
    show($("#run-subtitle"), h("span", { class: "empty" }, "This run could not be loaded."));
    showError(error, `Run ${runId}`);
    markReady();
    return;
  }
  wireActions();
  redraw();
  markReady();
  loadGraph();
  loadChildren();
  // History and live events through one stream; it ends after the run's last event.
  followRunEvents(runId, null, {
    onEvents,
    onEnd: () => {
      clearInterval(ticker);
      // The last events are drawn at once, not after the redraw throttle.
      lastRedraw = performance.now();
      redraw();
      refreshRunSoon();
      output.poke();
      document.body.dataset.streamEnded = "1";
    },
    onState: setLiveState,
  });
  // Running bars and durations grow while the run is live.
  ticker = setInterval(() => {
    if (run && LIVE.has(run.status)) {
      redrawSoon();
      renderHeader();
    }
  }, 1000);
}

main();

// /runs/<id>: status and actions, timeline, op graph, steps, live event log, step output.
import { $, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, launchedBy, runDuration, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { followRunEvents } from "../lib/live.js";
import { showError, showInfo } from "../lib/notice.js";
import { confirmAction, hideActions, markReady, pageData, readOnly } from "../lib/page.js";
import { errorBox } from "../views/errors.js";
import { EventLog } from "../views/eventlog.js";
import { drawGraph, graphOfOps } from "../views/graph.js";
import { StepTracker, opHandle } from "../views/steps.js";
import { StepOutput } from "../views/stdio.js";
import { selectSteps } from "../views/stepquery.js";
import { StepTable } from "../views/steptable.js";
import { Timeline } from "../views/timeline.js";

const RUN_QUERY = `query Run($runId: String!) {
  runOrError(runId: $runId) {
    ${ERROR_FIELDS}
    ... on Run { runId jobName status runConfig runConfigYaml tags { key value } parentRunId rootRunId
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
const PLAN_QUERY = `query Plan($selector: JobSelector!, $config: GenericScalar) {
  executionPlanOrError(selector: $selector, runConfigData: $config) { ${ERROR_FIELDS}
    ... on ExecutionPlan { steps { key upstreamKeys mappedOver { handle } } } }
}`;
const TERMINATE = `mutation Terminate($runId: String!, $policy: TerminateRunPolicy!) {
  terminateRun(runId: $runId, policy: $policy) { ${ERROR_FIELDS} ... on TerminateRunSuccess { message } }
}`;
const REEXECUTE = `mutation Reexecute($runId: String!, $strategy: ReexecutionStrategy!, $steps: [String!]) {
  launchRunReexecution(parentRunId: $runId, strategy: $strategy, stepKeys: $steps) {
    ${ERROR_FIELDS} ... on LaunchRunSuccess { run { runId } }
  }
}`;
const GROUP_QUERY = `query Group($root: String!) {
  runsOrError(filter: {tags: [{key: "opgraph/root_run_id", value: $root}]}, limit: 1) {
    ${ERROR_FIELDS} ... on Runs { results { runId status } } } }`;
// Steps waiting on a broker queue, or just claimed: no event says so, the attempt table does.
const ATTEMPTS_QUERY = `query LiveAttempts($runId: String!) {
  runOrError(runId: $runId) { ${ERROR_FIELDS}
    ... on Run { liveStepAttempts { stepKey attemptNumber status queue queuedAt startedAt worker } } }
}`;
const LIVE = new Set(["NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING"]);
const RUN_EVENTS = /^RUN_/;
const EXECUTING = new Set(["STARTING", "STARTED", "CANCELING"]); // steps may be queued

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
let attemptsPending = false;
let attemptsFailed = false;

const log = new EventLog($("#event-log-root"));
const timeline = new Timeline($("#timeline"));
const stepTable = new StepTable($("#steps-table"), $("#steps-table").closest(".table-wrap"), {
  isSelected: (stepKey) => selectedSteps.has(stepKey),
  onToggle: (stepKey, on) => toggleStep(stepKey, on),
  onFocus: (stepKey) => focusStep(stepKey),
});
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
  $("#reexecute-downstream").hidden = !finished;
  // A run of a group (a re-execution, or a run re-executed since): the group's newest run.
  $("#reexecute-group").hidden = !finished || !(run.rootRunId || run.parentRunId || $("#run-children li"));
  if (jobHref) {
    $("#open-launchpad").href = `${jobHref}?from_run=${encodeURIComponent(run.runId)}#launchpad`;
    $("#open-launchpad").hidden = false;
  }
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

/** Read the run's QUEUED and RUNNING step attempts (one request, one indexed read): on the
 * page's 1 s tick while the run executes, never two at once. */
async function loadLiveAttempts() {
  if (attemptsPending || !run || !EXECUTING.has(run.status) || tracker.runEnd !== null) return;
  attemptsPending = true;
  try {
    const data = await gql(ATTEMPTS_QUERY, { runId });
    // An answer that lands after the run's end is stale: its end cleared the attempts.
    if (tracker.runEnd === null) tracker.setLive(expectType(data.runOrError, "Run").liveStepAttempts);
    attemptsFailed = false;
    redrawSoon();
  } catch (error) {
    // Said once, not every second while the webserver is away (the live stream says too).
    if (!attemptsFailed) showError(error, "Reading the queued steps");
    attemptsFailed = true;
  } finally {
    attemptsPending = false;
  }
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

const timelineWindow = { from: 0, to: 1 }; // the part of the run the timeline shows
let stepQuery = "";

let highlight = null; // the steps the step query selects, or null
let highlightOf = null; // ... for this query and these steps

/** The step query's steps; read again only when the query or the list of steps changed. */
function queryHighlight(steps) {
  if (!stepQuery) return null;
  const shape = `${stepQuery}\u0000${steps.length}\u0000${tracker.planned.length}`;
  if (highlightOf !== shape) {
    highlight = selectSteps(stepQuery, tracker.graph());
    highlightOf = shape;
  }
  return highlight;
}

function redrawTimeline(steps = tracker.list()) {
  const found = queryHighlight(steps);
  timeline.draw(steps, { runStart: tracker.runStart ?? run?.startTime, runEnd: tracker.runEnd ?? run?.endTime, window: timelineWindow, highlight: found });
  return found;
}

function redraw() {
  const steps = tracker.list();
  const found = redrawTimeline(steps);
  renderSteps(steps, found);
  if (graph) colorGraph();
  output.setSteps(steps.map((step) => step.stepKey));
}

function renderSteps(steps, found) {
  const waiting = steps.filter((step) => step.planned || step.status === "QUEUED").length;
  $("#steps-count").textContent = `${steps.length} steps${waiting ? ` (${waiting} ${tracker.runEnd === null ? "not started yet" : "not run"})` : ""}`;
  stepTable.draw(steps, found);
}

function toggleStep(stepKey, on) {
  if (on) selectedSteps.add(stepKey);
  else selectedSteps.delete(stepKey);
  const button = $("#reexecute-selected");
  button.disabled = selectedSteps.size === 0;
  button.textContent = selectedSteps.size ? `Re-execute selected (${selectedSteps.size})` : "Re-execute selected";
  $("#reexecute-downstream").disabled = selectedSteps.size === 0;
}

/** `keys` and every step downstream of them, among `steps` ([{key, upstream}], the plan's). */
function withDownstream(keys, steps) {
  const down = new Map();
  for (const step of steps) for (const up of step.upstream) down.set(up, [...(down.get(up) || []), step.key]);
  const found = new Set(keys);
  const frontier = [...keys];
  while (frontier.length) for (const next of down.get(frontier.pop()) || []) if (!found.has(next)) { found.add(next); frontier.push(next); }
  return found;
}

/** Show one step everywhere: log filtered to it, its output open, its node selected. */
function focusStep(stepKey) {
  timeline.select(stepKey);
  stepTable.reveal(stepKey);
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
    stripe.setAttribute("class", `node-stripe fill-${{ SUCCESS: "ok", FAILURE: "bad", STARTED: "live", UP_FOR_RETRY: "warn", QUEUED: "queued" }[status] || "muted"}`);
    const sub = node.querySelector(".node-sub");
    if (state) {
      sub.textContent = `${status}${state.count > 1 ? ` ×${state.count}` : ""}`;
      const title = node.querySelector("title");
      const lines = title.textContent.split("\n").filter((line) => !line.startsWith("status "));
      title.textContent = [...lines, `status ${status}${status === "QUEUED" ? ` on ${state.queue || "the default queue"}` : ""}`].join("\n");
      node.querySelector(".node-label").setAttribute("y", String(Number(sub.getAttribute("y")) - 14));
    }
  }
}

/** Every step the run is to execute, from its execution plan (its run config, the job's
 * current code): shown before each starts. Without a plan, steps appear as they start. */
async function loadPlan() {
  if (!run.locationName) return;
  // A re-execution from failure or of selected steps reuses some of its parent's outputs:
  // which ones the plan does not say, so its steps are listed as they start.
  const strategy = run.tags.find((t) => t.key === "opgraph/reexecution_strategy")?.value;
  if (strategy && strategy !== "ALL_STEPS") {
    document.body.dataset.planSteps = "0";
    return;
  }
  try {
    const data = await gql(PLAN_QUERY, { selector: { locationName: run.locationName, jobName: run.jobName }, config: run.runConfig });
    const plan = expectType(data.executionPlanOrError, "ExecutionPlan");
    tracker.plan(plan.steps);
    document.body.dataset.planSteps = String(plan.steps.length);
    redrawSoon();
  } catch {
    // The job changed or left the workspace: the steps table shows the steps that ran.
    document.body.dataset.planSteps = "0";
  }
}

async function loadChildren() {
  try {
    const data = await gql(CHILDREN_QUERY, { tag: runId });
    const runs = expectType(data.runsOrError, "Runs").results;
    if (runs.length && run && !LIVE.has(run.status)) $("#reexecute-group").hidden = readOnly;
    show($("#run-children"), runs.length
      ? h("ul", {}, runs.map((child) => h("li", {}, h("a", { href: `/runs/${encodeURIComponent(child.runId)}` }, child.runId), " ", statusBadge(child.status), ` ${formatTime(child.createdAt)}`)))
      : h("span", { class: "empty" }, "None."));
  } catch (error) {
    show($("#run-children"), "—");
    showError(error, "Loading re-executions");
  }
}

const failures = new Map(); // stepKey -> its STEP_FAILURE event (the last attempt's)
let runFailure = null; // the RUN_FAILURE event

/** At the top of a failed run: which step failed, with what error, and its stack trace. */
function renderFailures() {
  const banner = $("#failure-banner");
  if (!failures.size && !runFailure) return;
  const boxes = [...failures.values()].map((event) => {
    const error = event.data?.error && typeof event.data.error === "object" ? event.data.error : { class: "Failure", message: event.message };
    return h("div", { class: "failure", "data-step": event.stepKey },
      errorBox(error, { title: h("span", {}, "Step ", h("a", { href: "#", onclick: (e) => { e.preventDefault(); focusStep(event.stepKey); } }, event.stepKey), " failed") }));
  });
  if (!boxes.length && runFailure) {
    const error = runFailure.data?.error && typeof runFailure.data.error === "object" ? runFailure.data.error : { class: "Run failure", message: runFailure.message };
    boxes.push(h("div", { class: "failure" }, errorBox(error, { title: "The run failed" })));
  }
  show(banner, boxes);
  banner.hidden = false;
}

function onEvents(events) {
  let failed = false;
  for (const event of events) {
    if (event.eventType === "STEP_FAILURE") {
      failures.set(event.stepKey, event);
      failed = true;
    } else if (event.eventType === "RUN_FAILURE") {
      runFailure = event;
      failed = true;
    }
  }
  if (failed) renderFailures();
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
    const waiting = run.status === "QUEUED" || run.status === "NOT_STARTED";
    const text = waiting
      ? `Run ${runId} has not started. Canceling it takes it off the queue: it will not run.`
      : `Stop run ${runId}? The ops running now finish; no further op starts. The run ends as CANCELED.`;
    if (!(await confirmAction(text, "Cancel the run", waiting ? "Keep it queued" : "Keep running"))) return;
    act("Cancel", TERMINATE, { runId, policy: "SAFE" }, "terminateRun", "TerminateRunSuccess", (r) => { showInfo(r.message); refreshRunSoon(); });
  });
  $("#force-cancel-run").addEventListener("click", async () => {
    if (!(await confirmAction(`Force cancel run ${runId}? Its run worker and the ops running now are stopped at once, mid-op. The run ends as CANCELED.`, "Force cancel", "Keep running"))) return;
    act("Force cancel", TERMINATE, { runId, policy: "FORCE" }, "terminateRun", "TerminateRunSuccess", (r) => { showInfo(r.message); refreshRunSoon(); });
  });
  const reexecute = (strategy, steps) => act("Re-execute", REEXECUTE, { runId, strategy, steps }, "launchRunReexecution", "LaunchRunSuccess",
    (result) => { window.location.href = `/runs/${encodeURIComponent(result.run.runId)}`; });
  $("#reexecute-all").addEventListener("click", () => reexecute("ALL_STEPS", null));
  $("#reexecute-failure").addEventListener("click", () => reexecute("FROM_FAILURE", null));
  $("#reexecute-selected").addEventListener("click", () => reexecute("SELECTED", [...selectedSteps]));
  $("#reexecute-downstream").addEventListener("click", () => {
    // A re-execution of part of a run has no plan read (see loadPlan): no downstream to add.
    if (!tracker.planned.length) {
      showInfo("This run's steps are not read from a plan (it re-executes part of another run), so their downstream is not known here: tick the steps to run and use \"Re-execute selected\".");
      return;
    }
    reexecute("SELECTED", [...withDownstream(selectedSteps, tracker.graph())]);
  });
  $("#reexecute-group").addEventListener("click", async () => {
    try {
      const root = run.rootRunId || run.runId;
      const newest = expectType((await gql(GROUP_QUERY, { root })).runsOrError, "Runs").results[0];
      const from = newest && newest.runId !== run.runId ? newest : run;
      if (from.status === "SUCCESS") {
        showInfo(`The group's newest run ${from.runId.slice(0, 8)} succeeded: nothing failed to re-execute.`);
        return;
      }
      act("Re-execute group", REEXECUTE, { runId: from.runId, strategy: "FROM_FAILURE", steps: null }, "launchRunReexecution", "LaunchRunSuccess",
        (result) => { window.location.href = `/runs/${encodeURIComponent(result.run.runId)}`; });
    } catch (error) {
      showError(error, "Re-execute group");
    }
  });
}

/** The run is not there (or could not be read): say so once, instead of the page's panels. */
function showMissing(error) {
  const notFound = error.typename === "RunNotFoundError";
  document.body.dataset.runMissing = notFound ? "not-found" : "error";
  show($("#run-subtitle"), h("span", { class: "empty" }, notFound ? "No such run." : "This run could not be loaded."));
  for (const panel of document.querySelectorAll("main > section, main > div.grid-2")) panel.hidden = true;
  $("#run-actions").hidden = true;
  const search = `/runs?run=${encodeURIComponent(runId)}`;
  $("main").append(h("section", { class: "panel", id: "run-missing" },
    h("h2", {}, notFound ? `There is no run with id ${runId}` : `Run ${runId} could not be loaded`),
    h("p", {}, notFound
      ? "It may have been deleted (by hand or by retention), or the id is mistyped."
      : error.message),
    h("p", {}, h("a", { href: "/runs" }, "All runs"), " · ", h("a", { href: search }, "search the runs for this id"))));
  if (!notFound) showError(error, `Run ${runId}`);
}

/** Zoom by `factor` (< 1 zooms in) around `at` (a fraction of the shown window). */
function zoomTimeline(factor, at = 0.5) {
  const span = timelineWindow.to - timelineWindow.from;
  const next = Math.min(1, Math.max(0.002, span * factor));
  const pivot = timelineWindow.from + at * span;
  timelineWindow.from = Math.max(0, Math.min(1 - next, pivot - at * next));
  timelineWindow.to = timelineWindow.from + next;
  redrawTimeline();
}

function wireTimeline() {
  const frame = $("#timeline");
  const plotOf = () => Math.max(1, frame.clientWidth - 226); // the timeline's label column and margin
  $("#timeline-zoom-in").addEventListener("click", () => zoomTimeline(0.5));
  $("#timeline-zoom-out").addEventListener("click", () => zoomTimeline(2));
  $("#timeline-reset").addEventListener("click", () => { timelineWindow.from = 0; timelineWindow.to = 1; redrawTimeline(); });
  let timer = null;
  $("#step-query").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { stepQuery = e.target.value; redraw(); }, 120);
  });
  frame.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    const at = Math.min(1, Math.max(0, (event.offsetX - 210) / plotOf()));
    zoomTimeline(event.deltaY < 0 ? 0.8 : 1.25, at);
  }, { passive: false });
  let drag = null;
  frame.addEventListener("pointerdown", (event) => {
    // A press on the frame's scroll bar scrolls it: no pan, no click on a row.
    const box = frame.getBoundingClientRect();
    if (event.clientX - box.left - frame.clientLeft >= frame.clientWidth || event.clientY - box.top - frame.clientTop >= frame.clientHeight) return;
    drag = { x: event.clientX, y: event.clientY, from: timelineWindow.from, to: timelineWindow.to };
    frame.setPointerCapture(event.pointerId);
    frame.classList.add("panning");
  });
  frame.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const span = drag.to - drag.from;
    const shift = -((event.clientX - drag.x) / plotOf()) * span;
    timelineWindow.from = Math.max(0, Math.min(1 - span, drag.from + shift));
    timelineWindow.to = timelineWindow.from + span;
    redrawTimeline();
  });
  window.addEventListener("resize", () => redrawSoon()); // the timeline's bars scale with its width
  const stop = () => { drag = null; frame.classList.remove("panning"); };
  frame.addEventListener("pointerup", (event) => {
    // A press and release without a drag is a click on a row: show that step everywhere.
    const clicked = drag && Math.abs(event.clientX - drag.x) < 4 && Math.abs(event.clientY - drag.y) < 4;
    stop();
    const stepKey = clicked && timeline.stepAt(event.clientY);
    if (stepKey && !stepKey.endsWith("[?]")) focusStep(stepKey);
  });
  frame.addEventListener("pointercancel", stop);
}

async function main() {
  try {
    await loadRun();
  } catch (error) {
    showMissing(error);
    markReady();
    return;
  }
  wireActions();
  wireTimeline();
  redraw();
  markReady();
  loadGraph();
  loadPlan();
  loadChildren();
  // History and live events through one stream; it ends after the run's last event.
  followRunEvents(runId, null, {
    onEvents,
    onEnd: () => {
      clearInterval(ticker);
      tracker.setLive([]); // the run ended: no attempt waits any more
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
      loadLiveAttempts();
      redrawSoon();
      renderHeader();
    }
  }, 1000);
  loadLiveAttempts();
}

main();

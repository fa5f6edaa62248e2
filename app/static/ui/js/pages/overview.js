// /: what is running, queued and failing; daemon health; the worker fleet at a glance.
import { $, h, show } from "../lib/dom.js";
import { formatAgo, formatDuration, runDuration, shortId, statusBadge } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { markReady } from "../lib/page.js";
import { drawRunsTimeline } from "../views/runstimeline.js";
import { DAEMON_FIELDS, FLEET_QUERY, LEASE_FIELDS, daemonTable, daemonVerdict, fleetSummary } from "../views/fleet.js";

const RUN_FIELDS = "count results { runId jobName status createdAt startTime endTime }";
const TIMELINE_HOURS = 6;
const TIMELINE_RUNS = 500; // the newest ones, when more ran
const TIMELINE = `query Timeline($recent: Float!) {
  runsOrError(filter: {createdAfter: $recent}, limit: ${TIMELINE_RUNS}) { ${ERROR_FIELDS} ... on Runs { results { runId jobName status createdAt startTime endTime } } }
}`;
const QUERY = `query Overview($since: Float!) {
  inProgress: runsOrError(filter: {statuses: [STARTING, STARTED, CANCELING]}, limit: 10) { ${ERROR_FIELDS} ... on Runs { ${RUN_FIELDS} } }
  queued: runsOrError(filter: {statuses: [QUEUED, NOT_STARTED]}, limit: 10) { ${ERROR_FIELDS} ... on Runs { ${RUN_FIELDS} } }
  failures: runsOrError(filter: {statuses: [FAILURE], createdAfter: $since}, limit: 10) { ${ERROR_FIELDS} ... on Runs { ${RUN_FIELDS} } }
  succeeded: runsOrError(filter: {statuses: [SUCCESS], createdAfter: $since}, limit: 1) { ${ERROR_FIELDS} ... on Runs { count } }
  instance { runCoordinator runLauncher ${DAEMON_FIELDS} }
  ${LEASE_FIELDS}
}`;
const DAY = 24 * 3600;

function stat(id, value, label) {
  return h("div", { class: "stat", id }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

function runList(runs, emptyText) {
  if (!runs.results.length) return h("p", { class: "empty" }, emptyText);
  return h("table", {}, h("tbody", {}, runs.results.map((run) => h("tr", { "data-run-id": run.runId },
    h("td", { class: "mono" }, h("a", { href: `/runs/${encodeURIComponent(run.runId)}` }, shortId(run.runId))),
    h("td", {}, run.jobName), h("td", {}, statusBadge(run.status)),
    h("td", {}, formatAgo(run.createdAt)), h("td", { class: "num" }, formatDuration(runDuration(run)))))));
}

async function loadFleet() {
  try {
    const data = await gql(FLEET_QUERY);
    const workers = expectType(data.workersOrError, "Workers").results;
    const queues = expectType(data.queuesOrError, "Queues").results;
    const summary = fleetSummary(workers, queues);
    show($("#fleet"), h("div", { class: "stats" },
      stat("stat-workers", summary.workers, summary.silent ? `workers (${summary.silent} silent)` : "workers"),
      stat("stat-slots", `${summary.busy} / ${summary.slots}`, "busy slots"),
      stat("stat-queued", summary.queued, "ops waiting in queues")),
      queues.length ? h("p", { class: "log-count" }, queues.map((q) => `${q.name}: ${q.depth ?? "?"} waiting, ${q.consumers.length} consumer(s)`).join(" · ")) : null);
  } catch (error) {
    show($("#fleet"), h("p", { class: "empty" }, "The fleet could not be asked."));
    showError(error, "Worker fleet");
  }
}

/** The runs timeline: read after the counts and lists are shown (it reads more rows). */
async function loadTimeline() {
  try {
    const now = Date.now() / 1000;
    const data = await gql(TIMELINE, { recent: now - TIMELINE_HOURS * 3600 });
    drawRunsTimeline($("#runs-timeline"), expectType(data.runsOrError, "Runs").results, { hours: TIMELINE_HOURS, now });
  } catch (error) {
    showError(error, "Runs timeline");
  }
}

async function loadRuns() {
  try {
    const now = Date.now() / 1000;
    const data = await gql(QUERY, { since: now - DAY });
    const inProgress = expectType(data.inProgress, "Runs");
    const queued = expectType(data.queued, "Runs");
    const failures = expectType(data.failures, "Runs");
    const succeeded = expectType(data.succeeded, "Runs");
    const verdict = daemonVerdict(data.instance.daemonHealth.allDaemonStatuses, data.daemonLease);
    show($("#stats"),
      stat("stat-in-progress", inProgress.count, "runs in progress"),
      stat("stat-queued-runs", queued.count, "runs queued"),
      stat("stat-failures", failures.count, "failed in 24 h"),
      stat("stat-successes", succeeded.count, "succeeded in 24 h"),
      stat("stat-daemon", verdict,
        data.daemonLease ? `daemon on ${data.daemonLease.host}` : "daemon"));
    show($("#in-progress"), runList(inProgress, "Nothing is running."));
    show($("#queued"), runList(queued, "Nothing is queued."));
    show($("#failures"), runList(failures, "No failures in the last 24 hours."));
    show($("#daemons"), daemonTable(data.instance.daemonHealth.allDaemonStatuses, data.daemonLease));
    $("#overview-subtitle").textContent = `run coordinator ${data.instance.runCoordinator.split(".").at(-1)} · run launcher ${data.instance.runLauncher.split(".").at(-1)}`;
  } catch (error) {
    show($("#stats"), h("p", { class: "empty" }, "The overview could not be loaded."));
    showError(error, "Overview");
  }
  markUpdated();
  markReady();
  await loadTimeline();
}

loadFleet(); // asks the workers (up to a second): shown when it answers
loadRuns().then(() => {
  keepFresh(loadRuns); // runs and daemon: read again when the runs change
  keepFresh(loadFleet, { onRuns: false, everyMs: 15000 }); // asking the workers costs more
});

// /deployment: code locations (reload), daemon parts, workers (drain) and queues.
import { $, $$, h, show } from "../lib/dom.js";
import { formatAgo, formatTime, shortId } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError, showInfo } from "../lib/notice.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { confirmAction, hideActions, markReady } from "../lib/page.js";
import { DAEMON_FIELDS, LEASE_FIELDS, daemonTable, fleetQuery } from "../views/fleet.js";
import { loadErrorBox, locationBadge } from "../views/locations.js";
import { sparkline } from "../views/sparkline.js";

const LOCATION_FIELDS = "name state version updatedAt loadError { message errorClass file line traceback } jobs { name } schedules { name } sensors { name }";
const QUERY = `{
  workspaceOrError { ${ERROR_FIELDS} ... on Workspace { locationEntries { ${LOCATION_FIELDS} } } }
  instance { info runCoordinator runLauncher readOnly ${DAEMON_FIELDS} }
  ${LEASE_FIELDS}
}`;
const RELOAD = `mutation($name: String!) { reloadLocation(locationName: $name) { ${ERROR_FIELDS}
  ... on ReloadLocationSuccess { location { ${LOCATION_FIELDS} } } } }`;
// Steps finished per minute on each queue over the last hour (step attempts in storage).
const FLEET_QUERY = fleetQuery("throughput(windowSeconds: 3600, bucketSeconds: 60) { since bucketSeconds finished }");
const DRAIN = `mutation($name: String!) { drainWorker(workerName: $name) { ${ERROR_FIELDS}
  ... on DrainWorkerSuccess { queues } } }`;

let reloading = 0; // reloads in flight: the periodic refresh leaves the table alone meanwhile

/** Reload one location, its row saying so while it does; resolves to true on success. */
async function reloadLocation(name, { quiet = false } = {}) {
  const row = $(`#location-table tr[data-location="${CSS.escape(name)}"]`);
  const button = row?.querySelector("button.reload");
  if (button) {
    button.disabled = true;
    button.textContent = "Reloading…";
  }
  row?.setAttribute("data-reloading", "1");
  reloading += 1;
  try {
    const data = await gql(RELOAD, { name });
    const reloaded = expectType(data.reloadLocation, "ReloadLocationSuccess").location;
    $(`#location-table tr[data-location="${CSS.escape(name)}"]`)?.replaceWith(locationRow(reloaded));
    if (reloaded.loadError) showError(reloaded.loadError.message, `Reloaded ${name}, but its code failed to load`);
    else if (!quiet) showInfo(`Reloaded ${name}: version ${reloaded.version}.`);
    return !reloaded.loadError;
  } catch (error) {
    showError(error, `Reload ${name}`);
    row?.removeAttribute("data-reloading");
    if (button) {
      button.disabled = false;
      button.textContent = "Reload";
    }
    return false;
  } finally {
    reloading -= 1;
  }
}

/** Reload every location one after the other, with a progress bar and a summary. */
async function reloadAll() {
  const names = $$("#location-table tr[data-location]").map((row) => row.dataset.location);
  const button = $("#reload-all");
  const bar = h("progress", { id: "reload-progress", max: names.length, value: 0 });
  const label = h("span", { class: "log-count", id: "reload-progress-label" });
  button.disabled = true;
  show($("#reload-all-status"), bar, " ", label);
  let loaded = 0;
  for (const [index, name] of names.entries()) {
    label.textContent = `reloading ${name} (${index + 1} of ${names.length})…`;
    if (await reloadLocation(name, { quiet: true })) loaded += 1;
    bar.value = index + 1;
  }
  label.textContent = `reloaded ${names.length} location(s): ${loaded} loaded, ${names.length - loaded} with errors`;
  label.dataset.done = "1";
  button.disabled = false;
}

function locationRow(location) {
  const reload = h("button", { type: "button", class: "button-small reload", "data-action": true, onclick: () => reloadLocation(location.name) }, "Reload");
  const row = h("tr", { "data-location": location.name },
    h("td", {}, h("a", { href: `/jobs#location-${location.name}` }, location.name)),
    h("td", {}, locationBadge(location.state)),
    h("td", { class: "mono" }, location.version || "—"),
    h("td", {}, `${location.jobs.length} jobs, ${location.schedules.length} schedules, ${location.sensors.length} sensors`),
    h("td", {}, location.updatedAt ? formatTime(location.updatedAt) : "—"),
    h("td", {}, location.loadError ? loadErrorBox(location.loadError) : "—"),
    h("td", {}, reload));
  hideActions(row);
  return row;
}

function workerTable(workers) {
  if (!workers.length) return h("p", { class: "empty", id: "no-workers" }, "No Celery worker answers or heartbeats. Start one with `opgraph workers start`.");
  const rows = workers.map((worker) => {
    const drain = h("button", { type: "button", class: "button-small button-danger", "data-action": true, onclick: async () => {
      if (!(await confirmAction(`Drain ${worker.name}? It finishes the ops it runs and takes no new ones.`, "Drain"))) return;
      try {
        const data = await gql(DRAIN, { name: worker.name });
        const result = expectType(data.drainWorker, "DrainWorkerSuccess");
        showInfo(`${worker.name} stopped consuming ${result.queues.join(", ")}.`);
        loadFleet();
      } catch (error) {
        showError(error, `Drain ${worker.name}`);
      }
    } }, "Drain");
    return h("tr", { "data-worker": worker.name },
      h("td", { class: "mono" }, worker.name),
      h("td", {}, worker.responding ? "answering" : h("span", { class: "badge status-bad" }, "silent")),
      h("td", {}, worker.queues.join(", ") || h("span", { class: "empty" }, "none (drained)")),
      h("td", { class: "num" }, `${worker.active.length} / ${worker.concurrency ?? "?"}`),
      h("td", {}, worker.active.length
        ? h("ul", {}, worker.active.map((op) => h("li", {}, h("a", { href: `/runs/${encodeURIComponent(op.runId)}` }, shortId(op.runId)), ` ${op.stepKey}`)))
        : "—"),
      h("td", {}, formatAgo(worker.lastHeartbeat)),
      h("td", {}, worker.queues.length ? drain : ""));
  });
  const table = h("table", { id: "worker-table" },
    h("thead", {}, h("tr", {}, ["Worker", "State", "Queues", "Busy", "Active ops", "Last heartbeat", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows));
  hideActions(table);
  return table;
}

function queueTable(queues) {
  if (!queues.length) return h("p", { class: "empty" }, "No queues.");
  return h("table", { id: "queue-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th", { class: "num" }, "Waiting"), h("th", {}, "Consumers"),
      h("th", { title: "Steps finished per minute (any outcome), the last hour; the newest minute is still filling" }, "Finished per minute, last hour"),
      h("th", { class: "num" }, "Last hour"))),
    h("tbody", {}, queues.map((q) => h("tr", { "data-queue": q.name },
      h("td", { class: "mono" }, q.name), h("td", { class: "num" }, q.depth ?? "?"), h("td", { class: "mono" }, q.consumers.join(", ") || "—"),
      h("td", { class: "sparkline-cell" }, sparkline(q.throughput.finished, { since: q.throughput.since, bucketSeconds: q.throughput.bucketSeconds })),
      h("td", { class: "num queue-finished" }, q.throughput.finished.reduce((sum, c) => sum + c, 0))))));
}

async function loadFleet() {
  try {
    const data = await gql(FLEET_QUERY);
    show($("#worker-list"), workerTable(expectType(data.workersOrError, "Workers").results));
    show($("#queue-list"), queueTable(expectType(data.queuesOrError, "Queues").results));
    document.body.dataset.fleetLoaded = String(Date.now());
  } catch (error) {
    show($("#worker-list"), h("p", { class: "empty" }, "The fleet could not be asked."));
    showError(error, "Workers");
  }
}

async function loadMain() {
  try {
    const data = await gql(QUERY);
    $("#instance-info").textContent = data.instance.info.split("\n").join(" · ");
    show($("#daemons"), daemonTable(data.instance.daemonHealth.allDaemonStatuses, data.daemonLease));
    try {
      const workspace = expectType(data.workspaceOrError, "Workspace");
      if (!reloading) show($("#locations"), h("table", { id: "location-table" },
        h("thead", {}, h("tr", {}, ["Location", "State", "Version", "Holds", "Updated", "Load error", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, workspace.locationEntries.map(locationRow))));
    } catch (error) {
      show($("#locations"), h("p", { class: "empty" }, error.message));
      showError(error, "Workspace");
    }
  } catch (error) {
    showError(error, "Deployment");
  }
  markUpdated();
  markReady();
}

$("#refresh-fleet").addEventListener("click", loadFleet);
$("#reload-all").addEventListener("click", reloadAll);
loadFleet();
loadMain().then(() => {
  keepFresh(loadMain, { onRuns: false, everyMs: 5000 }); // daemon health and locations
  keepFresh(loadFleet, { onRuns: false, everyMs: 15000 }); // asking the workers costs more
});

// The daemon and the worker fleet, shared by the overview and deployment pages.
import { h } from "../lib/dom.js";
import { formatAgo } from "../lib/format.js";
import { ERROR_FIELDS } from "../lib/gql.js";

export const DAEMON_FIELDS = `daemonHealth { allDaemonStatuses { daemonType id healthy lastHeartbeatTime
  secondsSinceHeartbeat lastHeartbeatErrors } }`;
export const LEASE_FIELDS = "daemonLease { holder host pid acquiredAt expiresAt generation }";
const STANDBY = "DAEMON_STANDBY";
export const FLEET_QUERY = `{
  workersOrError { ${ERROR_FIELDS} ... on Workers { results { name queues concurrency pid lastHeartbeat responding
    active { runId stepKey attemptId startTime } } } }
  queuesOrError { ${ERROR_FIELDS} ... on Queues { results { name depth consumers } } }
}`;

// The server lists only the daemon's parts (a fleet's workers are in workersOrError).
export function daemonParts(statuses) {
  return statuses;
}

/** Who is active (the lease holder) and who waits as standby, then every part's health. */
export function daemonTable(statuses, lease) {
  const parts = daemonParts(statuses);
  const leaseLine = lease
    ? h("p", { id: "daemon-lease" }, "Active daemon on ", h("strong", { class: "mono" }, lease.host), ` (pid ${lease.pid}) since ${formatAgo(lease.acquiredAt)}, lease generation ${lease.generation}.`)
    : h("p", { class: "empty", id: "daemon-lease" }, "No daemon holds the lease: schedules, sensors and the run queue are not being served. Start one with `opgraph daemon run`.");
  if (!parts.length) return leaseLine;
  const role = (part) => (part.daemonType === STANDBY ? "standby" : lease && part.id === lease.holder ? "active" : "—");
  return [leaseLine, h("table", { id: "daemon-table" },
    h("thead", {}, h("tr", {}, ["Part", "Daemon id", "Role", "Health", "Last heartbeat", "Errors"].map((t) => h("th", {}, t)))),
    h("tbody", {}, parts.map((part) => h("tr", { "data-daemon": part.daemonType, "data-role": role(part) },
      h("td", {}, part.daemonType), h("td", { class: "mono" }, part.id), h("td", {}, role(part)),
      h("td", {}, h("span", { class: ["badge", part.healthy ? "status-ok" : "status-bad"] }, part.healthy ? "healthy" : "unhealthy")),
      h("td", {}, formatAgo(part.lastHeartbeatTime)),
      h("td", {}, part.lastHeartbeatErrors.length ? h("pre", {}, part.lastHeartbeatErrors.join("\n")) : "—")))))];
}

/** {workers, busy, slots, queued} of a fleet answer. */
export function fleetSummary(workers, queues) {
  const slots = workers.reduce((sum, w) => sum + (w.concurrency || 0), 0);
  const busy = workers.reduce((sum, w) => sum + w.active.length, 0);
  const queued = queues.reduce((sum, q) => sum + (q.depth || 0), 0);
  return { workers: workers.filter((w) => w.responding).length, silent: workers.filter((w) => !w.responding).length, busy, slots, queued };
}

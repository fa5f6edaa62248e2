// The daemon and the worker fleet, shared by the overview and deployment pages.
import { h } from "../lib/dom.js";
import { formatAgo, statusBadge } from "../lib/format.js";
import { ERROR_FIELDS } from "../lib/gql.js";

// Celery workers heartbeat into the same table as the daemon's parts, under this prefix.
export const WORKER_HEARTBEAT_PREFIX = "celery_worker:";

export const DAEMON_FIELDS = `daemonHealth { allDaemonStatuses { daemonType id healthy lastHeartbeatTime
  secondsSinceHeartbeat lastHeartbeatErrors } }`;
export const FLEET_QUERY = `{
  workersOrError { ${ERROR_FIELDS} ... on Workers { results { name queues concurrency pid lastHeartbeat responding
    active { runId stepKey attemptId startTime } } } }
  queuesOrError { ${ERROR_FIELDS} ... on Queues { results { name depth consumers } } }
}`;

export function daemonParts(statuses) {
  return statuses.filter((s) => !s.daemonType.startsWith(WORKER_HEARTBEAT_PREFIX));
}

export function daemonTable(statuses) {
  const parts = daemonParts(statuses);
  if (!parts.length) return h("p", { class: "empty", id: "no-daemon" }, "No daemon has reported: schedules, sensors and the run queue are not being served. Start one with `opgraph daemon run`.");
  return h("table", { id: "daemon-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Part"), h("th", {}, "Host / id"), h("th", {}, "Health"), h("th", {}, "Last heartbeat"), h("th", {}, "Errors"))),
    h("tbody", {}, parts.map((part) => h("tr", { "data-daemon": part.daemonType },
      h("td", {}, part.daemonType), h("td", { class: "mono" }, part.id),
      h("td", {}, statusBadge(part.healthy ? "SUCCESS" : "FAILURE")),
      h("td", {}, formatAgo(part.lastHeartbeatTime)),
      h("td", {}, part.lastHeartbeatErrors.length ? h("pre", {}, part.lastHeartbeatErrors.join("\n")) : "—")))));
}

/** {workers, busy, slots, queued} of a fleet answer. */
export function fleetSummary(workers, queues) {
  const slots = workers.reduce((sum, w) => sum + (w.concurrency || 0), 0);
  const busy = workers.reduce((sum, w) => sum + w.active.length, 0);
  const queued = queues.reduce((sum, q) => sum + (q.depth || 0), 0);
  return { workers: workers.filter((w) => w.responding).length, silent: workers.filter((w) => !w.responding).length, busy, slots, queued };
}

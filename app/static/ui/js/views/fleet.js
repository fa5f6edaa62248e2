// The daemon and the worker fleet, shared by the overview and deployment pages.
import { h } from "../lib/dom.js";
import { formatAgo, formatDuration } from "../lib/format.js";
import { ERROR_FIELDS } from "../lib/gql.js";

export const DAEMON_FIELDS = `daemonHealth { allDaemonStatuses { daemonType id healthy lastHeartbeatTime
  secondsSinceHeartbeat lastHeartbeatErrors state intervalSeconds staleAfterSeconds consecutiveFailures restarts } }`;
export const LEASE_FIELDS = "daemonLease { holder host pid acquiredAt expiresAt generation }";
const STANDBY = "DAEMON_STANDBY";
/** The fleet's workers and queues; `queueFields` adds fields to each queue. */
export function fleetQuery(queueFields = "") {
  return `{
  workersOrError { ${ERROR_FIELDS} ... on Workers { results { name queues concurrency pid lastHeartbeat responding
    active { runId stepKey attemptId startTime } } } }
  queuesOrError { ${ERROR_FIELDS} ... on Queues { results { name depth consumers ${queueFields} } } }
}`;
}
export const FLEET_QUERY = fleetQuery();

/**
 * The daemon's parts (a fleet's workers are in workersOrError), each marked `current`
 * when it belongs to the daemon that runs now: the lease holder's parts and a standby
 * that still beats. The beats of a daemon that left (a standby that took over or
 * stopped, an earlier daemon's parts) stay in storage; they are shown as "left", and
 * they do not make the daemon unhealthy. Each part is judged against its own interval
 * (staleAfterSeconds), so an hourly part is healthy all hour.
 */
export function daemonParts(statuses, lease) {
  return statuses.map((part) => {
    const ownedByActive = lease && part.id === lease.holder;
    const freshStandby = part.daemonType === STANDBY && part.secondsSinceHeartbeat <= part.staleAfterSeconds && !ownedByActive;
    // Without a lease no daemon runs: every part's beat is one a daemon left behind.
    const current = part.daemonType === STANDBY ? freshStandby : Boolean(ownedByActive);
    return { ...part, current };
  });
}

/** "healthy" / "unhealthy" / "none": the active daemon's parts and live standbys only. */
export function daemonVerdict(statuses, lease) {
  if (!lease) return "none";
  return daemonParts(statuses, lease).filter((p) => p.current).every((p) => p.healthy) ? "healthy" : "unhealthy";
}

function healthBadge(part) {
  if (!part.current) return h("span", { class: "badge status-muted", title: `last state: ${part.state}` }, "left");
  return h("span", { class: ["badge", part.healthy ? "status-ok" : "status-bad"], title: `state: ${part.state}` }, part.healthy ? "healthy" : "unhealthy");
}

/** Who is active (the lease holder) and who waits as standby, then every part's health. */
export function daemonTable(statuses, lease) {
  const parts = daemonParts(statuses, lease);
  const leaseLine = lease
    ? h("p", { id: "daemon-lease" }, "Active daemon on ", h("strong", { class: "mono" }, lease.host), ` (pid ${lease.pid}) since ${formatAgo(lease.acquiredAt)}, lease generation ${lease.generation}.`)
    : h("p", { class: "empty", id: "daemon-lease" }, "No daemon holds the lease: schedules, sensors and the run queue are not being served. Start one with `opgraph daemon run`.");
  if (!parts.length) return leaseLine;
  const role = (part) => (!part.current ? "left" : part.daemonType === STANDBY ? "standby" : lease && part.id === lease.holder ? "active" : "—");
  return [leaseLine, h("table", { id: "daemon-table" },
    h("thead", {}, h("tr", {}, ["Part", "Daemon id", "Role", "Health", "Beats every", "Last heartbeat", "Errors"].map((t) => h("th", {}, t)))),
    h("tbody", {}, parts.map((part) => h("tr", { "data-daemon": part.daemonType, "data-role": role(part), "data-healthy": part.current ? String(part.healthy) : "left", class: part.current ? "" : "row-left" },
      h("td", {}, part.daemonType), h("td", { class: "mono" }, part.id), h("td", {}, role(part)),
      h("td", {}, healthBadge(part),
        part.state === "running" || !part.current ? "" : ` ${part.state}`,
        part.restarts ? ` (restarted ${part.restarts}×)` : "",
        part.consecutiveFailures ? ` (${part.consecutiveFailures} failed ticks)` : ""),
      h("td", { class: "num" }, part.intervalSeconds ? formatDuration(part.intervalSeconds) : "—"),
      h("td", { title: `next beat due within ${formatDuration(part.staleAfterSeconds)} of the last` }, formatAgo(part.lastHeartbeatTime)),
      h("td", {}, part.lastHeartbeatErrors.length ? h("pre", {}, part.lastHeartbeatErrors.join("\n")) : "—")))))];
}

/** {workers, busy, slots, queued} of a fleet answer. */
export function fleetSummary(workers, queues) {
  const slots = workers.reduce((sum, w) => sum + (w.concurrency || 0), 0);
  const busy = workers.reduce((sum, w) => sum + w.active.length, 0);
  const queued = queues.reduce((sum, q) => sum + (q.depth || 0), 0);
  return { workers: workers.filter((w) => w.responding).length, silent: workers.filter((w) => !w.responding).length, busy, slots, queued };
}

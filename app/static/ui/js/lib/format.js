// Times, durations, statuses and tags as the UI shows them everywhere.
import { h } from "./dom.js";

const pad = (n) => String(n).padStart(2, "0");

/** Seconds since the epoch -> "2026-11-27 10:32:05" in the browser's time zone. */
export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "10:32:05.123" for log lines. */
export function formatClock(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} m ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

export function formatAgo(seconds, now = Date.now() / 1000) {
  if (seconds === null || seconds === undefined) return "never";
  return `${formatDuration(Math.max(0, now - seconds))} ago`;
}

/** A run's duration: end - start, or so far while it runs. */
export function runDuration(run, now = Date.now() / 1000) {
  if (!run.startTime) return null;
  return (run.endTime || now) - run.startTime;
}

const STATUS_CLASS = {
  SUCCESS: "ok", FAILURE: "bad", CANCELED: "muted", CANCELING: "warn", STARTED: "live",
  STARTING: "live", QUEUED: "queued", NOT_STARTED: "queued", UP_FOR_RETRY: "warn",
  SKIPPED: "muted", PENDING: "queued", PLANNED: "planned", NOT_RUN: "muted", FRESH: "ok", STALE: "warn", MISSING: "muted", RUNNING: "live", STOPPED: "muted", SKIP: "muted",
  MATERIALIZED: "ok", FAILED: "bad", IN_PROGRESS: "live", SUBMITTED: "live", REQUESTED: "live", COMPLETED: "ok",
};

export function statusClass(status) {
  return `status-${STATUS_CLASS[status] || "muted"}`;
}

export function statusBadge(status) {
  return h("span", { class: ["badge", statusClass(status)], dataset: { status } }, status);
}

/** Tags as small chips; opgraph's own tags (opgraph/...) are dimmed. With `onPick(tag)`,
 * each chip is a button that filters by its tag ("key=value"). */
export function tagChips(tags, onPick = null) {
  return tags.map((tag) => {
    const text = `${tag.key}=${tag.value}`;
    const cls = ["tag", tag.key.startsWith("opgraph/") && "tag-system", onPick && "tag-pick"];
    if (!onPick) return h("span", { class: cls, title: text }, text);
    return h("button", { type: "button", class: cls, title: `Show only runs tagged ${text}`, "data-tag": text, onclick: () => onPick(text) }, text);
  });
}

/** Who or what launched a run, from its tags and parent (see docs/ui.md). */
export function launchedBy(run) {
  const tags = Object.fromEntries(run.tags.map((t) => [t.key, t.value]));
  if (tags["opgraph/schedule_name"]) return `schedule ${tags["opgraph/schedule_name"]}`;
  if (tags["opgraph/sensor_name"]) return `sensor ${tags["opgraph/sensor_name"]}`;
  if (run.parentRunId) return "re-execution";
  if (tags["opgraph/launched_by"]) return tags["opgraph/launched_by"];
  return "CLI / API";
}

export function shortId(runId) {
  return runId.length > 8 ? runId.slice(0, 8) : runId;
}

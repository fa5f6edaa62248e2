// Pages that keep themselves fresh without a reload. Every second (while the tab is
// visible) a page asks GraphQL's `runsChange`, a mark that costs the webserver a few
// indexed reads; only when the mark moved does the page read its data again. A new run
// is read at once; a stream of status changes at most every `throttleMs`. Pages whose data
// is not about runs (schedules, sensors, deployment) read it every `everyMs` instead.
// The top bar says when the page last read its data ("updated 3 s ago").
import { gql } from "./gql.js";

const MARK = "{ runsChange { newestRunId liveMark } }";
const TICK_MS = 1000;

let lastUpdate = null;
let indicator = null;

function showUpdated() {
  if (!indicator) {
    indicator = document.getElementById("updated-ago");
    if (!indicator) return;
    indicator.hidden = false;
  }
  if (lastUpdate === null) return;
  const seconds = Math.max(0, Math.round((Date.now() - lastUpdate) / 1000));
  indicator.textContent = seconds < 2 ? "updated just now" : `updated ${seconds} s ago`;
  indicator.dataset.updatedAt = String(lastUpdate);
}

/** Say that the page's data was just read (pages call it after each load). */
export function markUpdated() {
  lastUpdate = Date.now();
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  showUpdated();
}

/**
 * Call `load()` again when the runs change (`onRuns: true`) or every `everyMs`.
 * `paused()` -> true skips a round (e.g. while the user has rows selected).
 * Returns a function that stops it.
 */
export function keepFresh(load, { onRuns = true, everyMs = 5000, throttleMs = 3000, paused = () => false } = {}) {
  let mark = null;
  let lastLoad = Date.now();
  let busy = false;
  let stopped = false;

  async function reload() {
    busy = true;
    try {
      await load();
      lastLoad = Date.now();
    } finally {
      busy = false;
    }
  }

  async function round() {
    if (busy || document.hidden || paused()) return;
    if (!onRuns) {
      if (Date.now() - lastLoad >= everyMs) await reload();
      return;
    }
    let next;
    try {
      next = (await gql(MARK)).runsChange;
    } catch {
      return; // the page's own load reports errors; the mark tries again next second
    }
    const previous = mark;
    mark = next;
    if (previous === null) return; // the first look: the page has just loaded its data
    const newRun = next.newestRunId !== previous.newestRunId;
    const changed = newRun || next.liveMark !== previous.liveMark;
    if (newRun || (changed && Date.now() - lastLoad >= throttleMs)) await reload();
    else if (changed) mark = previous; // seen later, once the throttle allows a read
    else if (Date.now() - lastLoad >= everyMs * 6) await reload(); // durations, ages
  }

  const timer = setInterval(() => {
    showUpdated();
    if (!stopped) round();
  }, TICK_MS);
  round();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

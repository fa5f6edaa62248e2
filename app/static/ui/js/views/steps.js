// Step state derived from the run's events, as app/run_views.step_summaries derives it on
// the server (events are the truth), plus each attempt on its own for the timeline. A step
// waiting on a broker queue has no event: the run's live step attempts (QUEUED, RUNNING;
// Run.liveStepAttempts, read once a second) mark it QUEUED until its start event arrives.
import { formatDuration, formatTime } from "../lib/format.js";

const STATUS_OF = {
  STEP_START: "STARTED", STEP_RESTARTED: "STARTED", STEP_UP_FOR_RETRY: "UP_FOR_RETRY",
  STEP_SUCCESS: "SUCCESS", STEP_FAILURE: "FAILURE", STEP_SKIPPED: "SKIPPED",
};
const STARTS = new Set(["STEP_START", "STEP_RESTARTED"]);
const ATTEMPT_ENDS = new Set(["STEP_UP_FOR_RETRY", "STEP_SUCCESS", "STEP_FAILURE"]);
const WORKER_KEYS = ["worker", "hostname", "host"];
const ENDED = new Set(["SUCCESS", "FAILURE", "SKIPPED"]);

/** The op handle of a step key: "process[3]" -> "process". */
export function opHandle(stepKey) {
  const bracket = stepKey.indexOf("[");
  return bracket === -1 ? stepKey : stepKey.slice(0, bracket);
}

/** Where and since when a QUEUED step waits, for a tooltip. */
export function queuedNote(step, now = Date.now() / 1000) {
  const waited = formatDuration(Math.max(0, now - step.queuedAt));
  return `${step.stepKey}: queued on ${step.queue || "the default queue"} since ${formatTime(step.queuedAt)} (${waited}); no worker has taken it yet`;
}

/** Folds events into steps; feed it batches as they arrive (events in stored order). */
export class StepTracker {
  constructor(defaultWorker = null) {
    this.defaultWorker = defaultWorker;
    this.steps = new Map(); // stepKey -> {stepKey, status, attempts: [...], startTime, endTime}
    this.runStart = null;
    this.runEnd = null;
    this.planned = []; // [{key, mapped}] from the execution plan, in plan order
    this.live = new Map(); // stepKey -> its live attempt {attemptNumber, status, queue, queuedAt, ...}
  }

  /** The run's QUEUED and RUNNING step attempts, as last read (replaces the previous read). */
  setLive(attempts) {
    this.live = new Map(attempts.map((attempt) => [attempt.stepKey, attempt]));
  }

  /** `step` (or a step not seen in events yet, when null) as its live attempt shows it, or
   * `step` itself when the events already say more: the read may be older than they are. */
  #withLive(stepKey, step) {
    const attempt = this.live.get(stepKey);
    if (!attempt || (step && (ENDED.has(step.status) || step.attempts.some((a) => a.number === attempt.attemptNumber)))) return step;
    const base = step || { stepKey, status: "PENDING", attempts: [], startTime: null, endTime: null };
    // Claimed by a worker, its start event not here yet: it runs (the run page's STARTED).
    const status = attempt.status === "QUEUED" ? "QUEUED" : "STARTED";
    return { ...base, status, queue: attempt.queue, queuedAt: attempt.queuedAt, claimedBy: attempt.worker };
  }

  /** Every step seen (events or a live attempt), each as the live attempts show it. */
  #shownSteps() {
    const shown = new Map();
    for (const [key, step] of this.steps) shown.set(key, this.#withLive(key, step));
    for (const key of this.live.keys()) if (!shown.has(key)) shown.set(key, this.#withLive(key, null));
    return shown;
  }

  /** Steps the run is to execute (the plan), shown before their first event as PLANNED,
   * and as NOT_RUN once the run ended without them (an upstream failed, or it was reused
   * from the parent run). A mapped op is one planned row until its mapped steps appear. */
  plan(steps) {
    this.planned = steps.map((step) => ({ key: step.key, mapped: Boolean(step.mappedOver), upstream: step.upstreamKeys || [] }));
  }

  add(events) {
    for (const event of events) this.#addOne(event);
  }

  #addOne(event) {
    const type = event.eventType;
    if (type === "RUN_START" && this.runStart === null) this.runStart = event.timestamp;
    if (type === "RUN_SUCCESS" || type === "RUN_FAILURE" || type === "RUN_CANCELED") this.runEnd = event.timestamp;
    if (!event.stepKey || !(type in STATUS_OF)) return;
    let step = this.steps.get(event.stepKey);
    if (!step) {
      step = { stepKey: event.stepKey, status: "PENDING", attempts: [], startTime: null, endTime: null };
      this.steps.set(event.stepKey, step);
    }
    const number = event.attempt ?? step.attempts.length;
    if (STARTS.has(type)) {
      // A redelivered task may log its start twice: one attempt per attempt number.
      if (!step.attempts.some((a) => a.number === number)) {
        const named = WORKER_KEYS.map((key) => event.data?.[key]).find(Boolean);
        step.attempts.push({
          number, status: "STARTED", startTime: event.timestamp, endTime: null,
          worker: named ? String(named) : this.defaultWorker, // Celery steps name their worker
        });
      }
      if (step.startTime === null) step.startTime = event.timestamp;
      step.endTime = null;
    }
    if (ATTEMPT_ENDS.has(type)) {
      const attempt = step.attempts.find((a) => a.number === number) || step.attempts.at(-1);
      if (attempt) {
        attempt.endTime = event.timestamp;
        attempt.status = STATUS_OF[type];
      }
    }
    if (type === "STEP_SUCCESS" || type === "STEP_FAILURE" || type === "STEP_SKIPPED") step.endTime = event.timestamp;
    step.status = STATUS_OF[type];
  }

  list() {
    const steps = this.#shownSteps();
    if (!this.planned.length) return [...steps.values()];
    const shown = [];
    const covered = new Set();
    const waiting = this.runEnd === null ? "PLANNED" : "NOT_RUN";
    const placeholder = (stepKey) => ({ stepKey, status: waiting, attempts: [], startTime: null, endTime: null, planned: true });
    for (const { key, mapped } of this.planned) {
      const real = mapped ? [...steps.values()].filter((s) => opHandle(s.stepKey) === key) : [steps.get(key)].filter(Boolean);
      if (real.length) {
        for (const step of real) covered.add(step.stepKey);
        shown.push(...real);
      } else {
        shown.push(placeholder(mapped ? `${key}[?]` : key));
      }
    }
    for (const step of steps.values()) if (!covered.has(step.stepKey)) shown.push(step); // not in the plan read
    return shown;
  }

  /** Steps with their upstream steps, for step queries (the plan's, else the steps seen). */
  graph() {
    if (this.planned.length) {
      const keys = this.list().map((s) => s.stepKey);
      const upOf = new Map(this.planned.map((p) => [p.key, p.upstream]));
      const keysOf = new Map(); // op handle -> its step keys (a mapped op has many)
      for (const key of keys) {
        const handle = opHandle(key);
        if (!keysOf.has(handle)) keysOf.set(handle, []);
        keysOf.get(handle).push(key);
      }
      return keys.map((key) => ({ key, upstream: (upOf.get(opHandle(key)) || []).flatMap((u) => keysOf.get(u) || []) }));
    }
    return this.list().map((s) => ({ key: s.stepKey, upstream: [] }));
  }

  /** Status per op handle (mapped steps folded into their op): the worst one wins (with
   * its queue when it is QUEUED). */
  statusByOp() {
    const rank = { FAILURE: 7, STARTED: 6, UP_FOR_RETRY: 5, QUEUED: 4, PENDING: 3, SKIPPED: 2, SUCCESS: 1 };
    const result = new Map();
    for (const step of this.#shownSteps().values()) {
      const handle = opHandle(step.stepKey);
      const seen = result.get(handle);
      if (!seen || rank[step.status] > rank[seen.status]) result.set(handle, { status: step.status, count: (seen?.count || 0) + 1, queue: step.queue });
      else seen.count += 1;
    }
    return result;
  }
}

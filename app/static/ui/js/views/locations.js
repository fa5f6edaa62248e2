// Code location state and load errors, shared by the jobs and deployment pages.
import { h } from "../lib/dom.js";

const STATE_STATUS = { LOADED: "SUCCESS", LOADING: "STARTED", ERROR: "FAILURE" };

export function locationBadge(state) {
  const status = STATE_STATUS[state] || "CANCELED";
  return h("span", { class: ["badge", `status-${{ SUCCESS: "ok", FAILURE: "bad", STARTED: "live" }[status] || "muted"}`], dataset: { state } }, state);
}

/** A location's load error: message, where in the user's code, and the traceback. */
export function loadErrorBox(error) {
  const where = error.file ? `${error.file}${error.line ? `:${error.line}` : ""}` : null;
  return h("div", { class: "traceback load-error" },
    h("strong", {}, error.errorClass && !error.message.startsWith(error.errorClass) ? `${error.errorClass}: ${error.message}` : error.message),
    where ? h("div", { class: "mono" }, where) : null,
    error.traceback ? h("details", {}, h("summary", {}, "Traceback"), h("pre", {}, error.traceback)) : null);
}

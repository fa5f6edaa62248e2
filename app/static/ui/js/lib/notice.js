// Errors are shown, never swallowed: every failed request, typed GraphQL error and
// uncaught exception ends up as a notice at the top of the page.
import { h } from "./dom.js";

function container() {
  return document.getElementById("notices");
}

function notice(kind, title, detail) {
  // The same problem again (e.g. a page refreshing itself while the webserver is down):
  // one notice says it, not one more every few seconds.
  for (const shown of container().children) {
    if (shown.dataset.title === title && shown.dataset.kind === kind) return shown;
  }
  const box = h("div", { class: ["notice", `notice-${kind}`], role: kind === "error" ? "alert" : "status" },
    h("button", { type: "button", class: "notice-close", "aria-label": "Dismiss", onclick: () => box.remove() }, "×"),
    h("strong", {}, title),
    detail ? h("div", { class: "notice-detail" }, detail) : null);
  box.dataset.title = title;
  box.dataset.kind = kind;
  container().append(box);
  return box;
}

/** Show an error: an Error (its message), a typed GraphQL error object, or a string. */
export function showError(error, context = "") {
  const message = typeof error === "string" ? error : error?.message || String(error);
  const detail = error?.details ? error.details : null;
  console.error(context, error);
  return notice("error", context ? `${context}: ${message}` : message, detail);
}

export function showInfo(message) {
  const box = notice("info", message);
  setTimeout(() => box.remove(), 8000);
  return box;
}

window.addEventListener("error", (event) => showError(event.error || event.message, "Unexpected error"));
window.addEventListener("unhandledrejection", (event) => showError(event.reason, "Unexpected error"));

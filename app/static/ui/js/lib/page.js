// What every page shares: its body data, read-only mode, confirmation, readiness mark.
import { $$ } from "./dom.js";
import { setToken } from "./gql.js";
import { showInfo } from "./notice.js";
import { wireSearch } from "./search.js";

export const pageData = document.body.dataset;
export const readOnly = pageData.readOnly === "1";

/** Hide every element marked as an action in read-only mode (they would be refused). */
export function hideActions(root = document) {
  if (!readOnly) return;
  for (const el of $$("[data-action]", root)) el.hidden = true;
}

/** Mark the page's main data as shown: tests and benchmarks wait for it. */
export function markReady() {
  if (document.body.dataset.ready) return;
  window.opgraphReadyMs = performance.now();
  document.body.dataset.ready = "1";
}

/** Ask before doing something; resolves true when confirmed. The two buttons say what
 * each does ("Keep running" / "Stop the run"), never "Cancel" against "Cancel run". */
export function confirmAction(text, okLabel = "Confirm", backLabel = "Back") {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  document.getElementById("confirm-back").textContent = backLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}

const tokenButton = document.getElementById("token-button");
if (tokenButton) {
  tokenButton.addEventListener("click", () => {
    const token = window.prompt("Token for changes (webserver.auth_token); kept for this tab only:");
    if (token !== null) {
      setToken(token.trim());
      showInfo(token.trim() ? "Token set for this tab." : "Token cleared.");
    }
  });
}

hideActions();
wireSearch();

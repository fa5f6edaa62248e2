// /schedules/<location>/<name> and /sensors/<location>/<name>: definition, status with a
// switch, next ticks, tick history, a dry run, and the runs it launched.
import { $, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, runDuration, shortId, statusBadge } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError, showInfo } from "../lib/notice.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { hideActions, markReady, pageData } from "../lib/page.js";
import { KINDS, cadence, oneQuery, tickRow, toggleButton } from "../views/instigators.js";

const { kind, location, name } = pageData;
const k = KINDS[kind];
const fullName = `${location}:${name}`;
const DRY_RUN = `mutation($name: String!) { ${k.dryRun}(name: $name) { ${ERROR_FIELDS}
  ... on DryRun { skipReason cursor error runRequests { runKey jobName runConfig tags } } } }`;

function renderItem(item) {
  const dryRunResult = $("#dry-run-result") || h("div", { id: "dry-run-result" }); // kept across refreshes
  show($("#definition"),
    h("dt", {}, "Job"), h("dd", {}, h("a", { href: `/jobs/${encodeURIComponent(location)}/${encodeURIComponent(item.jobName)}` }, item.jobName)),
    h("dt", {}, kind === "schedule" ? "Schedule" : "Interval"), h("dd", { class: "mono" }, cadence(kind, item)),
    h("dt", {}, "Default status"), h("dd", {}, statusBadge(item.defaultStatus)),
    h("dt", {}, "Description"), h("dd", {}, item.description || "—"));
  show($("#state"),
    h("p", { id: "instigator-status", "data-status": item.status }, statusBadge(item.status), " ",
      toggleButton(kind, item, (changed) => { showInfo(`${name} is ${changed.status.toLowerCase()}.`); load(); })),
    kind === "schedule"
      ? [h("h3", {}, "Next ticks"), item.status === "RUNNING"
        ? h("ul", { id: "next-ticks" }, item.nextTickTimestamps.map((t) => h("li", {}, formatTime(t))))
        : h("p", { class: "empty" }, "None while it is stopped.")]
      : [h("h3", {}, "Cursor"), h("pre", { class: "log-detail", id: "sensor-cursor" }, item.cursor ?? "(none)")],
    h("h3", {}, "Dry run"),
    h("p", {}, h("button", { type: "button", id: "dry-run", "data-action": true, onclick: dryRun }, kind === "schedule" ? "Evaluate the next tick" : "Evaluate now"),
      h("span", { class: "log-count" }, " makes no run and stores nothing")),
    dryRunResult);
  show($("#ticks"), item.ticks.length
    ? h("table", { id: "tick-table" }, h("thead", {}, h("tr", {}, ["Time", "Status", "Runs", "Skip reason", "Error", "Cursor"].map((t) => h("th", {}, t)))),
      h("tbody", {}, item.ticks.map(tickRow)))
    : h("p", { class: "empty" }, "No tick yet."));
  hideActions($("#state"));
}

async function dryRun() {
  const box = $("#dry-run-result");
  show(box, h("span", { class: "loading" }, "Evaluating…"));
  try {
    const data = await gql(DRY_RUN, { name: fullName });
    const result = expectType(data[k.dryRun], "DryRun");
    show(box,
      result.error ? h("div", { class: "traceback" }, h("pre", {}, result.error)) : null,
      result.skipReason ? h("p", {}, "Skipped: ", h("span", { id: "dry-run-skip" }, result.skipReason)) : null,
      result.runRequests.length
        ? h("ul", { id: "dry-run-requests" }, result.runRequests.map((r) => h("li", {},
          `run ${r.runKey ? `key ${r.runKey}` : "(no key)"} of ${r.jobName || "the job"}`,
          h("pre", { class: "log-detail" }, JSON.stringify({ runConfig: r.runConfig, tags: r.tags }, null, 2)))))
        : (result.skipReason || result.error ? null : h("p", { class: "empty" }, "No run requested.")),
      result.cursor != null ? h("p", { class: "mono" }, `cursor after: ${result.cursor}`) : null);
  } catch (error) {
    show(box, "");
    showError(error, "Dry run");
  }
}

function renderRuns(runs) {
  $("#all-runs-link").href = `/runs?tag=${encodeURIComponent(`${k.tag}=${name}`)}`;
  show($("#instigator-runs"), runs.results.length
    ? h("table", {}, h("thead", {}, h("tr", {}, ["Run", "Status", "Tick", "Created", "Duration"].map((t) => h("th", {}, t)))),
      h("tbody", {}, runs.results.map((run) => h("tr", {},
        h("td", { class: "mono" }, h("a", { href: `/runs/${encodeURIComponent(run.runId)}` }, shortId(run.runId))),
        h("td", {}, statusBadge(run.status)),
        h("td", { class: "mono" }, run.tags.find((t) => t.key === "opgraph/tick")?.value || "—"),
        h("td", {}, formatTime(run.createdAt)),
        h("td", { class: "num" }, formatDuration(runDuration(run)))))))
    : h("p", { class: "empty" }, `No run launched by this ${kind} yet.`));
}

async function load() {
  try {
    const data = await gql(oneQuery(kind), { name: fullName, tag: name });
    renderItem(expectType(data[k.one], k.typename));
    renderRuns(expectType(data.runsOrError, "Runs"));
  } catch (error) {
    show($("#definition"), h("p", { class: "empty" }, `The ${kind} could not be loaded.`));
    showError(error, `${kind} ${fullName}`);
  }
  markUpdated();
  markReady();
}

load().then(() => keepFresh(load, { everyMs: 2000 })); // its runs at once, its ticks every 12 s

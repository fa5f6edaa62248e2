// /schedules and /sensors: every schedule or sensor of the workspace with its last run.
import { $, h, show } from "../lib/dom.js";
import { formatAgo, statusBadge } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";
import { markReady, pageData } from "../lib/page.js";
import { KINDS, cadence } from "../views/instigators.js";

const kind = pageData.kind;
const { plural, tag, fields } = KINDS[kind];
const QUERY = `{ workspaceOrError { ${ERROR_FIELDS} ... on Workspace { locationEntries { name state ${plural} { ${fields} } } } } }`;

async function lastRuns(items) {
  if (!items.length) return [];
  const parts = items.map((item, i) => `r${i}: runsOrError(filter: {tags: [{key: "${tag}", value: ${JSON.stringify(item.name)}}]}, limit: 1) {
    ${ERROR_FIELDS} ... on Runs { count results { runId status createdAt } } }`);
  const data = await gql(`{ ${parts.join("\n")} }`);
  return items.map((_, i) => expectType(data[`r${i}`], "Runs"));
}

async function main() {
  try {
    const data = await gql(QUERY);
    const workspace = expectType(data.workspaceOrError, "Workspace");
    const items = workspace.locationEntries.flatMap((loc) => loc[plural].map((item) => ({ ...item, location: loc.name })));
    $("#instigators-subtitle").textContent = `${items.length} ${plural} in ${workspace.locationEntries.length} code location(s)`;
    if (!items.length) {
      show($("#instigator-list"), h("p", { class: "empty" }, `No ${plural} in the workspace.`));
    } else {
      const runs = await lastRuns(items);
      show($("#instigator-list"), h("table", { id: "instigator-table" },
        h("thead", {}, h("tr", {}, ["Name", "Location", "Job", kind === "schedule" ? "Schedule" : "Interval", "Default status", "Runs", "Last run"].map((t) => h("th", {}, t)))),
        h("tbody", {}, items.map((item, i) => h("tr", { "data-name": item.name },
          h("td", {}, h("a", { href: `/${plural}/${encodeURIComponent(item.location)}/${encodeURIComponent(item.name)}` }, item.name)),
          h("td", {}, item.location),
          h("td", {}, h("a", { href: `/jobs/${encodeURIComponent(item.location)}/${encodeURIComponent(item.jobName)}` }, item.jobName)),
          h("td", { class: "mono" }, cadence(kind, item)),
          h("td", {}, statusBadge(item.defaultStatus)),
          h("td", { class: "num" }, runs[i].count),
          h("td", {}, runs[i].results.length
            ? [h("a", { href: `/runs/${encodeURIComponent(runs[i].results[0].runId)}` }, formatAgo(runs[i].results[0].createdAt)), " ", statusBadge(runs[i].results[0].status)]
            : "—"))))));
    }
  } catch (error) {
    show($("#instigator-list"), h("p", { class: "empty" }, `The ${plural} could not be loaded.`));
    showError(error, plural);
  }
  markReady();
}

main();

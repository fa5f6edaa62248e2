// /schedules/<location>/<name> and /sensors/<location>/<name>: definition and its runs.
import { $, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, runDuration, shortId, statusBadge } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";
import { markReady, pageData } from "../lib/page.js";
import { KINDS, cadence } from "../views/instigators.js";

const { kind, location, name } = pageData;
const { plural, tag, fields } = KINDS[kind];
const QUERY = `query($tag: String!) {
  workspaceOrError { ${ERROR_FIELDS} ... on Workspace { locationEntries { name ${plural} { ${fields} } } } }
  runsOrError(filter: {tags: [{key: "${tag}", value: $tag}]}, limit: 25) { ${ERROR_FIELDS}
    ... on Runs { count results { runId status createdAt startTime endTime tags { key value } } } }
}`;

async function main() {
  try {
    const data = await gql(QUERY, { tag: name });
    const workspace = expectType(data.workspaceOrError, "Workspace");
    const entry = workspace.locationEntries.find((loc) => loc.name === location);
    const item = entry?.[plural].find((i) => i.name === name);
    if (!item) throw new Error(`code location "${location}" has no ${kind} named "${name}"`);
    show($("#definition"),
      h("dt", {}, "Job"), h("dd", {}, h("a", { href: `/jobs/${encodeURIComponent(location)}/${encodeURIComponent(item.jobName)}` }, item.jobName)),
      h("dt", {}, kind === "schedule" ? "Schedule" : "Interval"), h("dd", { class: "mono" }, cadence(kind, item)),
      h("dt", {}, "Default status"), h("dd", {}, statusBadge(item.defaultStatus)),
      h("dt", {}, "Description"), h("dd", {}, item.description || "—"));
    show($("#state"), h("p", { class: "empty" }, `The ${kind}'s stored state, tick history, on/off switch and dry run come from the daemon's GraphQL fields, which this webserver does not have yet.`));
    const runs = expectType(data.runsOrError, "Runs");
    $("#all-runs-link").href = `/runs?tag=${encodeURIComponent(`${tag}=${name}`)}`;
    show($("#instigator-runs"), runs.results.length
      ? h("table", {}, h("thead", {}, h("tr", {}, ["Run", "Status", "Tick", "Created", "Duration"].map((t) => h("th", {}, t)))),
        h("tbody", {}, runs.results.map((run) => h("tr", {},
          h("td", { class: "mono" }, h("a", { href: `/runs/${encodeURIComponent(run.runId)}` }, shortId(run.runId))),
          h("td", {}, statusBadge(run.status)),
          h("td", { class: "mono" }, run.tags.find((t) => t.key === "opgraph/tick")?.value || "—"),
          h("td", {}, formatTime(run.createdAt)),
          h("td", { class: "num" }, formatDuration(runDuration(run)))))))
      : h("p", { class: "empty" }, `No run launched by this ${kind} yet.`));
  } catch (error) {
    show($("#definition"), h("p", { class: "empty" }, `The ${kind} could not be loaded.`));
    showError(error, `${kind} ${name}`);
  }
  markReady();
}

main();

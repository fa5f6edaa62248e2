// /jobs: every code location with its jobs (or why it failed to load), read again every
// few seconds (a location reloaded elsewhere shows its new jobs).
import { $, h, show } from "../lib/dom.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";
import { markReady } from "../lib/page.js";
import { loadErrorBox, locationBadge } from "../views/locations.js";

const QUERY = `{ workspaceOrError { ${ERROR_FIELDS}
  ... on Workspace { locationEntries { name state version
    loadError { message errorClass file line traceback }
    jobs { name description ops { handle } tags { key value } }
    schedules { name jobName } sensors { name jobName } } } } }`;

function jobRow(location, job) {
  const href = `/jobs/${encodeURIComponent(location.name)}/${encodeURIComponent(job.name)}`;
  const schedules = location.schedules.filter((s) => s.jobName === job.name).map((s) => s.name);
  const sensors = location.sensors.filter((s) => s.jobName === job.name).map((s) => s.name);
  return h("tr", { "data-job": job.name },
    h("td", {}, h("a", { href }, job.name)),
    h("td", { class: "num" }, job.ops.length),
    h("td", {}, job.description || ""),
    h("td", {}, [...schedules.map((n) => `schedule ${n}`), ...sensors.map((n) => `sensor ${n}`)].join(", ") || "—"),
    h("td", {}, h("a", { href: `/runs?job=${encodeURIComponent(job.name)}` }, "runs")));
}

function locationPanel(location) {
  return h("section", { class: "panel", id: `location-${location.name}`, "data-location": location.name },
    h("div", { class: "panel-head" }, h("h2", {}, location.name), locationBadge(location.state),
      h("div", { class: "tools" }, h("span", { class: "log-count mono" }, location.version ? `version ${location.version}` : ""))),
    location.loadError ? loadErrorBox(location.loadError) : null,
    location.jobs.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Job"), h("th", { class: "num" }, "Ops"), h("th", {}, "Description"), h("th", {}, "Schedules and sensors"), h("th", {}, ""))),
        h("tbody", {}, location.jobs.map((job) => jobRow(location, job))))
      : h("p", { class: "empty" }, location.loadError ? "No jobs: the code did not load." : "No jobs in this location."));
}

async function main() {
  try {
    const data = await gql(QUERY);
    const workspace = expectType(data.workspaceOrError, "Workspace");
    show($("#locations"), workspace.locationEntries.length
      ? workspace.locationEntries.map(locationPanel)
      : h("p", { class: "empty" }, "The workspace has no code locations."));
  } catch (error) {
    show($("#locations"), h("p", { class: "empty" }, "The workspace could not be loaded."));
    showError(error, "Workspace");
  }
  markUpdated();
  markReady();
}

main().then(() => keepFresh(main, { onRuns: false, everyMs: 5000 }));

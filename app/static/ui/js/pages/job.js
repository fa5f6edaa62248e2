// /jobs/<location>/<job>: the op graph, op details and the launchpad.
import { $, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, runDuration, shortId, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";
import { markReady, pageData, readOnly } from "../lib/page.js";
import { drawGraph, graphOfOps } from "../views/graph.js";
import { Launchpad } from "../views/launchpad.js";
import { loadErrorBox } from "../views/locations.js";

const JOB = `query Job($job: String!) { workspaceOrError { ${ERROR_FIELDS}
  ... on Workspace { locationEntries { name state version loadError { message errorClass file line traceback }
    job(name: $job) { name description tags { key value } runConfigScaffold executor resourceKeys
      ops { handle opName description tags { key value } configSchema retryPolicy requiredResourceKeys
        mappedOver { handle output }
        inputs { name kind description dagsterType hasDefault isNothing upstream { handle output } }
        outputs { name isRequired isDynamic ioManagerKey description dagsterType } } } } } } }`;
const RECENT = `query Recent($job: String!) { runsOrError(filter: {jobName: $job}, limit: 10) { ${ERROR_FIELDS}
  ... on Runs { results { runId status createdAt startTime endTime } } } }`;

const locationName = pageData.location;
const jobName = pageData.job;

function section(title, ...content) {
  return [h("h3", {}, title), ...content];
}

function showOp(op) {
  const json = (value) => h("pre", { class: "log-detail" }, JSON.stringify(value, null, 2));
  show($("#op-detail"),
    h("h2", { class: "mono", id: "op-detail-name" }, op.handle),
    op.opName !== op.handle ? h("p", {}, `op ${op.opName}`) : null,
    op.description ? h("p", {}, op.description) : null,
    section("Inputs", op.inputs.length
      ? h("ul", {}, op.inputs.map((input) => h("li", {}, h("code", {}, input.name),
        input.dagsterType ? ` : ${input.dagsterType}` : "",
        ` — ${input.kind}${input.upstream.length ? ` from ${input.upstream.map((u) => `${u.handle}.${u.output}`).join(", ")}` : ""}`,
        input.hasDefault ? " (has default)" : "")))
      : h("p", { class: "empty" }, "None.")),
    section("Outputs", h("ul", {}, op.outputs.map((out) => h("li", {}, h("code", {}, out.name),
      out.dagsterType ? ` : ${out.dagsterType}` : "",
      out.isDynamic ? " (dynamic)" : "", out.isRequired ? "" : " (optional)", ` → ${out.ioManagerKey}`)))),
    op.mappedOver ? section("Mapped over", h("p", { class: "mono" }, `${op.mappedOver.handle}.${op.mappedOver.output}`)) : null,
    section("Config schema", op.configSchema && Object.keys(op.configSchema).length ? json(op.configSchema) : h("p", { class: "empty" }, "No config.")),
    section("Retry policy", op.retryPolicy ? json(op.retryPolicy) : h("p", { class: "empty" }, "None.")),
    section("Resources", h("p", {}, op.requiredResourceKeys.join(", ") || "—")),
    section("Tags", op.tags.length ? h("div", {}, tagChips(op.tags)) : h("p", { class: "empty" }, "None.")));
}

async function loadRecent() {
  try {
    const data = await gql(RECENT, { job: jobName });
    const runs = expectType(data.runsOrError, "Runs").results;
    show($("#recent-runs"), runs.length
      ? h("table", {}, h("tbody", {}, runs.map((run) => h("tr", {},
        h("td", { class: "mono" }, h("a", { href: `/runs/${encodeURIComponent(run.runId)}` }, shortId(run.runId))),
        h("td", {}, statusBadge(run.status)), h("td", {}, formatTime(run.createdAt)),
        h("td", { class: "num" }, formatDuration(runDuration(run)))))))
      : h("p", { class: "empty" }, "No runs yet."));
  } catch (error) {
    showError(error, "Recent runs");
  }
}

async function main() {
  let location;
  try {
    const data = await gql(JOB, { job: jobName });
    const workspace = expectType(data.workspaceOrError, "Workspace");
    location = workspace.locationEntries.find((entry) => entry.name === locationName);
    if (!location) throw new Error(`the workspace has no code location named "${locationName}"`);
  } catch (error) {
    showError(error, "Loading the job");
    show($("#job-graph"), h("p", { class: "empty" }, "The job could not be loaded."));
    $("#launchpad").hidden = true;
    markReady();
    return;
  }
  const job = location.job;
  if (!job) {
    show($("#job-graph"), location.loadError ? loadErrorBox(location.loadError) : h("p", { class: "empty" }, `Location ${locationName} has no job named ${jobName}.`));
    if (!location.loadError) showError(`Location ${locationName} has no job named ${jobName}.`, "Job");
    $("#launchpad").hidden = true;
    markReady();
    return;
  }
  show($("#job-subtitle"), `· ${job.ops.length} ops · executor ${job.executor || "default"}`, job.description ? ` · ${job.description}` : "", " ", tagChips(job.tags));
  const ops = new Map(job.ops.map((op) => [op.handle, op]));
  const graph = drawGraph($("#job-graph"), graphOfOps(job.ops), { onSelect: (id) => showOp(ops.get(id)) });
  show($("#graph-tools"), graph.tools);
  if (!readOnly) new Launchpad({ locationName, jobName }, job.runConfigScaffold);
  markReady();
  loadRecent();
}

main();

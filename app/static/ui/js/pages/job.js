// /jobs/<location>/<job>: the op graph, op details, the launchpad and, for a partitioned
// job, a partition picker in the launchpad and the backfill form.
import { $, append, h, show } from "../lib/dom.js";
import { formatDuration, formatTime, runDuration, shortId, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { markReady, pageData, readOnly } from "../lib/page.js";
import { configTable } from "../views/configschema.js";
import { drawGraph, graphOfOps } from "../views/graph.js";
import { Launchpad } from "../views/launchpad.js";
import { backfillForm, backfillHref } from "../views/partitions.js";
import { selectSteps } from "../views/stepquery.js";
import { loadErrorBox } from "../views/locations.js";

const JOB = `query Job($job: String!) { workspaceOrError { ${ERROR_FIELDS}
  ... on Workspace { locationEntries { name state version loadError { message errorClass file line traceback }
    job(name: $job) { name description tags { key value } runConfigScaffold executor resourceKeys
      ops { handle opName description tags { key value } configSchema retryPolicy requiredResourceKeys
        mappedOver { handle output }
        inputs { name kind description dagsterType hasDefault isNothing upstream { handle output } }
        outputs { name isRequired isDynamic ioManagerKey description dagsterType } } } } } } }`;
const SCAFFOLD = `query Scaffold($selector: JobSelector!) {
  launchpadConfig(selector: $selector, action: SCAFFOLD) { ${ERROR_FIELDS} ... on LaunchpadConfig { yaml schema } } }`;
const FROM_RUN = `query FromRun($runId: String!) { runOrError(runId: $runId) { ${ERROR_FIELDS}
  ... on Run { runId jobName runConfigYaml tags { key value } } } }`;
const OP_SELECTION_TAG = "opgraph/op_selection"; // a run of some ops only (opgraph.op_selection)
const RECENT = `query Recent($job: String!) { runsOrError(filter: {jobName: $job}, limit: 10) { ${ERROR_FIELDS}
  ... on Runs { results { runId status createdAt startTime endTime } } } }`;

const PARTITION_SET = `query PartitionSet($job: String!, $location: String) {
  partitionSetsOrError(pipelineName: $job, locationName: $location) { ${ERROR_FIELDS}
    ... on PartitionSets { results { numPartitions partitionNames(limit: 10000) } } } }`;
// One partition's run config and tags, as the job's PartitionedConfig makes them (user code,
// computed in the code location).
const PARTITION_RUN = `query PartitionRun($job: String!, $location: String, $partition: String!) {
  partitionSetsOrError(pipelineName: $job, locationName: $location) { ${ERROR_FIELDS}
    ... on PartitionSets { results { partitionRun(partitionName: $partition) { partitionName runConfigYaml tags { key value } } } } } }`;

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
    section("Config", configTable(op.configSchema)
      ? [configTable(op.configSchema), h("details", { class: "raw-schema" }, h("summary", {}, "As JSON Schema"), json(op.configSchema))]
      : h("p", { class: "empty" }, "No config.")),
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
  markUpdated();
}

/** The launchpad, from the schema's scaffold, or from a run (?from_run=<id>: "Open in launchpad"). */
// Asked at once, beside the job's own query: the launchpad needs both.
const scaffoldAnswer = readOnly ? null : gql(SCAFFOLD, { selector: { locationName, jobName } }).catch((error) => error);

async function startLaunchpad(job) {
  const selector = { locationName, jobName };
  let scaffold = job.runConfigScaffold;
  let schema = null;
  try {
    const answer = await scaffoldAnswer;
    if (answer instanceof Error) throw answer;
    ({ yaml: scaffold, schema } = expectType(answer.launchpadConfig, "LaunchpadConfig"));
  } catch (error) {
    showError(error, "Scaffolding the run config");
  }
  const fromRun = new URLSearchParams(window.location.search).get("from_run");
  let preset = {};
  let opSelection = "";
  if (fromRun) {
    try {
      const run = expectType((await gql(FROM_RUN, { runId: fromRun })).runOrError, "Run");
      preset = { config: run.runConfigYaml || "{}\n", tags: run.tags.filter((t) => !t.key.startsWith("opgraph/")) };
      opSelection = run.tags.find((t) => t.key === OP_SELECTION_TAG)?.value || "";
      $("#launchpad-source").textContent = `config and tags of run ${shortId(run.runId)}`;
    } catch (error) {
      showError(error, `Opening run ${fromRun} in the launchpad`);
    }
  }
  const launchpad = new Launchpad(selector, scaffold, { ...preset, schema });
  if (opSelection) launchpad.setOpSelection(opSelection);
  return launchpad;
}

/** The launchpad's op selection drawn on the graph; with "pick on the graph", a click on
 * an op adds it to the selection or takes it out. */
function wireOpSelection(job, graph, launchpad) {
  const steps = job.ops.map((op) => ({ key: op.handle, upstream: op.inputs.flatMap((input) => input.upstream.map((u) => u.handle)) }));
  const count = $("#op-selection-count");
  const refresh = () => {
    const picked = selectSteps(launchpad.opSelection().join(" "), steps, { ops: true });
    for (const el of graph.svg.querySelectorAll(".graph-node")) el.classList.toggle("picked", Boolean(picked?.has(el.dataset.node)));
    count.textContent = picked ? `${picked.size} of ${steps.length} ops run` : "every op runs";
    count.dataset.count = picked ? String(picked.size) : "";
  };
  $("#op-selection").addEventListener("input", refresh);
  refresh();
  return (id) => {
    const clauses = launchpad.opSelection();
    const at = clauses.indexOf(id);
    if (at >= 0) clauses.splice(at, 1);
    else clauses.push(id);
    launchpad.setOpSelection(clauses.join(", "));
  };
}

/** A partitioned job's partition picker in the launchpad and its backfill form. */
async function startPartitions(launchpad) {
  try {
    const data = await gql(PARTITION_SET, { job: jobName, location: locationName });
    const [set] = expectType(data.partitionSetsOrError, "PartitionSets").results;
    if (!set) return; // not partitioned
    const keys = set.partitionNames;
    append($("#launch-partition"), keys.map((key) => h("option", { value: key }, key)));
    $("#partition-picker").hidden = false;
    $("#launch-partition").addEventListener("change", (event) => pickPartition(launchpad, event.target.value));
    $("#job-partitions").textContent = `${set.numPartitions} partitions${keys.length < set.numPartitions ? ` (the first ${keys.length} offered)` : ""}`;
    show($("#job-backfill-form"), backfillForm({
      target: { jobName, locationName }, what: `job ${jobName}`, keys,
      onLaunched: (id) => { window.location.href = backfillHref(id); },
      onError: (error) => showError(error, "Launch backfill"),
    }));
    $("#job-backfill").hidden = false;
  } catch (error) {
    showError(error, "Partitions of the job");
  }
}

/** Fill the launchpad with a picked partition's run config and tags (none: take its tags out). */
let partitionTags = []; // the keys of the tags the last picked partition set
let picking = 0;
async function pickPartition(launchpad, key) {
  const ticket = ++picking;
  const picker = $("#launch-partition");
  if (!key) {
    launchpad.replaceTags(partitionTags, []);
    partitionTags = [];
    picker.dataset.filled = "";
    return;
  }
  picker.dataset.filled = "";
  try {
    const data = await gql(PARTITION_RUN, { job: jobName, location: locationName, partition: key });
    if (ticket !== picking) return; // another partition was picked since
    const [set] = expectType(data.partitionSetsOrError, "PartitionSets").results;
    const run = set.partitionRun;
    launchpad.setText(run.runConfigYaml || "{}\n");
    launchpad.replaceTags(partitionTags, run.tags);
    partitionTags = run.tags.map((t) => t.key);
    picker.dataset.filled = key;
  } catch (error) {
    showError(error, `Run config of partition ${key}`);
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
  let pickOp = null; // toggles an op in the launchpad's op selection
  const onSelect = (id) => ($("#pick-ops").checked && pickOp ? pickOp(id) : showOp(ops.get(id)));
  const graph = drawGraph($("#job-graph"), graphOfOps(job.ops), { onSelect });
  show($("#graph-tools"), graph.tools);
  const launchpad = readOnly ? null : await startLaunchpad(job);
  if (launchpad) pickOp = wireOpSelection(job, graph, launchpad);
  markReady();
  if (launchpad) await startPartitions(launchpad);
  await loadRecent();
  keepFresh(loadRecent);
}

main();

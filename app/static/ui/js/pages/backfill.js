// /backfills/<id>: a backfill's status, its partitions as a status bar and a table (each
// with its run and the run's status), cancel and resume; keeps itself fresh.
import { $, h, show } from "../lib/dom.js";
import { formatTime, shortId, statusBadge, tagChips } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { showError, showInfo } from "../lib/notice.js";
import { confirmAction, hideActions, markReady, pageData } from "../lib/page.js";
import { backfillTarget, changeBackfill, statusBar, statusCounts } from "../views/partitions.js";

const id = pageData.backfillId;
const SHOWN_ROWS = 500; // the table's rows at most; the bar shows every partition
const QUERY = `query Backfill($id: String!, $tags: [TagInput!], $status: String, $rows: Int) {
  partitionBackfillOrError(backfillId: $id) { ${ERROR_FIELDS}
    ... on PartitionBackfill { id status jobName locationName assetSelection { path } numPartitions maxRunsInFlight timestamp endTimestamp tags
      partitionStatusCounts { status count } partitionKeys statusString
      partitionStatuses(status: $status, limit: $rows) { target partitionKey status runId } } }
  runsOrError(filter: {tags: $tags}, limit: 200) { ${ERROR_FIELDS} ... on Runs { results { runId status } } } }`;
// statusString's characters
const STATUS = { P: "PENDING", S: "SUBMITTED", M: "MATERIALIZED", F: "FAILED", C: "CANCELED" };
const CANCELABLE = ["REQUESTED"];
const RESUMABLE = ["CANCELED", "FAILED"];

let backfill = null;
let runStatus = new Map();
let picked = null;

function renderHead(b) {
  show($("#backfill-subtitle"), statusBadge(b.status), " of ", backfillTarget(b), ` · ${b.numPartitions} partitions · launched ${formatTime(b.timestamp)}`,
    b.endTimestamp ? ` · ended ${formatTime(b.endTimestamp)}` : "");
  document.body.dataset.backfillStatus = b.status;
  $("#cancel-backfill").hidden = !CANCELABLE.includes(b.status);
  $("#resume-backfill").hidden = !RESUMABLE.includes(b.status);
  hideActions();
  show($("#backfill-counts"), statusCounts(b.partitionStatusCounts));
  show($("#backfill-facts"),
    h("dt", {}, "Runs in flight at most"), h("dd", {}, b.maxRunsInFlight ?? "no limit"),
    h("dt", {}, "Tags"), h("dd", {}, b.tags.length ? tagChips(b.tags.map((t) => ({ key: t.split("=")[0], value: t.split("=").slice(1).join("=") }))) : "—"),
    h("dt", {}, "Runs"), h("dd", {}, h("a", { href: `/runs?tag=${encodeURIComponent(`dagster/backfill=${b.id}`)}` }, "every run of this backfill")));
}

function renderBar() {
  const keys = backfill.partitionKeys;
  const statuses = [...backfill.statusString].map((c) => STATUS[c] || "PENDING");
  show($("#backfill-bar"), statusBar(keys, statuses, {
    picked,
    onPick: (index) => {
      picked = index;
      renderBar();
      const row = $(`#backfill-partition-table tr[data-partition="${CSS.escape(keys[index])}"]`);
      for (const other of document.querySelectorAll("#backfill-partition-table tr.picked")) other.classList.remove("picked");
      row?.classList.add("picked");
      row?.scrollIntoView({ block: "nearest" });
      show($("#backfill-picked"), h("span", { class: "mono" }, keys[index]), " ", statusBadge(statuses[index]),
        row ? "" : h("span", { class: "log-count" }, " (not in the rows below: filter by its status)"));
    },
  }));
}

function renderTable() {
  const rows = backfill.partitionStatuses;
  const wanted = $("#backfill-partition-status").value;
  const total = wanted ? backfill.partitionStatusCounts.find((c) => c.status === wanted)?.count || 0 : backfill.numPartitions;
  show($("#backfill-partitions"), rows.length
    ? [h("table", { id: "backfill-partition-table" },
      h("thead", {}, h("tr", {}, ["Partition", "Target", "Status", "Run", "Run status"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((p) => h("tr", { "data-partition": p.partitionKey, "data-status": p.status, class: picked !== null && backfill.partitionKeys[picked] === p.partitionKey ? "picked" : null },
        h("td", { class: "mono" }, p.partitionKey),
        h("td", { class: "mono" }, p.target),
        h("td", {}, statusBadge(p.status)),
        h("td", { class: "mono" }, p.runId ? h("a", { href: `/runs/${encodeURIComponent(p.runId)}` }, shortId(p.runId)) : "—"),
        h("td", {}, p.runId && runStatus.has(p.runId) ? statusBadge(runStatus.get(p.runId)) : "—"))))),
    total > rows.length ? h("p", { class: "log-count" }, `The first ${rows.length} of ${total}; filter by status to see others.`) : null]
    : h("p", { class: "empty" }, "No partition with this status."));
}

function renderStatusFilter(counts) {
  const select = $("#backfill-partition-status");
  const current = select.value;
  show(select, h("option", { value: "" }, "every status"), counts.map((c) => h("option", { value: c.status, selected: c.status === current }, `${c.status} (${c.count})`)));
}

async function load() {
  try {
    const status = $("#backfill-partition-status").value || null;
    const data = await gql(QUERY, { id, tags: [{ key: "dagster/backfill", value: id }], status, rows: SHOWN_ROWS });
    backfill = expectType(data.partitionBackfillOrError, "PartitionBackfill");
    try {
      runStatus = new Map(expectType(data.runsOrError, "Runs").results.map((r) => [r.runId, r.status]));
    } catch (error) {
      showError(error, "The backfill's runs");
    }
    renderHead(backfill);
    renderStatusFilter(backfill.partitionStatusCounts);
    renderBar();
    renderTable();
  } catch (error) {
    show($("#backfill-subtitle"), h("span", { class: "empty" }, error.typename === "BackfillNotFoundError" ? "No such backfill." : "The backfill could not be loaded."));
    show($("#backfill-partitions"), h("p", { class: "empty" }, "—"));
    showError(error, `Backfill ${id}`);
  }
  markUpdated();
  markReady();
}

async function change(action) {
  const question = action === "cancel"
    ? [`Cancel backfill ${id}? The daemon submits no more of its partitions and cancels its runs in flight; partitions already done stay done. You can resume it later.`, "Cancel the backfill", "Keep it running"]
    : [`Resume backfill ${id}? The daemon submits its partitions that have no finished run yet.`, "Resume", "Back"];
  if (!(await confirmAction(...question))) return;
  try {
    await changeBackfill(action, id);
    showInfo(action === "cancel" ? `Backfill ${id} is being canceled.` : `Backfill ${id} resumed.`);
  } catch (error) {
    showError(error, action === "cancel" ? "Cancel backfill" : "Resume backfill");
  }
  await loadTimed();
}

$("#cancel-backfill").addEventListener("click", () => change("cancel"));
$("#resume-backfill").addEventListener("click", () => change("resume"));
$("#backfill-partition-status").addEventListener("change", loadTimed);
// Read again every 3 s while the daemon works on it (its status moves without a run's
// moving, e.g. CANCELING -> CANCELED), every 30 s once it ended.
const LIVE = ["REQUESTED", "CANCELING"];
let loadedAt = 0;
async function loadTimed() {
  await load();
  loadedAt = Date.now();
}
const ended = () => backfill && !LIVE.includes(backfill.status) && Date.now() - loadedAt < 30_000;
loadTimed().then(() => keepFresh(loadTimed, { onRuns: false, everyMs: 3000, paused: ended }));

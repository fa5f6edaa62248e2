// /backfills: backfills newest first, by status, with each one's progress over its
// partitions; keeps itself fresh (a backfill moves as its runs do).
import { $, h, s, show } from "../lib/dom.js";
import { formatTime, statusBadge } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { showError } from "../lib/notice.js";
import { markReady } from "../lib/page.js";
import { backfillHref, backfillTarget, statusCounts } from "../views/partitions.js";

const PAGE = 20;
const QUERY = `query Backfills($status: String, $cursor: String, $limit: Int) {
  partitionBackfillsOrError(status: $status, cursor: $cursor, limit: $limit) { ${ERROR_FIELDS}
    ... on PartitionBackfills { results { id status jobName locationName assetSelection { path } numPartitions timestamp endTimestamp
      partitionStatusCounts { status count } } } } }`;
const TABS = [["", "All"], ["REQUESTED", "In progress"], ["CANCELING", "Canceling"], ["COMPLETED", "Completed"], ["CANCELED", "Canceled"], ["FAILED", "Failed"]];
// A backfill's partitions as a bar of its statuses, in this order.
const ORDER = ["MATERIALIZED", "FAILED", "SUBMITTED", "CANCELED", "PENDING"];
const FILL = { MATERIALIZED: "ok", FAILED: "bad", SUBMITTED: "live", CANCELED: "muted", PENDING: "planned" };

const status = new URLSearchParams(window.location.search).get("status") || "";
let pages = 1; // how many pages are shown ("Older backfills" adds one)

function progress(backfill) {
  const counts = new Map(backfill.partitionStatusCounts.map((c) => [c.status, c.count]));
  const total = Math.max(backfill.numPartitions, 1);
  let x = 0;
  return s("svg", { class: "progress", viewBox: "0 0 100 8", preserveAspectRatio: "none" },
    ORDER.filter((st) => counts.get(st)).map((st) => {
      const width = (100 * counts.get(st)) / total;
      x += width;
      return s("rect", { class: `fill-${FILL[st]}`, x: x - width, y: 0, width, height: 8 }, s("title", {}, `${counts.get(st)} ${st}`));
    }));
}

function row(b) {
  return h("tr", { "data-backfill": b.id, "data-status": b.status },
    h("td", { class: "mono" }, h("a", { href: backfillHref(b.id) }, b.id)),
    h("td", {}, statusBadge(b.status)),
    h("td", {}, backfillTarget(b)),
    h("td", { class: "backfill-progress" }, progress(b), statusCounts(b.partitionStatusCounts)),
    h("td", { class: "num" }, String(b.numPartitions)),
    h("td", {}, formatTime(b.timestamp)),
    h("td", {}, formatTime(b.endTimestamp)));
}

async function load() {
  try {
    const results = [];
    let cursor = null;
    for (let page = 0; page < pages; page++) {
      const data = await gql(QUERY, { status: status || null, cursor, limit: PAGE });
      const found = expectType(data.partitionBackfillsOrError, "PartitionBackfills").results;
      results.push(...found);
      if (found.length < PAGE) break;
      cursor = found.at(-1).id;
    }
    $("#backfills-more").hidden = results.length < pages * PAGE;
    show($("#backfill-list"), results.length
      ? h("table", { id: "backfill-table" },
        h("thead", {}, h("tr", {}, ["Backfill", "Status", "Of", "Partitions", "Count", "Launched", "Ended"].map((t) => h("th", {}, t)))),
        h("tbody", {}, results.map(row)))
      : h("p", { class: "empty" }, status ? `No ${status.toLowerCase()} backfills.` : "No backfills yet. Launch one from a partitioned asset's or job's page."));
  } catch (error) {
    show($("#backfill-list"), h("p", { class: "empty" }, "The backfills could not be loaded."));
    showError(error, "Backfills");
  }
  markUpdated();
  markReady();
}

show($("#backfill-tabs"), TABS.map(([value, label]) => h("a", {
  href: value ? `/backfills?status=${value}` : "/backfills", class: value === status ? "active" : null,
  role: "tab", "aria-selected": String(value === status), "data-status": value,
}, label)));
$("#backfills-more").addEventListener("click", () => {
  pages += 1;
  load();
});
load().then(() => keepFresh(load));

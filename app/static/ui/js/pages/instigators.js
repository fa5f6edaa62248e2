// /schedules and /sensors: every schedule or sensor of the workspace, its status (with a
// switch), next and last tick.
import { $, h, show } from "../lib/dom.js";
import { formatTime, statusBadge } from "../lib/format.js";
import { expectType, gql } from "../lib/gql.js";
import { showError, showInfo } from "../lib/notice.js";
import { keepFresh, markUpdated } from "../lib/fresh.js";
import { hideActions, markReady, pageData } from "../lib/page.js";
import { KINDS, cadence, listQuery, tickSummary, toggleButton } from "../views/instigators.js";

const kind = pageData.kind;
const k = KINDS[kind];

function row(item) {
  const href = `/${k.plural}/${encodeURIComponent(item.locationName)}/${encodeURIComponent(item[k.shortName])}`;
  const tr = h("tr", { "data-name": item[k.shortName], "data-status": item.status },
    h("td", {}, h("a", { href }, item[k.shortName])),
    h("td", {}, item.locationName),
    h("td", {}, h("a", { href: `/jobs/${encodeURIComponent(item.locationName)}/${encodeURIComponent(item.jobName)}` }, item.jobName)),
    h("td", { class: "mono" }, cadence(kind, item)),
    h("td", { class: "instigator-status" }, statusBadge(item.status), " ",
      toggleButton(kind, item, (changed) => {
        showInfo(`${changed[k.shortName]} is ${changed.status.toLowerCase()}.`);
        load();
      })),
    kind === "schedule" ? h("td", {}, item.status === "RUNNING" && item.nextTickTimestamps?.length ? formatTime(item.nextTickTimestamps[0]) : "—") : null,
    h("td", {}, tickSummary(item.ticks[0])));
  hideActions(tr);
  return tr;
}

async function load() {
  try {
    const data = await gql(listQuery(kind));
    const items = expectType(data[k.list], k.listType).results;
    $("#instigators-subtitle").textContent = `${items.length} ${k.plural}; the daemon ticks those that are running`;
    const headers = ["Name", "Location", "Job", kind === "schedule" ? "Schedule" : "Interval", "Status", ...(kind === "schedule" ? ["Next tick"] : []), "Last tick"];
    show($("#instigator-list"), items.length
      ? h("table", { id: "instigator-table" }, h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))), h("tbody", {}, items.map(row)))
      : h("p", { class: "empty" }, `No ${k.plural} in the workspace.`));
  } catch (error) {
    show($("#instigator-list"), h("p", { class: "empty" }, `The ${k.plural} could not be loaded.`));
    showError(error, k.plural);
  }
  markUpdated();
  markReady();
}

load().then(() => keepFresh(load, { onRuns: false, everyMs: 5000 }));

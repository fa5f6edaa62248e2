// Schedules and sensors: definitions, status and ticks from the daemon's GraphQL fields
// (schedulesOrError, startSchedule, scheduleDryRun, ... in app/graphql/instigator_schema.py);
// the runs they launched carry the tag opgraph/schedule_name or opgraph/sensor_name.
import { h } from "../lib/dom.js";
import { formatAgo, formatTime, shortId, statusBadge } from "../lib/format.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";

const TICK_FIELDS = "tickId tickKey status timestamp runIds skipReason error cursor";

export const KINDS = {
  schedule: {
    plural: "schedules", tag: "opgraph/schedule_name", typename: "Schedule", list: "schedulesOrError",
    one: "scheduleOrError", listType: "Schedules", shortName: "scheduleName",
    fields: "name scheduleName locationName jobName cronSchedule executionTimezone description status defaultStatus",
    start: "startSchedule", stop: "stopSchedule", dryRun: "scheduleDryRun",
  },
  sensor: {
    plural: "sensors", tag: "opgraph/sensor_name", typename: "Sensor", list: "sensorsOrError",
    one: "sensorOrError", listType: "Sensors", shortName: "sensorName",
    fields: "name sensorName locationName jobName minimumIntervalSeconds description status defaultStatus cursor",
    start: "startSensor", stop: "stopSensor", dryRun: "sensorDryRun",
  },
};

export function listQuery(kind) {
  const k = KINDS[kind];
  const next = kind === "schedule" ? "nextTickTimestamps(limit: 1)" : "";
  return `{ ${k.list} { ${ERROR_FIELDS} ... on ${k.listType} { results { ${k.fields} ${next} ticks(limit: 1) { ${TICK_FIELDS} } } } } }`;
}

export function oneQuery(kind, ticks = 50) {
  const k = KINDS[kind];
  const next = kind === "schedule" ? "nextTickTimestamps(limit: 5)" : "";
  return `query($name: String!, $tag: String!) {
    ${k.one}(name: $name) { ${ERROR_FIELDS} ... on ${k.typename} { ${k.fields} ${next} ticks(limit: ${ticks}) { ${TICK_FIELDS} } } }
    runsOrError(filter: {tags: [{key: "${k.tag}", value: $tag}]}, limit: 25) { ${ERROR_FIELDS}
      ... on Runs { count results { runId status createdAt startTime endTime tags { key value } } } }
  }`;
}

/** "0 * * * * (UTC)" / "every 30 s at least". */
export function cadence(kind, item) {
  if (kind === "schedule") return `${item.cronSchedule}${item.executionTimezone ? ` (${item.executionTimezone})` : ""}`;
  return `every ${item.minimumIntervalSeconds} s at least`;
}

/** Start or stop; resolves to the schedule or sensor as it now is. */
export async function setRunning(kind, name, running) {
  const k = KINDS[kind];
  const field = running ? k.start : k.stop;
  const data = await gql(`mutation($name: String!) { ${field}(name: $name) { ${ERROR_FIELDS} ... on ${k.typename} { ${k.fields} } } }`, { name });
  return expectType(data[field], k.typename);
}

/** A button that shows the status and flips it (hidden in read-only mode by data-action). */
export function toggleButton(kind, item, onChange) {
  const running = item.status === "RUNNING";
  const button = h("button", {
    type: "button", class: ["button-small", running && "button-danger"], "data-action": true, "data-toggle": item.name,
    onclick: async () => {
      button.disabled = true;
      try {
        onChange(await setRunning(kind, item.name, !running));
      } catch (error) {
        button.disabled = false;
        showError(error, `${running ? "Stop" : "Start"} ${item.name}`);
      }
    },
  }, running ? "Stop" : "Start");
  return button;
}

export function tickSummary(tick) {
  if (!tick) return "no tick yet";
  return [statusBadge(tick.status), ` ${formatAgo(tick.timestamp)}`];
}

export function tickRow(tick) {
  return h("tr", { "data-tick": tick.tickKey },
    h("td", {}, formatTime(tick.timestamp)),
    h("td", {}, statusBadge(tick.status)),
    h("td", {}, tick.runIds.length ? tick.runIds.map((id) => [h("a", { href: `/runs/${encodeURIComponent(id)}`, class: "mono" }, shortId(id)), " "]) : "—"),
    h("td", {}, tick.skipReason || ""),
    h("td", {}, tick.error ? h("details", {}, h("summary", {}, tick.error.split("\n", 1)[0]), h("pre", {}, tick.error)) : ""),
    h("td", { class: "mono" }, tick.cursor ?? ""));
}

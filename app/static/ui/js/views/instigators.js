// Schedules and sensors: their definitions come from the workspace; the runs they
// launched carry the tag opgraph/schedule_name or opgraph/sensor_name.
export const KINDS = {
  schedule: { plural: "schedules", tag: "opgraph/schedule_name", fields: "name jobName cronSchedule executionTimezone defaultStatus description" },
  sensor: { plural: "sensors", tag: "opgraph/sensor_name", fields: "name jobName minimumIntervalSeconds defaultStatus description" },
};

/** "every 30 s" / "0 * * * * (UTC)". */
export function cadence(kind, item) {
  if (kind === "schedule") return `${item.cronSchedule}${item.executionTimezone ? ` (${item.executionTimezone})` : ""}`;
  return `every ${item.minimumIntervalSeconds} s at least`;
}

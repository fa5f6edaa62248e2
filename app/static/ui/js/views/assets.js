// Shared by the asset pages: keys, staleness badges, metadata values, materializing.
import { h } from "../lib/dom.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";

export const keyText = (key) => key.path.join("/");
export const assetHref = (key) => `/assets/${key.path.map(encodeURIComponent).join("/")}`;

const MATERIALIZE = `mutation($keys: [AssetKeyInput!]!, $tags: JSONString) {
  launchAssetRun(assetKeys: $keys, tags: $tags) { ${ERROR_FIELDS} ... on LaunchRunSuccess { run { runId } } } }`;

export function stalenessBadge(staleness) {
  const cls = { FRESH: "status-ok", STALE: "status-warn", MISSING: "status-muted" }[staleness?.status] || "status-muted";
  return h("span", { class: ["badge", cls], title: (staleness?.causes || []).join("\n") || null, "data-staleness": staleness?.status || "" }, staleness?.status || "—");
}

/** A metadata entry's number, if it has one ({"rows": 3} or {"rows": {"value": 3}}). */
export function metadataNumber(value) {
  if (typeof value === "number") return value;
  for (const field of ["value", "raw_value", "int", "float"]) {
    if (value && typeof value === "object" && typeof value[field] === "number") return value[field];
  }
  return null;
}

export function metadataText(value) {
  const number = metadataNumber(value);
  if (number !== null) return String(number);
  if (value && typeof value === "object" && "value" in value) return String(value.value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Launch a run materializing `keys`; resolves to the new run's id. */
export async function materialize(keys) {
  const data = await gql(MATERIALIZE, { keys: keys.map((key) => ({ path: key.path })), tags: JSON.stringify({ "opgraph/launched_by": "ui" }) });
  return expectType(data.launchAssetRun, "LaunchRunSuccess").run.runId;
}

// A config schema (JSON Schema, as an op's `configSchema` or a job's run config schema)
// as a table a person reads: one row per field, nested fields indented under their
// parent, with what each takes, whether it is required or its default, and its description.
import { h } from "../lib/dom.js";

function resolver(root) {
  const defs = root.$defs || {};
  return (schema) => {
    let seen = 0;
    while (schema && schema.$ref && seen < 32) {
      schema = defs[String(schema.$ref).split("/").at(-1)] || {};
      seen += 1;
    }
    return schema || {};
  };
}

/** What a field takes, in a few words ("integer", "list of string", "one of RED | BLUE"). */
export function typeLabel(schema, root) {
  const resolve = resolver(root);
  const label = (raw) => {
    const s = resolve(raw);
    if (s.enum) return `one of ${s.enum.join(" | ")}`;
    if (s.oneOf) return `exactly one of: ${s.oneOf.flatMap((b) => Object.keys(resolve(b).properties || {})).join(", ")}`;
    if (s.anyOf) return `${s.anyOf.filter((b) => b.type !== "null").map(label).join(" or ")} or null`;
    if (s.type === "array") return `list of ${label(s.items || {})}`;
    if (s.type === "object") return s.additionalProperties === false || !s.properties ? (s.properties ? "mapping" : "any mapping") : "mapping (more keys allowed)";
    return s.type || "any value";
  };
  return label(schema);
}

/** Rows of [depth, name, schema, required] for every field, depth-first. */
function fields(schema, root, depth, rows) {
  const resolve = resolver(root);
  const s = resolve(schema);
  const required = new Set(s.required || []);
  for (const [name, raw] of Object.entries(s.properties || {})) {
    const sub = resolve(raw);
    rows.push({ depth, name, raw, sub, required: required.has(name) });
    if (rows.length > 500) return rows; // a huge schema: the first 500 fields
    if (sub.type === "object" && sub.properties) fields(sub, root, depth + 1, rows);
    for (const branch of sub.oneOf || []) {
      const b = resolve(branch);
      for (const [choice, inner] of Object.entries(b.properties || {})) {
        rows.push({ depth: depth + 1, name: `${choice} (choice)`, raw: inner, sub: resolve(inner), required: false, choice: true });
        const innerSchema = resolve(inner);
        if (innerSchema.type === "object" && innerSchema.properties) fields(innerSchema, root, depth + 2, rows);
      }
    }
  }
  return rows;
}

/** The schema as a table, or null when it has no fields. */
export function configTable(schema) {
  if (!schema || !Object.keys(schema.properties || {}).length) return null;
  const rows = fields(schema, schema, 0, []);
  const defaultOf = (row) => ("default" in row.raw ? row.raw.default : row.sub.default);
  return h("table", { class: "config-table" },
    h("thead", {}, h("tr", {}, ["Field", "Takes", "", "Description"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map((row) => {
      const fallback = defaultOf(row);
      return h("tr", { "data-field": row.name },
        h("td", { class: "mono" }, h("span", { class: "indent", "data-depth": row.depth }, row.name)),
        h("td", {}, typeLabel(row.raw, schema)),
        h("td", {}, row.required ? h("span", { class: "badge status-bad" }, "required")
          : fallback !== undefined ? h("span", { class: "log-count" }, `default ${JSON.stringify(fallback)}`)
            : row.choice ? "" : h("span", { class: "log-count" }, "optional")),
        h("td", {}, row.raw.description || row.sub.description || ""));
    })));
}

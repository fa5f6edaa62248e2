// Step queries as Dagster writes them: `name` (that step), `name+` / `+name` (one level of
// downstream / upstream steps, `++` two, ...), `name*` / `*name` (every downstream /
// upstream step); several terms separated by spaces or commas select their union. A name
// that is no step's key matches every step whose key contains it; with `{ops: true}` a
// name matches as an op selection does on the server (opgraph.op_selection): that op, or
// every op of the nested graph of that name.

const TERM = /^(\*|\+*)([^*+]+?)(\*|\+*)$/;

/** The step keys `query` selects among `steps` ([{key, upstream: [keys]}]); null when empty. */
export function selectSteps(query, steps, { ops = false } = {}) {
  const terms = String(query || "").split(/[\s,]+/).filter(Boolean);
  if (!terms.length) return null;
  const keys = steps.map((s) => s.key);
  const up = new Map(steps.map((s) => [s.key, s.upstream || []]));
  const down = new Map(keys.map((k) => [k, []]));
  for (const step of steps) for (const parent of step.upstream || []) down.get(parent)?.push(step.key);
  const walk = (from, edges, depth) => {
    const found = new Set();
    let frontier = [...from];
    for (let level = 0; level < depth && frontier.length; level += 1) {
      const next = [];
      for (const key of frontier) for (const other of edges.get(key) || []) if (!found.has(other)) { found.add(other); next.push(other); }
      frontier = next;
    }
    return found;
  };
  const selected = new Set();
  for (const term of terms) {
    const match = TERM.exec(term);
    if (!match) continue;
    const [, before, name, after] = match;
    const exact = keys.filter((k) => k === name || (ops && k.startsWith(`${name}.`)));
    const base = exact.length || ops ? exact : keys.filter((k) => k.includes(name));
    base.forEach((k) => selected.add(k));
    const depth = (mark) => (mark === "*" ? Infinity : mark.length);
    walk(base, up, depth(before)).forEach((k) => selected.add(k));
    walk(base, down, depth(after)).forEach((k) => selected.add(k));
  }
  return selected;
}

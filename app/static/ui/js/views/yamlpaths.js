// Where each key of a block-style YAML text sits: its dotted path and line. Enough for the
// launchpad to put a config problem (named by path) on its line and to know which mapping
// the cursor is in; flow mappings (`{a: 1}`) count as values of their key.

const KEY_LINE = /^(\s*)([^\s#:-][^#:]*?):(\s|$)/;

/** [{path, name, line, indent}] for every `key:` line (line numbers from 1). */
export function keyLines(text) {
  const found = [];
  const stack = []; // [indent, key] of the mappings the current line is inside
  text.split("\n").forEach((line, index) => {
    const key = KEY_LINE.exec(line);
    if (!key) return;
    const indent = key[1].length;
    while (stack.length && stack.at(-1)[0] >= indent) stack.pop();
    const name = key[2].trim().replace(/^["']|["']$/g, "");
    found.push({ path: [...stack.map((s) => s[1]), name].join("."), name, line: index + 1, indent });
    stack.push([indent, name]);
  });
  return found;
}

/** The line of `path`, or of its nearest ancestor that is in the text (1 if none). */
export function lineOfPath(text, path) {
  const lines = new Map(keyLines(text).map((k) => [k.path, k.line]));
  const parts = String(path || "").split(".");
  while (parts.length) {
    const line = lines.get(parts.join("."));
    if (line) return line;
    parts.pop();
  }
  return 1;
}

/** The path of the mapping a new key typed at `lineNumber` with `indent` spaces goes into. */
export function parentPath(text, lineNumber, indent) {
  const above = keyLines(text).filter((k) => k.line < lineNumber);
  const stack = [];
  for (const k of above) {
    while (stack.length && stack.at(-1).indent >= k.indent) stack.pop();
    stack.push(k);
  }
  while (stack.length && stack.at(-1).indent >= indent) stack.pop();
  return stack.length ? stack.at(-1).path : "";
}

// The launchpad's code editor: CodeMirror 6 (vendored, app/static/vendor/codemirror) over
// the run config text area, with YAML highlighting, completion of keys from the job's run
// config schema, hover docs on keys, and problems marked on their lines. It is loaded
// after the page is shown; the text area stays the value every other part reads.
import { typeLabel } from "./configschema.js";
import { keyLines, parentPath } from "./yamlpaths.js";

const BUNDLE = "../../../vendor/codemirror/codemirror.min.js";

/** The schema of the mapping at `path` ("ops.emit.config"), or null. */
export function schemaAt(root, path) {
  const defs = root.$defs || {};
  const resolve = (s) => {
    let seen = 0;
    while (s && s.$ref && seen < 32) { s = defs[String(s.$ref).split("/").at(-1)] || {}; seen += 1; }
    return s || {};
  };
  let node = resolve(root);
  for (const key of path ? path.split(".") : []) {
    const options = [node, ...(node.oneOf || []).map(resolve), ...(node.anyOf || []).map(resolve)];
    const owner = options.find((o) => o.properties && key in o.properties);
    if (!owner) return null;
    node = resolve(owner.properties[key]);
    if (node.anyOf) node = resolve(node.anyOf.find((o) => o.type !== "null") || node);
  }
  return node;
}

/** Properties a mapping schema offers: [{name, schema, required}] (Selector choices too). */
function offered(node) {
  if (!node) return [];
  const defs = [];
  const branches = node.oneOf ? node.oneOf : [node];
  for (const raw of branches) {
    const branch = raw;
    const required = new Set(branch.required || []);
    for (const [name, schema] of Object.entries(branch.properties || {})) defs.push({ name, schema, required: required.has(name) });
  }
  return defs;
}

function resolveBranches(root, node) {
  const defs = root.$defs || {};
  if (!node?.oneOf) return node;
  return { oneOf: node.oneOf.map((b) => (b.$ref ? defs[String(b.$ref).split("/").at(-1)] || {} : b)) };
}

/** Replace `textarea` with CodeMirror; resolves to {setText, mark(problems)} or null. */
export async function upgradeEditor(textarea, { schema, onChange }) {
  let cm;
  try {
    cm = await import(BUNDLE);
  } catch (error) {
    console.warn("the code editor did not load; the plain text area stays", error);
    return null;
  }
  const describe = (s) => (s ? typeLabel(s, schema) : "");
  // A field's own description (Field(description=...), a docstring), else its type's (a
  // Config class's or Shape's, behind a $ref).
  const docOf = (s) => s?.description || schemaAt({ ...schema, properties: { _: s } }, "_")?.description || "";

  const complete = (context) => {
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    const typed = /^(\s*)([\w-]*)$/.exec(before);
    if (!typed) return null; // only where a key is being typed
    const text = context.state.doc.toString();
    const parent = parentPath(text, line.number, typed[1].length);
    const node = resolveBranches(schema, schemaAt(schema, parent));
    const present = new Set(keyLines(text).filter((k) => k.path.startsWith(parent ? `${parent}.` : "") && k.path.split(".").length === (parent ? parent.split(".").length + 1 : 1)).map((k) => k.name));
    const options = offered(node).filter((o) => !present.has(o.name)).map((o) => ({
      label: o.name, type: "property", apply: `${o.name}: `,
      detail: `${describe(o.schema)}${o.required ? " · required" : ""}`,
      info: docOf(o.schema) || undefined,
    }));
    if (!options.length) return null;
    return { from: context.pos - typed[2].length, options, validFor: /^[\w-]*$/ };
  };

  const hover = cm.hoverTooltip((view, pos) => {
    const line = view.state.doc.lineAt(pos);
    const key = keyLines(view.state.doc.toString()).find((k) => k.line === line.number);
    if (!key) return null;
    const start = line.from + key.indent;
    if (pos < start || pos > start + key.name.length) return null;
    const parent = key.path.split(".").slice(0, -1).join(".");
    const field = offered(resolveBranches(schema, schemaAt(schema, parent))).find((o) => o.name === key.name);
    if (!field) return null;
    return {
      pos: start, end: start + key.name.length, above: true,
      create: () => {
        const dom = document.createElement("div");
        dom.className = "cm-schema-doc";
        const fallback = field.schema.default ?? schemaAt(schema, key.path)?.default;
        dom.textContent = `${key.path}: ${describe(field.schema)}${field.required ? ", required" : fallback !== undefined ? `, default ${JSON.stringify(fallback)}` : ""}${docOf(field.schema) ? ` — ${docOf(field.schema)}` : ""}`;
        return { dom };
      },
    };
  });

  const view = new cm.EditorView({
    parent: textarea.parentElement,
    state: cm.EditorState.create({
      doc: textarea.value,
      extensions: [
        // The page's policy lets in style elements with this response's nonce (views.py).
        cm.EditorView.cspNonce.of(document.body.dataset.styleNonce || ""),
        cm.basicSetup, cm.yaml(), cm.keymap.of([cm.indentWithTab]), cm.lintGutter(),
        cm.autocompletion({ override: [complete], activateOnTyping: true }), hover,
        cm.EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          textarea.value = update.state.doc.toString();
          onChange();
        }),
        cm.EditorView.contentAttributes.of({ "aria-label": "Run config (YAML)", "data-editor": "codemirror" }),
        cm.EditorView.editorAttributes.of({ class: "config-editor" }), // CodeMirror owns the class attribute
      ],
    }),
  });
  textarea.hidden = true;
  document.body.dataset.editor = "codemirror";

  return {
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    /** Problems as [{line, message, severity}] on their lines. */
    mark(problems) {
      const doc = view.state.doc;
      const diagnostics = problems.map((p) => {
        const line = doc.line(Math.min(Math.max(1, p.line), doc.lines));
        return { from: line.from, to: line.to, severity: p.severity || "error", message: p.message };
      });
      view.dispatch(cm.setDiagnostics(view.state, diagnostics));
    },
    view,
  };
}

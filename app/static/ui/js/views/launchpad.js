// The launchpad: a YAML run-config editor validated by the job's code location as you
// type (every problem by path), an op selection (run only some ops: `emit+`, `*report`;
// validated with the config), a partitioned job's partition, tags, and a Launch button
// that opens the new run.
// The scaffold comes from the job's run config schema (GraphQL `launchpadConfig`): required
// fields without a default are placeholders, `name:  # required: string`, listed here
// and never valid, so Launch stays off until each is filled in.
import { $, clear, h, show } from "../lib/dom.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError, showInfo } from "../lib/notice.js";
import { upgradeEditor } from "./editor.js";
import { lineOfPath } from "./yamlpaths.js";

const VALIDATE = `query Validate($selector: JobSelector!, $config: GenericScalar) {
  isRunConfigValid(selector: $selector, runConfigData: $config) {
    ${ERROR_FIELDS}
    ... on RunConfigValidationInvalid { errors { path message } }
  }
}`;
const LAUNCH = `mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    ${ERROR_FIELDS}
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { path message } }
  }
}`;
const CONFIG = `query LaunchpadConfig($selector: JobSelector!, $action: LaunchpadConfigAction!, $config: GenericScalar) {
  launchpadConfig(selector: $selector, action: $action, runConfigData: $config) {
    ${ERROR_FIELDS} ... on LaunchpadConfig { yaml missing removed }
  }
}`;
const DEBOUNCE_MS = 250;
const PLACEHOLDER = /^(\s*)([^\s#:][^#:]*?):\s*#\s*required:\s*(.*)$/;
const KEY_LINE = /^(\s*)([^\s#:-][^#:]*?):(\s|$)/;

/** Placeholders left in YAML text: [{path, label, line}] (line numbers from 1). */
export function placeholders(text) {
  const found = [];
  const stack = []; // [indent, key] of the mappings the current line is inside
  text.split("\n").forEach((line, index) => {
    const key = KEY_LINE.exec(line);
    if (!key) return;
    const indent = key[1].length;
    while (stack.length && stack.at(-1)[0] >= indent) stack.pop();
    const name = key[2].trim().replace(/^["']|["']$/g, "");
    const mark = PLACEHOLDER.exec(line);
    if (mark) found.push({ path: [...stack.map((s) => s[1]), name].join("."), label: mark[3].trim(), line: index + 1 });
    stack.push([indent, name]);
  });
  return found;
}
// Runs launched here say so (the runs table's "launched by" column).
const LAUNCHED_BY_TAG = { key: "opgraph/launched_by", value: "ui" };
// The tag that makes a run one partition's (opgraph.partitions.tags, Dagster's name).
const PARTITION_TAG = "dagster/partition";

export class Launchpad {
  constructor(selector, scaffold, { config = null, tags = [], schema = null } = {}) {
    this.selector = selector;
    this.scaffold = scaffold;
    this.editor = $("#run-config-editor");
    this.validation = $("#validation");
    this.launchButton = $("#launch-run");
    this.sequence = 0;
    this.valid = false;
    this.timer = null;
    this.code = null; // the CodeMirror editor, once loaded
    this.problems = [];
    this.opInput = $("#op-selection");
    this.editor.value = config ?? scaffold;
    for (const tag of tags) this.#addTagRow(tag.key, tag.value);
    this.editor.addEventListener("input", () => this.#validateSoon());
    this.editor.addEventListener("keydown", (event) => this.#indent(event));
    $("#reset-config").addEventListener("click", () => this.setText(this.scaffold));
    window.opgraphLaunchpad = this; // tests and the browser console set the config through it
    if (schema) {
      upgradeEditor(this.editor, { schema, onChange: () => this.#validateSoon() }).then((code) => {
        this.code = code;
        code?.mark(this.problems);
      });
    }
    $("#scaffold-missing").addEventListener("click", () => this.#rewrite("ADD_MISSING"));
    $("#remove-extra").addEventListener("click", () => this.#rewrite("REMOVE_EXTRA"));
    $("#add-tag").addEventListener("click", () => this.#addTagRow());
    this.opInput.addEventListener("input", () => this.#validateSoon());
    this.launchButton.addEventListener("click", () => this.launch());
    this.validate();
  }

  /** Replace the config text (in the code editor, when it is loaded). */
  setText(text) {
    if (this.code) this.code.setText(text); // its change listener validates
    else {
      this.editor.value = text;
      this.#validateSoon();
    }
  }

  /** The op selection's clauses ("emit+, *report" -> ["emit+", "*report"]); [] for every op. */
  opSelection() {
    return this.opInput.value.split(/[\s,]+/).filter(Boolean);
  }

  setOpSelection(text) {
    this.opInput.value = text;
    this.opInput.dispatchEvent(new Event("input"));
  }

  /** The job, cut down to the op selection when there is one. */
  #target() {
    const ops = this.opSelection();
    return ops.length ? { ...this.selector, opSelection: ops } : this.selector;
  }

  #mark(problems) {
    this.problems = problems;
    this.code?.mark(problems);
  }

  #indent(event) {
    if (event.key !== "Tab" || event.shiftKey) return;
    event.preventDefault();
    this.editor.setRangeText("  ", this.editor.selectionStart, this.editor.selectionEnd, "end");
    this.#validateSoon();
  }

  #addTagRow(key = "", value = "") {
    const row = h("div", { class: "row" },
      h("input", { class: "tag-key", placeholder: "key", value: key, "aria-label": "Tag key" }),
      h("input", { class: "tag-value", placeholder: "value", value, "aria-label": "Tag value" }),
      h("button", { type: "button", class: "button-small", onclick: () => row.remove() }, "Remove"));
    $("#tag-rows").append(row);
  }

  /** Take out the tag rows keyed `oldKeys` (and any keyed as a new tag), then add `tags`. */
  replaceTags(oldKeys, tags) {
    const drop = new Set([...oldKeys, ...tags.map((t) => t.key)]);
    for (const row of [...$("#tag-rows").children]) {
      if (drop.has(row.querySelector(".tag-key").value.trim())) row.remove();
    }
    for (const tag of tags) this.#addTagRow(tag.key, tag.value);
  }

  tags() {
    const tags = [];
    for (const row of $("#tag-rows").children) {
      const key = row.querySelector(".tag-key").value.trim();
      if (key) tags.push({ key, value: row.querySelector(".tag-value").value });
    }
    return tags;
  }

  /** Let the server add the missing required fields, or take out what the schema does not know. */
  async #rewrite(action) {
    try {
      const data = await gql(CONFIG, { selector: this.selector, action, config: this.editor.value });
      const result = expectType(data.launchpadConfig, "LaunchpadConfig");
      this.setText(result.yaml);
      if (action === "REMOVE_EXTRA") {
        showInfo(result.removed.length ? `Removed ${result.removed.join(", ")}.` : "Nothing to remove: every key is in the job's config schema.");
      }
    } catch (error) {
      showError(error, action === "ADD_MISSING" ? "Scaffold missing config" : "Remove extra config");
    }
  }

  #validateSoon() {
    this.valid = false;
    this.launchButton.disabled = true;
    this.validation.dataset.state = "checking";
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.validate(), DEBOUNCE_MS);
  }

  async validate() {
    const sequence = ++this.sequence;
    this.validation.dataset.state = "checking";
    try {
      const data = await gql(VALIDATE, { selector: this.#target(), config: this.editor.value });
      if (sequence !== this.sequence) return; // the text changed meanwhile
      const result = data.isRunConfigValid;
      const missing = placeholders(this.editor.value);
      if (result.__typename === "RunConfigValid" && !missing.length) this.#showValid();
      else this.#showProblems(result.__typename === "RunConfigValid" ? {} : result, missing);
    } catch (error) {
      if (sequence !== this.sequence) return;
      this.#showProblems({ message: error.message });
      showError(error, "Validating the run config");
    }
  }

  #showValid() {
    this.#mark([]);
    this.valid = true;
    this.launchButton.disabled = false;
    this.validation.dataset.state = "valid";
    show(this.validation, h("span", { class: "ok" }, "✓ The run config is valid."));
  }

  #showProblems(result, missing = []) {
    this.valid = false;
    this.launchButton.disabled = true;
    this.validation.dataset.state = "invalid";
    clear(this.validation);
    if (missing.length) {
      this.validation.append(h("span", { class: "bad" }, `${missing.length} required field(s) to fill in:`),
        h("ul", { id: "config-missing" }, missing.map((m) => h("li", { "data-path": m.path },
          h("code", {}, m.path), ` (line ${m.line}): ${m.label}`))));
    }
    // A placeholder is null, so the server names it too: each problem is listed once.
    const filled = new Set(missing.map((m) => m.path));
    const errors = (result.errors || []).filter((e) => !filled.has(e.path));
    const text = this.editor.value;
    this.#mark([
      ...missing.map((m) => ({ line: m.line, message: `${m.path} is required: ${m.label}`, severity: "warning" })),
      ...errors.map((e) => ({ line: lineOfPath(text, e.path), message: e.path ? `${e.path}: ${e.message}` : e.message })),
    ]);
    if (errors.length || (!result.errors && result.message)) {
      this.validation.append(h("span", { class: "bad" }, errors.length ? `${errors.length} problem(s):` : result.message));
    }
    if (errors.length) {
      this.validation.append(h("ul", { id: "config-errors" }, errors.map((e) =>
        h("li", { "data-path": e.path }, e.path ? h("code", {}, e.path) : null, e.path ? ": " : "", e.message))));
    }
  }

  async launch() {
    if (!this.valid) return;
    this.launchButton.disabled = true;
    const partition = $("#launch-partition")?.value;
    const own = [LAUNCHED_BY_TAG, ...(partition ? [{ key: PARTITION_TAG, value: partition }] : [])];
    const params = {
      selector: this.#target(),
      runConfigData: this.editor.value,
      executionMetadata: { tags: [...own, ...this.tags().filter((t) => !own.some((o) => o.key === t.key))] },
    };
    try {
      const data = await gql(LAUNCH, { params });
      const result = data.launchRun;
      if (result.__typename === "RunConfigValidationInvalid") {
        this.#showProblems(result);
        return;
      }
      const success = expectType(result, "LaunchRunSuccess");
      window.location.href = `/runs/${encodeURIComponent(success.run.runId)}`;
    } catch (error) {
      showError(error, "Launch");
      this.launchButton.disabled = !this.valid;
    }
  }
}

// The launchpad: a YAML run-config editor validated by the job's code location as you
// type (every problem by path), tags, and a Launch button that opens the new run.
import { $, clear, h, show } from "../lib/dom.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";

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
const DEBOUNCE_MS = 250;
// Runs launched here say so (the runs table's "launched by" column).
const LAUNCHED_BY_TAG = { key: "opgraph/launched_by", value: "ui" };

export class Launchpad {
  constructor(selector, scaffold) {
    this.selector = selector;
    this.scaffold = scaffold;
    this.editor = $("#run-config-editor");
    this.validation = $("#validation");
    this.launchButton = $("#launch-run");
    this.sequence = 0;
    this.valid = false;
    this.timer = null;
    this.editor.value = scaffold;
    this.editor.addEventListener("input", () => this.#validateSoon());
    this.editor.addEventListener("keydown", (event) => this.#indent(event));
    $("#reset-config").addEventListener("click", () => { this.editor.value = this.scaffold; this.#validateSoon(); });
    $("#add-tag").addEventListener("click", () => this.#addTagRow());
    this.launchButton.addEventListener("click", () => this.launch());
    this.validate();
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

  tags() {
    const tags = [];
    for (const row of $("#tag-rows").children) {
      const key = row.querySelector(".tag-key").value.trim();
      if (key) tags.push({ key, value: row.querySelector(".tag-value").value });
    }
    return tags;
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
      const data = await gql(VALIDATE, { selector: this.selector, config: this.editor.value });
      if (sequence !== this.sequence) return; // the text changed meanwhile
      const result = data.isRunConfigValid;
      if (result.__typename === "RunConfigValid") this.#showValid();
      else this.#showProblems(result);
    } catch (error) {
      if (sequence !== this.sequence) return;
      this.#showProblems({ message: error.message });
      showError(error, "Validating the run config");
    }
  }

  #showValid() {
    this.valid = true;
    this.launchButton.disabled = false;
    this.validation.dataset.state = "valid";
    show(this.validation, h("span", { class: "ok" }, "✓ The run config is valid."));
  }

  #showProblems(result) {
    this.valid = false;
    this.launchButton.disabled = true;
    this.validation.dataset.state = "invalid";
    clear(this.validation);
    this.validation.append(h("span", { class: "bad" }, result.errors ? `${result.errors.length} problem(s):` : result.message));
    if (result.errors) {
      this.validation.append(h("ul", { id: "config-errors" }, result.errors.map((e) =>
        h("li", { "data-path": e.path }, e.path ? h("code", {}, e.path) : null, e.path ? ": " : "", e.message))));
    }
  }

  async launch() {
    if (!this.valid) return;
    this.launchButton.disabled = true;
    const params = {
      selector: this.selector,
      runConfigData: this.editor.value,
      executionMetadata: { tags: [LAUNCHED_BY_TAG, ...this.tags().filter((t) => t.key !== LAUNCHED_BY_TAG.key)] },
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

// A step's captured stdout and stderr, read on by byte cursor while the run is live. The
// box follows new output (as `tail -f` does) until the user scrolls up or pauses it; the
// text read so far can be downloaded as it is. A third view, "combined", shows both streams
// line by line in the order the step printed them (each line marked with its stream), as
// `capturedLogsCombined` reads them back from the capture's record of stream switches.
// Only the view shown is read; the others read on from their cursors when shown.
import { clear, h } from "../lib/dom.js";
import { ERROR_FIELDS, expectType, gql } from "../lib/gql.js";
import { showError } from "../lib/notice.js";

const QUERY = `query Captured($runId: String!, $stepKey: String!, $out: Int!, $err: Int!,
    $cursor: String!, $separate: Boolean!, $combined: Boolean!) {
  capturedLogs(runId: $runId, stepKey: $stepKey, stdoutCursor: $out, stderrCursor: $err) @include(if: $separate) {
    ${ERROR_FIELDS}
    ... on CapturedLogs { stdout { data cursor hasMore } stderr { data cursor hasMore } }
  }
  capturedLogsCombined(runId: $runId, stepKey: $stepKey, cursor: $cursor) @include(if: $combined) {
    ${ERROR_FIELDS}
    ... on CombinedLogs { chunks { stream data } cursor hasMore }
  }
}`;
const POLL_MS = 1000;

export class StepOutput {
  constructor(root, runId, isLive) {
    this.runId = runId;
    this.isLive = isLive; // () => bool
    this.stepKey = null;
    this.stream = "stdout";
    this.cursors = { stdout: 0, stderr: 0 };
    this.timer = null;
    this.generation = 0;
    this.select = h("select", { "aria-label": "Step", onchange: (e) => this.open(e.target.value) }, h("option", { value: "" }, "Choose a step…"));
    this.tabs = ["stdout", "stderr", "combined"].map((name) => h("button", { type: "button", "aria-selected": String(name === "stdout"), onclick: () => this.#tab(name) }, name));
    this.outputs = {
      stdout: h("pre", { id: "stdout" }),
      stderr: h("pre", { id: "stderr", hidden: true }),
      combined: h("pre", { id: "stdio-combined", "aria-label": "stdout and stderr, interleaved", hidden: true }),
    };
    this.combinedCursor = "0.0.0";
    this.partial = null; // the combined view's line not yet ended: {stream, text}
    this.hint = h("p", { class: "empty" }, "Choose a step (or click one in the steps table) to see what it printed.");
    this.follow = true;
    this.followBox = h("input", { type: "checkbox", id: "stdio-follow", checked: true, onchange: (e) => { this.follow = e.target.checked; this.#toEnd(); } });
    this.download = h("a", { class: "button button-small", id: "stdio-download", href: "#", hidden: true, onclick: () => this.#download() }, "Download");
    this.box = h("div", { class: "stdio", id: "step-output", hidden: true, onscroll: () => this.#onScroll() }, this.outputs.stdout, this.outputs.stderr, this.outputs.combined);
    root.append(h("div", { class: "tabs" }, this.select, ...this.tabs,
      h("label", { class: "log-count" }, this.followBox, " follow"), this.download), this.hint, this.box);
  }

  setSteps(stepKeys) {
    const known = new Set([...this.select.options].map((o) => o.value));
    for (const key of stepKeys) if (!known.has(key)) this.select.append(h("option", { value: key }, key));
  }

  #toEnd() {
    if (this.follow) this.box.scrollTop = this.box.scrollHeight;
  }

  #onScroll() {
    // Scrolling up pauses following; scrolling back to the end resumes it.
    const atEnd = this.box.scrollTop + this.box.clientHeight >= this.box.scrollHeight - 4;
    if (atEnd !== this.follow) {
      this.follow = atEnd;
      this.followBox.checked = atEnd;
    }
  }

  #download() {
    const text = this.outputs[this.stream].textContent;
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    this.download.href = url;
    this.download.download = `${this.runId}-${this.stepKey}.${this.stream}.txt`;
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  #tab(name) {
    this.stream = name;
    this.tabs.forEach((tab) => tab.setAttribute("aria-selected", String(tab.textContent === name)));
    this.outputs.stdout.hidden = name !== "stdout";
    this.outputs.stderr.hidden = name !== "stderr";
    this.outputs.combined.hidden = name !== "combined";
    this.#toEnd();
    this.poke(); // this view reads on from where it was
  }

  #line(stream, line) {
    const mark = stream === "stdout" ? "out" : "err";
    this.outputs.combined.append(h("span", { class: `stdio-line stdio-${stream}`, "data-stream": stream },
      h("span", { class: "stdio-mark", title: stream, "aria-label": stream }, mark), " ", line, "\n"));
  }

  /** Add a chunk's complete lines to the combined view; keep an unended tail for later,
   * shown as a line of its own once the other stream prints (or the step is done). */
  #combine(stream, data) {
    if (this.partial && this.partial.stream !== stream) this.#endPartial();
    const lines = ((this.partial?.text || "") + data).split("\n");
    const tail = lines.pop();
    this.partial = tail ? { stream, text: tail } : null;
    for (const line of lines) this.#line(stream, line);
  }

  #endPartial() {
    if (this.partial) this.#line(this.partial.stream, this.partial.text);
    this.partial = null;
  }

  async open(stepKey) {
    this.generation += 1;
    clearTimeout(this.timer);
    this.stepKey = stepKey || null;
    this.select.value = stepKey || "";
    this.cursors = { stdout: 0, stderr: 0 };
    this.reading = false;
    clear(this.outputs.stdout);
    clear(this.outputs.stderr);
    clear(this.outputs.combined);
    this.combinedCursor = "0.0.0";
    this.partial = null;
    this.hint.hidden = Boolean(this.stepKey);
    this.box.hidden = !this.stepKey;
    this.download.hidden = !this.stepKey;
    if (this.stepKey) await this.#read(this.generation);
  }

  /** Read on now (e.g. once the run has ended, for its last lines). */
  poke() {
    if (!this.stepKey) return;
    clearTimeout(this.timer);
    // A read in flight reads on once more when it ends: two at once would both append
    // what lies after the same cursors.
    if (this.reading) this.again = true;
    else this.#read(this.generation);
  }

  async #read(generation) {
    let more = false;
    this.reading = true;
    this.again = false;
    try {
      const combined = this.stream === "combined";
      const data = await gql(QUERY, {
        runId: this.runId, stepKey: this.stepKey, out: this.cursors.stdout, err: this.cursors.stderr,
        cursor: this.combinedCursor, separate: !combined, combined,
      });
      if (generation !== this.generation) return;
      if (combined) {
        const logs = expectType(data.capturedLogsCombined, "CombinedLogs");
        for (const chunk of logs.chunks) this.#combine(chunk.stream, chunk.data);
        this.combinedCursor = logs.cursor;
        more = logs.hasMore;
        if (!more && !this.isLive()) this.#endPartial();
      } else {
        const logs = expectType(data.capturedLogs, "CapturedLogs");
        for (const name of ["stdout", "stderr"]) {
          const chunk = logs[name];
          if (chunk.data) this.outputs[name].append(chunk.data);
          this.cursors[name] = chunk.cursor;
          more ||= chunk.hasMore;
        }
      }
      this.box.dataset.empty = String(!this.outputs.stdout.textContent && !this.outputs.stderr.textContent && !this.outputs.combined.textContent);
      this.#toEnd();
    } catch (error) {
      showError(error, `Reading the output of ${this.stepKey}`);
      return;
    } finally {
      if (generation === this.generation) this.reading = false;
    }
    if (generation !== this.generation) return;
    if (more || this.again) this.#read(generation);
    else if (this.isLive()) this.timer = setTimeout(() => this.#read(generation), POLL_MS);
  }
}

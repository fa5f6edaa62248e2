// The structured event log of a run. It holds every event but only puts the rows in view
// into the page (fixed row height), so a run with tens of thousands of events scrolls and
// filters without delay. Filters: step, event type, level, and a text search.
//
// No frame may show an empty viewport while events stream in: the rows for the new scroll
// position are put in place in the same task that moves it (never one animation frame
// later: new events arrive inside an animation frame, and a frame requested from there
// runs after the paint, which then showed the old rows scrolled out of view). Rows stay in
// the page while they remain in range, so a frame changes only the rows that enter.
import { clear, h } from "../lib/dom.js";
import { formatClock, formatTime } from "../lib/format.js";
import { errorBox } from "./errors.js";

const ROW = 22;
const OVERSCAN = 10;

export class EventLog {
  constructor(root) {
    this.events = [];
    this.shown = [];
    this.filter = { step: "", type: "", level: "", search: "" };
    this.steps = new Set();
    this.types = new Set();
    this.follow = true;
    this.rendered = new Map(); // index in `shown` -> row element in the page
    this.#build(root);
  }

  #build(root) {
    const select = (name, label) => h("select", { "aria-label": label, name, onchange: (e) => this.setFilter({ [name]: e.target.value }) }, h("option", { value: "" }, label));
    this.stepSelect = select("step", "All steps");
    this.typeSelect = select("type", "All event types");
    this.levelSelect = select("level", "All levels");
    for (const level of ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]) this.levelSelect.append(h("option", { value: level }, level));
    let timer = null;
    this.searchInput = h("input", {
      type: "search", placeholder: "Search messages", "aria-label": "Search the log",
      oninput: (e) => { clearTimeout(timer); timer = setTimeout(() => this.setFilter({ search: e.target.value }), 120); },
    });
    this.countLabel = h("span", { class: "log-count", id: "log-count" });
    this.followBox = h("input", { type: "checkbox", checked: true, onchange: (e) => { this.follow = e.target.checked; if (this.follow) this.#scrollToEnd(); } });
    this.spacer = h("div", { class: "log-spacer" });
    this.view = h("div", {
      class: "log-view", id: "event-log", tabindex: 0, onscroll: () => this.#onScroll(),
      onclick: (e) => { // one listener for every row: rows are reused for other events
        const row = e.target.closest(".log-row");
        if (row) this.#showDetail(this.shown[Number(row.dataset.index)]);
      },
    }, this.spacer);
    this.pool = []; // row elements out of range, reused for the rows that come into range
    this.detail = h("div", { class: "log-detail", hidden: true });
    root.append(
      h("div", { class: "log-filters" }, this.stepSelect, this.typeSelect, this.levelSelect, this.searchInput,
        h("label", {}, this.followBox, " follow"), this.countLabel),
      this.view, this.detail);
  }

  #matches(event) {
    const f = this.filter;
    if (f.step && event.stepKey !== f.step) return false;
    if (f.type && event.eventType !== f.type) return false;
    if (f.level && event.level !== f.level) return false;
    if (f.search) {
      const needle = f.search.toLowerCase();
      const hay = `${event.message}\u0000${event.stepKey || ""}\u0000${event.eventType}`.toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }

  add(events) {
    for (const event of events) {
      this.events.push(event);
      if (this.#matches(event)) this.shown.push(event);
      if (event.stepKey && !this.steps.has(event.stepKey)) {
        this.steps.add(event.stepKey);
        this.stepSelect.append(h("option", { value: event.stepKey }, event.stepKey));
      }
      if (!this.types.has(event.eventType)) {
        this.types.add(event.eventType);
        this.typeSelect.append(h("option", { value: event.eventType }, event.eventType));
      }
    }
    this.#update();
  }

  setFilter(change) {
    Object.assign(this.filter, change);
    if ("step" in change) this.stepSelect.value = change.step;
    this.shown = this.events.filter((event) => this.#matches(event));
    this.#drop();
    this.#update();
  }

  /** Forget every row in the page (the list they index changed). */
  #drop() {
    this.rendered.clear();
    this.pool = [];
    this.spacer.replaceChildren();
  }

  #update() {
    this.spacer.style.height = `${this.shown.length * ROW}px`;
    const total = this.events.length;
    this.countLabel.textContent = this.shown.length === total ? `${total} events` : `${this.shown.length} of ${total} events`;
    this.view.dataset.total = String(total);
    this.view.dataset.shown = String(this.shown.length);
    if (this.follow) this.#scrollToEnd();
    this.#render();
  }

  #scrollToEnd() {
    this.view.scrollTop = this.view.scrollHeight;
  }

  #onScroll() {
    const atEnd = this.view.scrollTop + this.view.clientHeight >= this.view.scrollHeight - ROW;
    if (this.follow !== atEnd) {
      this.follow = atEnd;
      this.followBox.checked = atEnd;
    }
    this.#render(); // scroll events come before the frame's paint: the rows are there for it
  }

  #render() {
    const top = this.view.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.shown.length, Math.ceil((top + (this.view.clientHeight || 420)) / ROW) + OVERSCAN);
    for (const [index, row] of this.rendered) {
      if (index < first || index >= last) {
        this.pool.push(row);
        this.rendered.delete(index);
      }
    }
    // Rows leaving the range are filled with the entering events in place (no new
    // elements, no layout of removed ones): a jump of a screen costs text updates only.
    const entering = [];
    for (let i = first; i < last; i += 1) {
      if (!this.rendered.has(i)) {
        const reused = this.pool.pop();
        const row = this.#fill(reused || this.#newRow(), this.shown[i], i);
        this.rendered.set(i, row);
        if (!reused) entering.push(row);
      }
    }
    for (const row of this.pool.splice(0)) row.remove();
    if (entering.length) this.spacer.append(...entering);
  }

  #newRow() {
    return h("div", { class: "log-row" }, h("span"), h("span"), h("span"), h("span"), h("span", { class: "log-message" }));
  }

  #fill(row, event, index) {
    row.className = `log-row level-${event.level} type-${event.eventType}`;
    row.dataset.cursor = event.cursor;
    row.dataset.index = String(index);
    row.title = event.message;
    const [clock, type, step, level, message] = row.children;
    clock.textContent = formatClock(event.timestamp);
    type.textContent = event.eventType;
    step.textContent = event.stepKey || "";
    level.textContent = event.level;
    message.textContent = event.message.split("\n", 1)[0];
    row.style.top = `${index * ROW}px`;
    return row;
  }

  #showDetail(event) {
    clear(this.detail);
    this.detail.hidden = false;
    // An error is shown as text with its stack trace, not as JSON with \n escapes.
    const { error, ...rest } = event.data || {};
    const data = Object.keys(rest).length ? JSON.stringify(rest, null, 2) : null;
    this.detail.append(
      h("div", { class: "log-count" }, `${formatTime(event.timestamp)} · ${event.eventType}${event.stepKey ? ` · ${event.stepKey}` : ""}${event.attempt !== null && event.attempt !== undefined ? ` · attempt ${event.attempt + 1}` : ""} · ${event.level}`),
      h("pre", { class: "log-detail-message" }, event.message),
      error && typeof error === "object" ? errorBox(error, { open: true }) : null,
      data ? h("pre", { class: "log-detail-data" }, data) : null,
      h("button", { type: "button", class: "button-small", onclick: () => { this.detail.hidden = true; } }, "Close"));
  }
}


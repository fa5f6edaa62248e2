// The structured event log of a run. It holds every event but only puts the rows in view
// into the page (fixed row height), so a run with tens of thousands of events scrolls and
// filters without delay. Filters: step, event type, level, and a text search.
import { clear, h } from "../lib/dom.js";
import { formatClock, formatTime } from "../lib/format.js";

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
    this.scheduled = false;
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
    this.view = h("div", { class: "log-view", id: "event-log", tabindex: 0, onscroll: () => this.#onScroll() }, this.spacer);
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
    this.#update();
  }

  #update() {
    this.spacer.style.height = `${this.shown.length * ROW}px`;
    const total = this.events.length;
    this.countLabel.textContent = this.shown.length === total ? `${total} events` : `${this.shown.length} of ${total} events`;
    this.view.dataset.total = String(total);
    this.view.dataset.shown = String(this.shown.length);
    if (this.follow) this.#scrollToEnd();
    this.#schedule();
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
    this.#schedule();
  }

  #schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => { this.scheduled = false; this.#render(); });
  }

  #render() {
    const first = Math.max(0, Math.floor(this.view.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(this.shown.length, Math.ceil((this.view.scrollTop + this.view.clientHeight) / ROW) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i += 1) rows.push(this.#row(this.shown[i], i));
    this.spacer.replaceChildren(...rows);
  }

  #row(event, index) {
    const row = h("div", {
      class: ["log-row", `level-${event.level}`, `type-${event.eventType}`],
      "data-cursor": event.cursor, title: event.message,
      onclick: () => this.#showDetail(event),
    },
      h("span", {}, formatClock(event.timestamp)),
      h("span", {}, event.eventType),
      h("span", {}, event.stepKey || ""),
      h("span", {}, event.level),
      h("span", { class: "log-message" }, event.message.split("\n", 1)[0]));
    row.style.top = `${index * ROW}px`;
    return row;
  }

  #showDetail(event) {
    clear(this.detail);
    this.detail.hidden = false;
    const data = event.data && Object.keys(event.data).length ? JSON.stringify(event.data, null, 2) : null;
    this.detail.append(
      h("div", { class: "log-count" }, `${formatTime(event.timestamp)} · ${event.eventType}${event.stepKey ? ` · ${event.stepKey}` : ""}${event.attempt !== null && event.attempt !== undefined ? ` · attempt ${event.attempt + 1}` : ""} · ${event.level}`),
      h("pre", { class: "log-detail-message" }, event.message),
      data ? h("pre", { class: "log-detail-data" }, data) : null,
      h("button", { type: "button", class: "button-small", onclick: () => { this.detail.hidden = true; } }, "Close"));
  }
}


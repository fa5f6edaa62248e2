// The runs list's filter bar: one input where `job:`, `tag:key=value`, `status:`, `id:`,
// `launched_by:`, `after:` and `before:` tokens become removable chips, with suggestions as
// the user types. The chips are the filter; runs.js keeps them in the URL.
import { h, show } from "../lib/dom.js";

export const STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING", "SUCCESS", "FAILURE", "CANCELED"];

/** Each kind of token: what it means, and whether several chips of it may stand together. */
export const KINDS = {
  job: { hint: "a job's name or part of it", several: false },
  tag: { hint: "key=value; several narrow the list", several: true },
  status: { hint: "a run status; several widen the list", several: true },
  id: { hint: "a run id; several widen the list", several: true },
  launched_by: { hint: "ui or dev", several: false },
  after: { hint: "created on or after a day, YYYY-MM-DD", several: false },
  before: { hint: "created on or before a day, YYYY-MM-DD", several: false },
};

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const MAX_SUGGESTIONS = 12;

function validDay(text) {
  const match = DAY.exec(text);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.getUTCFullYear() === Number(match[1]) && date.getUTCMonth() === Number(match[2]) - 1 && date.getUTCDate() === Number(match[3]);
}

/** A typed token as a chip `{kind, value}`; text without a known `kind:` is part of a job's
 * name. Throws an Error naming the kind and what it expects when the value does not fit. */
export function parseToken(text) {
  const typed = text.trim();
  const colon = typed.indexOf(":");
  const kind = colon > 0 ? typed.slice(0, colon).toLowerCase() : "";
  if (!(kind in KINDS)) {
    if (!typed) throw new Error("type a filter such as job:name or tag:key=value");
    return { kind: "job", value: typed };
  }
  const value = typed.slice(colon + 1).trim();
  if (!value) throw new Error(`${kind}: expected ${KINDS[kind].hint}`);
  if (kind === "tag") {
    const at = value.indexOf("=");
    if (at < 1) throw new Error(`tag: expected key=value, got "${value}"`);
  } else if (kind === "status") {
    const status = value.toUpperCase();
    if (!STATUSES.includes(status)) throw new Error(`status: expected one of ${STATUSES.join(", ")}, got "${value}"`);
    return { kind, value: status };
  } else if (kind === "after" || kind === "before") {
    if (!validDay(value)) throw new Error(`${kind}: expected a day like 2026-11-01, got "${value}"`);
  }
  return { kind, value };
}

/** Add a chip: a kind that stands once replaces its chip, a tag replaces the tag with its
 * key (a run has one value per key), an equal chip is not added twice. */
export function addChip(chips, chip) {
  const sameKey = (c) => c.kind === "tag" && chip.kind === "tag" && c.value.split("=")[0] === chip.value.split("=")[0];
  const kept = chips.filter((c) => !(c.kind === chip.kind && (!KINDS[chip.kind].several || c.value === chip.value)) && !sameKey(c));
  return [...kept, chip];
}

/** What to offer for the text typed so far. `known` holds the suggestions' sources:
 * {jobs: [...names], tags: Map(key -> Set(values)), launchers: [...]}. Each suggestion is
 * {text, label}; a text ending in ":" or "=" continues typing rather than adding a chip. */
export function suggest(typed, known) {
  const text = typed.trimStart();
  const colon = text.indexOf(":");
  const kind = colon > 0 ? text.slice(0, colon).toLowerCase() : "";
  const contains = (value, part) => value.toLowerCase().includes(part.toLowerCase());
  if (!(kind in KINDS)) {
    const kinds = Object.keys(KINDS).filter((k) => k.startsWith(text.toLowerCase())).map((k) => ({ text: `${k}:`, label: KINDS[k].hint }));
    const jobs = text ? known.jobs.filter((name) => contains(name, text)).map((name) => ({ text: `job:${name}`, label: "job" })) : [];
    return [...kinds, ...jobs].slice(0, MAX_SUGGESTIONS);
  }
  const rest = text.slice(colon + 1);
  let values = [];
  if (kind === "job") values = known.jobs.filter((name) => contains(name, rest)).map((name) => ({ text: `job:${name}`, label: "job" }));
  else if (kind === "status") values = STATUSES.filter((s) => contains(s, rest)).map((s) => ({ text: `status:${s}`, label: "status" }));
  else if (kind === "launched_by") values = known.launchers.filter((l) => contains(l, rest)).map((l) => ({ text: `launched_by:${l}`, label: "launched by" }));
  else if (kind === "tag") {
    const at = rest.indexOf("=");
    if (at < 0) {
      values = [...known.tags.keys()].filter((key) => contains(key, rest)).sort().map((key) => ({ text: `tag:${key}=`, label: `tag key, ${known.tags.get(key).size} value(s) seen` }));
    } else {
      const key = rest.slice(0, at);
      const part = rest.slice(at + 1);
      values = [...(known.tags.get(key) || [])].filter((value) => contains(value, part)).sort().map((value) => ({ text: `tag:${key}=${value}`, label: "tag" }));
    }
  } else if (kind === "after" || kind === "before") {
    const day = (daysAgo) => new Date(Date.now() - daysAgo * 86_400_000).toLocaleDateString("sv-SE"); // YYYY-MM-DD, local
    values = [[0, "today"], [1, "yesterday"], [7, "a week ago"], [30, "30 days ago"]]
      .map(([ago, label]) => ({ text: `${kind}:${day(ago)}`, label }))
      .filter((s) => s.text.startsWith(`${kind}:${rest}`));
  }
  return values.slice(0, MAX_SUGGESTIONS);
}

/**
 * The bar inside `root`: chips, the input and the suggestion list.
 * `known()` gives the suggestions' sources; `onChange(chips)` is called with every new set.
 */
export function filterBar(root, { known, onChange }) {
  let chips = [];
  let offered = [];
  let active = -1;
  let moved = false; // the user chose a suggestion with the arrow keys
  const chipsBox = h("span", { class: "filter-chips", id: "run-filter-chips" });
  const input = h("input", {
    id: "run-filter-input", type: "text", autocomplete: "off", spellcheck: "false", size: 40,
    placeholder: "Filter: job:, tag:key=value, status:, id:, launched_by:, after:, before:",
    role: "combobox", "aria-expanded": "false", "aria-controls": "run-filter-suggestions", "aria-label": "Filter runs",
  });
  const list = h("ul", { class: "filter-suggestions", id: "run-filter-suggestions", role: "listbox", hidden: true });
  const problem = h("div", { class: "filter-problem", id: "run-filter-problem", role: "alert" });
  show(root, h("div", { class: "filter-bar" }, chipsBox, input, list), problem);

  function renderChips() {
    show(chipsBox, chips.map((chip) => {
      const text = `${chip.kind}:${chip.value}`;
      return h("span", { class: ["filter-chip", `filter-chip-${chip.kind}`], "data-kind": chip.kind, "data-value": chip.value, title: KINDS[chip.kind].hint },
        text, h("button", { type: "button", class: "chip-remove", "aria-label": `Remove the filter ${text}`, onclick: () => remove(chip) }, "×"));
    }));
  }

  function renderSuggestions() {
    offered = suggest(input.value, known());
    active = offered.length ? Math.min(Math.max(active, 0), offered.length - 1) : -1;
    list.hidden = !offered.length || document.activeElement !== input;
    input.setAttribute("aria-expanded", String(!list.hidden));
    show(list, offered.map((s, i) => h("li", {
      role: "option", "data-value": s.text, class: i === active && "active", "aria-selected": String(i === active),
      // mousedown, not click: the input keeps its focus
      onmousedown: (e) => { e.preventDefault(); pick(s.text); },
    }, h("span", { class: "mono" }, s.text), h("span", { class: "suggestion-label" }, s.label))));
  }

  function commit(text) {
    let chip;
    try {
      chip = parseToken(text);
    } catch (error) {
      problem.textContent = error.message;
      return;
    }
    problem.textContent = "";
    input.value = "";
    set(addChip(chips, chip));
    renderSuggestions();
  }

  function pick(text) {
    moved = false;
    if (text.endsWith(":") || text.endsWith("=")) {
      input.value = text;
      problem.textContent = "";
      active = 0;
      renderSuggestions();
      input.focus();
    } else {
      commit(text);
    }
  }

  function remove(chip) {
    set(chips.filter((c) => c !== chip));
  }

  function set(next, notify = true) {
    chips = next;
    renderChips();
    if (notify) onChange(chips);
  }

  input.addEventListener("input", () => { active = 0; moved = false; problem.textContent = ""; renderSuggestions(); });
  input.addEventListener("focus", renderSuggestions);
  input.addEventListener("blur", () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!offered.length) return;
      active = (active + (e.key === "ArrowDown" ? 1 : -1) + offered.length) % offered.length;
      moved = true;
      renderSuggestions();
    } else if (e.key === "Enter") {
      e.preventDefault();
      // Enter adds what was typed when it is a whole token, unless the user moved to a
      // suggestion; a kind without its value ("job:") takes the first suggestion.
      const typed = input.value.trim();
      if (moved && offered[active]) pick(offered[active].text);
      else if (typed && complete(typed)) commit(typed);
      else if (offered[active] && typed) pick(offered[active].text);
      else if (typed) commit(typed); // says what is missing
    } else if (e.key === "Tab" && offered[active] && input.value.trim()) {
      e.preventDefault();
      pick(offered[active].text);
    } else if (e.key === "Escape") {
      list.hidden = true;
    } else if (e.key === "Backspace" && !input.value && chips.length) {
      remove(chips[chips.length - 1]);
    }
  });

  return {
    /** Show these chips without calling onChange (from the URL). */
    show: (next) => set(next, false),
    chips: () => chips,
    add: (chip) => set(addChip(chips, chip)),
    /** Offer again (the sources of suggestions grew). */
    refresh: () => { if (document.activeElement === input) renderSuggestions(); },
    input,
  };
}

function complete(typed) {
  try {
    parseToken(typed);
    return true;
  } catch {
    return false;
  }
}

// An error as a person reads it: class and message on top, then the stack trace as text,
// the user's own frames first and the platform's and Python's folded away.
import { h } from "../lib/dom.js";

const FRAME = /^ {2}File "(.+)", line (\d+), in (.+)$/;
// Frames of opgraph itself, installed packages and the standard library.
const PLATFORM = /[\\/](site-packages|dist-packages)[\\/]|[\\/]lib[\\/]python3[^\\/]*[\\/]|[\\/]opgraph[\\/]|[\\/]opgraph_[a-z]+[\\/]|<frozen /;

/** Frames of a Python traceback text: [{file, line, fn, code, user}], plus its other lines. */
export function parseTraceback(text) {
  const frames = [];
  const other = [];
  const lines = String(text || "").split("\n");
  for (let i = 0; i < lines.length; i += 1) {
    const match = FRAME.exec(lines[i]);
    if (!match) {
      if (lines[i].trim() && !lines[i].startsWith("Traceback (most recent call last)")) other.push(lines[i]);
      continue;
    }
    const code = [];
    while (i + 1 < lines.length && lines[i + 1].startsWith("    ")) code.push(lines[++i].trim());
    frames.push({ file: match[1], line: Number(match[2]), fn: match[3], code: code.filter((c) => !/^[~^ ]+$/.test(c)).join("\n"), user: !PLATFORM.test(match[1]) });
  }
  return { frames, other };
}

function frameRow(frame) {
  return h("li", { class: ["frame", frame.user ? "frame-user" : "frame-platform"] },
    h("div", { class: "frame-where" }, h("span", { class: "mono" }, frame.file), `:${frame.line} in `, h("code", {}, frame.fn)),
    frame.code ? h("pre", { class: "frame-code" }, frame.code) : null);
}

/** A box for `{class, message, traceback}` (an event's data.error). */
export function errorBox(error, { title = null, open = false } = {}) {
  const { frames, other } = parseTraceback(error.traceback);
  const user = frames.filter((f) => f.user).reverse(); // innermost first: where it broke
  const platform = frames.filter((f) => !f.user).reverse();
  const trace = error.traceback
    ? h("details", { class: "stack", open },
      h("summary", {}, `Stack trace (${frames.length} frames${user.length ? `, ${user.length} in your code` : ""})`),
      user.length ? [h("h4", {}, "Your code, innermost first"), h("ol", { class: "frames" }, user.map(frameRow))] : null,
      platform.length ? h("details", { class: "stack-platform" }, h("summary", {}, `${platform.length} frames of opgraph and Python`), h("ol", { class: "frames" }, platform.map(frameRow))) : null,
      h("details", { class: "stack-raw" }, h("summary", {}, "As Python printed it"), h("pre", { class: "traceback-text" }, error.traceback)))
    : null;
  return h("div", { class: "error-box" },
    title ? h("div", { class: "error-title" }, title) : null,
    h("div", { class: "error-message" }, h("strong", { class: "error-class" }, error.class || "Error"), ": ", h("span", {}, error.message || "")),
    trace);
}

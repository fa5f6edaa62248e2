export { EditorView, keymap, hoverTooltip, lineNumbers } from "@codemirror/view";
export { EditorState } from "@codemirror/state";
export { basicSetup } from "codemirror";
export { yaml } from "@codemirror/lang-yaml";
export { linter, lintGutter, setDiagnostics, forceLinting } from "@codemirror/lint";
export { autocompletion, startCompletion } from "@codemirror/autocomplete";
export { indentWithTab } from "@codemirror/commands";
export { syntaxTree } from "@codemirror/language";

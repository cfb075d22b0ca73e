// The code lab's editor: CodeMirror 6 set up once for Python, exposed as window.LabEditor.
// build.mjs bundles this file into static/vendor/codemirror/lab-editor.js (`make editor`);
// static/lab/lab.js is its only user. Colours come from the site's custom properties
// (static/css/site.css) and the token colours from --lab-tok-* (static/lab/lab.css), so the
// editor follows the light and dark themes without a theme of its own per scheme.
import { minimalSetup } from "codemirror";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import {
  bracketMatching,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import {
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { tags as t } from "@lezer/highlight";

const tok = (name) => `var(--lab-tok-${name})`;

// Token colours by role; a variable that is not defined leaves the text in --code-fg.
const labHighlight = HighlightStyle.define([
  { tag: t.keyword, color: tok("keyword") },
  { tag: t.operatorKeyword, color: tok("operator-keyword") },
  { tag: [t.bool, t.null], color: tok("constant") },
  { tag: [t.string, t.special(t.string)], color: tok("string") },
  { tag: t.escape, color: tok("escape") },
  { tag: t.number, color: tok("number") },
  { tag: t.comment, color: tok("comment"), fontStyle: "italic" },
  {
    tag: [t.function(t.variableName), t.function(t.definition(t.variableName)),
      t.function(t.propertyName)],
    color: tok("function"),
  },
  { tag: t.definition(t.className), color: tok("class"), fontWeight: "bold" },
  { tag: t.operator, color: tok("operator") },
  { tag: t.meta, color: tok("meta") },
  { tag: t.invalid, color: "var(--bad)" },
]);

// The editor's frame and chrome, in the site's custom properties (fallbacks for a page
// without site.css). The focus ring is the site's: 3px of --focus, 2px off the frame.
const labTheme = EditorView.theme({
  "&": {
    color: "var(--code-fg, var(--fg, CanvasText))",
    backgroundColor: "var(--code-bg, Canvas)",
    border: "1px solid var(--border, GrayText)",
    borderRadius: "6px",
    fontSize: "0.9rem",
  },
  "&.cm-focused": {
    outline: "3px solid var(--focus, Highlight)",
    outlineOffset: "2px",
  },
  ".cm-scroller": {
    fontFamily: "var(--mono, ui-monospace, monospace)",
    lineHeight: "1.55",
    borderRadius: "5px",
  },
  ".cm-content": {
    caretColor: "var(--fg, CanvasText)",
    padding: "0.6rem 0",
  },
  ".cm-line": { padding: "0 0.75rem 0 0.5rem" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--fg, CanvasText)", borderLeftWidth: "2px" },
  ".cm-gutters": {
    backgroundColor: "var(--code-bg, Canvas)",
    color: "var(--muted, GrayText)",
    borderRight: "1px solid var(--border, GrayText)",
    borderRadius: "5px 0 0 5px",
  },
  ".cm-lineNumbers .cm-gutterElement": { padding: "0 0.5rem 0 0.75rem", minWidth: "2.5ch" },
  // The line being edited is marked only while the editor has focus: a tint that never
  // sits under text the learner is merely reading keeps every token's contrast as it is.
  ".cm-activeLine, .cm-activeLineGutter": { backgroundColor: "transparent" },
  "&.cm-focused .cm-activeLine": {
    backgroundColor: "color-mix(in srgb, var(--fg, CanvasText) 4%, transparent)",
  },
  "&.cm-focused .cm-activeLineGutter": {
    backgroundColor: "color-mix(in srgb, var(--fg, CanvasText) 4%, transparent)",
    color: "var(--fg, CanvasText)",
  },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection": {
    backgroundColor: "color-mix(in srgb, var(--focus, Highlight) 28%, transparent)",
  },
  "&.cm-focused .cm-matchingBracket": {
    backgroundColor: "color-mix(in srgb, var(--ok, green) 22%, transparent)",
    outline: "1px solid color-mix(in srgb, var(--ok, green) 60%, transparent)",
  },
  "&.cm-focused .cm-nonmatchingBracket": {
    backgroundColor: "color-mix(in srgb, var(--bad, red) 22%, transparent)",
  },
  ".cm-selectionMatch": {
    backgroundColor: "color-mix(in srgb, var(--warn, orange) 18%, transparent)",
  },
  ".cm-searchMatch": {
    backgroundColor: "color-mix(in srgb, var(--warn, orange) 30%, transparent)",
    outline: "1px solid var(--warn, orange)",
  },
  ".cm-searchMatch.cm-searchMatch-selected": {
    backgroundColor: "color-mix(in srgb, var(--focus, Highlight) 35%, transparent)",
  },
  ".cm-panels": {
    backgroundColor: "var(--surface, Canvas)",
    color: "var(--fg, CanvasText)",
  },
  ".cm-panels.cm-panels-bottom": { borderTop: "1px solid var(--border, GrayText)" },
  ".cm-panels.cm-panels-top": { borderBottom: "1px solid var(--border, GrayText)" },
  ".cm-panel.cm-search": { fontFamily: "var(--font, system-ui, sans-serif)", padding: "0.4rem 0.6rem" },
  ".cm-textfield": {
    color: "var(--fg, CanvasText)",
    backgroundColor: "var(--bg, Canvas)",
    border: "1px solid var(--border, GrayText)",
    borderRadius: "4px",
  },
  ".cm-button": {
    color: "var(--fg, CanvasText)",
    backgroundImage: "none",
    backgroundColor: "var(--surface, Canvas)",
    border: "1px solid var(--border, GrayText)",
    borderRadius: "4px",
  },
  ".cm-panel button[name=close]": { color: "var(--muted, GrayText)" },
  ".cm-textfield:focus-visible, .cm-button:focus-visible, .cm-panel input[type=checkbox]:focus-visible, .cm-panel button:focus-visible": {
    outline: "3px solid var(--focus, Highlight)",
    outlineOffset: "1px",
  },
});

// CodeMirror's own defaults (tooltips, panels) pick a light or a dark look from this
// facet; it follows the same media query as site.css.
const darkQuery = typeof window !== "undefined" && window.matchMedia
  ? window.matchMedia("(prefers-color-scheme: dark)")
  : null;
const isDark = () => Boolean(darkQuery && darkQuery.matches);

function create(parent, options) {
  const opts = options || {};
  const onChange = typeof opts.onChange === "function" ? opts.onChange : null;
  const onRun = typeof opts.onRun === "function" ? opts.onRun : null;
  const scheme = new Compartment();
  const contentAttributes = { "aria-label": String(opts.label || "Python code") };
  if (opts.describedBy) { contentAttributes["aria-describedby"] = String(opts.describedBy); }

  const extensions = [
    // Mod-Enter runs (ahead of the default keymap's insertBlankLine on the same key).
    Prec.highest(keymap.of([{
      key: "Mod-Enter",
      preventDefault: true,
      run: (view) => {
        if (onRun) { onRun(view.state.doc.toString()); }
        return true;
      },
    }])),
    keymap.of([...closeBracketsKeymap, ...searchKeymap]),
    // Tab indents; Escape then Tab (or Ctrl-M / Shift-Alt-M, which toggles it) still moves
    // the focus out of the editor: CodeMirror's tab focus mode, in the default keymap.
    keymap.of([indentWithTab]),
    minimalSetup,
    lineNumbers(),
    highlightActiveLine(),
    highlightActiveLineGutter(),
    bracketMatching(),
    closeBrackets(),
    indentOnInput(),
    highlightSelectionMatches(),
    python(),
    indentUnit.of("    "),
    EditorState.tabSize.of(4),
    syntaxHighlighting(labHighlight),
    labTheme,
    scheme.of(EditorView.darkTheme.of(isDark())),
    EditorView.contentAttributes.of(contentAttributes),
    EditorView.updateListener.of((update) => {
      if (update.docChanged && onChange) { onChange(update.state.doc.toString()); }
    }),
  ];

  const view = new EditorView({
    parent,
    state: EditorState.create({ doc: String(opts.doc || ""), extensions }),
  });

  const followScheme = () => {
    view.dispatch({ effects: scheme.reconfigure(EditorView.darkTheme.of(isDark())) });
  };
  if (darkQuery && darkQuery.addEventListener) { darkQuery.addEventListener("change", followScheme); }

  return {
    view,
    getValue() { return view.state.doc.toString(); },
    // One undoable change (Ctrl-Z brings the replaced text back); onChange hears it too.
    setValue(text) {
      const doc = String(text == null ? "" : text);
      if (doc === view.state.doc.toString()) { return; }
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: doc },
        selection: { anchor: 0 },
        userEvent: "input.replace",
        scrollIntoView: true,
      });
    },
    focus() { view.focus(); },
    destroy() {
      if (darkQuery && darkQuery.removeEventListener) {
        darkQuery.removeEventListener("change", followScheme);
      }
      view.destroy();
    },
  };
}

window.LabEditor = Object.freeze({ create });

// CodeMirror, composed in one place: Python, the editing comforts, the lint
// source (ValidateCode) and the two shortcuts. Colours come from CSS
// variables so the editor follows the system's light/dark preference.
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import {
  HighlightStyle,
  bracketMatching,
  foldGutter,
  foldKeymap,
  indentOnInput,
  syntaxHighlighting,
} from '@codemirror/language';
import { type Diagnostic as CmDiagnostic, linter, lintGutter, lintKeymap } from '@codemirror/lint';
import { highlightSelectionMatches, search, searchKeymap } from '@codemirror/search';
import { EditorState, type Extension, Prec } from '@codemirror/state';
import {
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import { tags as t } from '@lezer/highlight';

const highlight = HighlightStyle.define([
  { tag: t.keyword, color: 'var(--tok-keyword)' },
  { tag: [t.string, t.special(t.string)], color: 'var(--tok-string)' },
  { tag: t.comment, color: 'var(--tok-comment)', fontStyle: 'italic' },
  { tag: [t.number, t.bool, t.null], color: 'var(--tok-number)' },
  { tag: [t.function(t.variableName), t.function(t.propertyName), t.definition(t.variableName)], color: 'var(--tok-def)' },
  { tag: [t.className, t.typeName], color: 'var(--tok-type)' },
  { tag: t.meta, color: 'var(--tok-meta)' },
  { tag: t.invalid, color: 'var(--danger)' },
]);

export interface EditorHooks {
  /** The CSP nonce for the styles CodeMirror injects. */
  nonce: string;
  /** Called (debounced by CodeMirror) to check the code; returns the markers. */
  lint: (view: EditorView) => Promise<readonly CmDiagnostic[]>;
  onChange: (doc: string) => void;
  save: () => void;
  deploy: () => void;
}

export function extensions(hooks: EditorHooks): Extension[] {
  return [
    EditorView.cspNonce.of(hooks.nonce),
    Prec.highest(
      keymap.of([
        { key: 'Mod-s', run: () => (hooks.save(), true), preventDefault: true },
        { key: 'Mod-Enter', run: () => (hooks.deploy(), true), preventDefault: true },
      ]),
    ),
    lineNumbers(),
    highlightActiveLineGutter(),
    foldGutter(),
    history(),
    drawSelection(),
    indentOnInput(),
    syntaxHighlighting(highlight),
    bracketMatching(),
    closeBrackets(),
    autocompletion(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    search({ top: true }),
    python(),
    linter(hooks.lint, { delay: 600 }),
    lintGutter(),
    keymap.of([
      ...closeBracketsKeymap,
      ...defaultKeymap,
      ...searchKeymap,
      ...historyKeymap,
      ...foldKeymap,
      ...completionKeymap,
      ...lintKeymap,
      // Tab indents; Escape then Tab leaves the editor (keyboard users).
      indentWithTab,
    ]),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) hooks.onChange(u.state.doc.toString());
    }),
    EditorView.contentAttributes.of({ 'aria-label': 'Code editor' }),
  ];
}

export function newState(doc: string, ext: Extension[]): EditorState {
  return EditorState.create({ doc, extensions: ext });
}

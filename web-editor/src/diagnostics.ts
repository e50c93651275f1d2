// ValidateCode diagnostics → CodeMirror ranges. The validator counts lines
// and columns from 1 and columns in characters (code points); the editor
// counts UTF-16 offsets from 0. Line 0 means "the file as a whole".

export interface Diagnostic {
  code: string;
  severity: string;
  file: string;
  line: number;
  column: number;
  message: string;
  hint: string;
}

export interface Marker {
  from: number;
  to: number;
  severity: 'error' | 'warning' | 'info';
  message: string;
}

/** Offsets of the start of each line of `text`. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}

/** UTF-16 offset within `line` of the 1-based code-point column `column`. */
function columnOffset(line: string, column: number): number {
  let offset = 0;
  let n = 1;
  for (const ch of line) {
    if (n >= column) break;
    offset += ch.length;
    n++;
  }
  return offset;
}

/** The text a marker shows: the code, the message and the hint. */
export function describe(d: Diagnostic): string {
  const hint = d.hint ? `\nHint: ${d.hint}` : '';
  return `${d.code}: ${d.message}${hint}`;
}

function severityOf(s: string): Marker['severity'] {
  return s === 'error' || s === 'warning' ? s : 'info';
}

/**
 * Where `d` goes in `text` (the content of the file it names): from its
 * column to the end of the word there (at least one character), clamped
 * into the document.
 */
export function toMarker(text: string, d: Diagnostic): Marker {
  const starts = lineStarts(text);
  const base = { severity: severityOf(d.severity), message: describe(d) };
  if (d.line < 1) return { from: 0, to: Math.min(text.length, starts[1] ?? text.length), ...base };
  const lineNo = Math.min(d.line, starts.length);
  const start = starts[lineNo - 1];
  const end = lineNo < starts.length ? starts[lineNo] - 1 : text.length;
  const line = text.slice(start, end);
  const col = columnOffset(line, Math.max(1, d.column));
  const from = start + col;
  const word = /^\w+/.exec(line.slice(col));
  const to = Math.min(end, from + Math.max(1, word ? word[0].length : 1));
  return { from: Math.min(from, end), to: Math.max(to, Math.min(from, end)), ...base };
}

/** The diagnostics of one file, as markers; the rest belong to other tabs. */
export function markersFor(file: string, text: string, diagnostics: Diagnostic[]): Marker[] {
  return diagnostics.filter((d) => d.file === file).map((d) => toMarker(text, d));
}

/** "main.py:3:5" — how the problems list and tracebacks name a place. */
export function place(d: Pick<Diagnostic, 'file' | 'line' | 'column'>): string {
  if (!d.file) return 'app';
  if (d.line < 1) return d.file;
  return `${d.file}:${d.line}:${d.column}`;
}

export interface TraceFrame {
  file: string;
  line: number;
}

/**
 * The user's files named in a Python traceback (`File ".../main.py", line 3`),
 * innermost last as Python prints them. Only files of the app count: the
 * runner's and FastAPI's frames are not the learner's to fix.
 */
export function traceFrames(traceback: string, files: string[]): TraceFrame[] {
  const frames: TraceFrame[] = [];
  const re = /File "([^"]+)", line (\d+)/g;
  for (const m of traceback.matchAll(re)) {
    const base = m[1].split('/').pop() ?? m[1];
    const inApp = files.includes(base) && (m[1] === base || !m[1].includes('site-packages'));
    if (inApp) frames.push({ file: base, line: Number(m[2]) });
  }
  return frames;
}

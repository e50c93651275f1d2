import { describe, expect, it } from 'vitest';
import { type Diagnostic, markersFor, place, toMarker, traceFrames } from './diagnostics';

const d = (line: number, column: number, extra: Partial<Diagnostic> = {}): Diagnostic => ({
  code: 'GF100',
  severity: 'error',
  file: 'main.py',
  line,
  column,
  message: 'bad',
  hint: '',
  ...extra,
});

describe('diagnostics → markers', () => {
  const text = 'import os\nx = undefined_name\n';

  it('puts a 1-based line and column on the word there', () => {
    const m = toMarker(text, d(2, 5));
    expect(text.slice(m.from, m.to)).toBe('undefined_name');
    expect(m.severity).toBe('error');
  });

  it('counts columns in characters, not UTF-16 units', () => {
    const emoji = 's = "😀" + oops\n';
    const m = toMarker(emoji, d(1, 11));
    expect(emoji.slice(m.from, m.to)).toBe('oops');
  });

  it('clamps lines and columns past the end into the document', () => {
    const m = toMarker(text, d(99, 99));
    expect(m.from).toBeLessThanOrEqual(text.length);
    expect(m.to).toBeGreaterThanOrEqual(m.from);
  });

  it('marks the first line for a diagnostic about the whole file', () => {
    const m = toMarker(text, d(0, 0));
    expect(m.from).toBe(0);
    expect(m.to).toBeGreaterThan(0);
  });

  it('shows the code, the message and the hint', () => {
    expect(toMarker(text, d(1, 1, { hint: 'use sys' })).message).toBe('GF100: bad\nHint: use sys');
  });

  it('keeps other files\' diagnostics for their own tabs', () => {
    const ms = markersFor('main.py', text, [d(1, 1), d(1, 1, { file: 'users.py' })]);
    expect(ms).toHaveLength(1);
  });

  it('names places as file:line:col', () => {
    expect(place(d(3, 7))).toBe('main.py:3:7');
    expect(place(d(0, 0))).toBe('main.py');
    expect(place(d(0, 0, { file: '' }))).toBe('app');
  });
});

describe('tracebacks', () => {
  const tb = `Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/uvicorn/importer.py", line 19, in import_from_string
  File "/tmp/apps/u/a/rev-2/main.py", line 5, in <module>
    from users import router
  File "/tmp/apps/u/a/rev-2/users.py", line 9, in <module>
    undefined_thing + 1
NameError: name 'undefined_thing' is not defined`;

  it('links only the app\'s own files, innermost last', () => {
    expect(traceFrames(tb, ['main.py', 'users.py'])).toEqual([
      { file: 'main.py', line: 5 },
      { file: 'users.py', line: 9 },
    ]);
  });

  it('ignores a library file that shares a name with the app\'s', () => {
    expect(traceFrames('File "/x/site-packages/main.py", line 3', ['main.py'])).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { DraftStore, type KeyValue, fileNameProblem, fingerprint } from './drafts';

function memory(): KeyValue & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

const draft = (app: string, content = 'app = 1') => ({ app, files: [{ name: 'main.py', content }], active: 'main.py' });

describe('draft store', () => {
  it('gives back what was saved, and the last one opened first', () => {
    const s = new DraftStore(memory());
    s.save(draft('a', 'one'));
    s.save(draft('b', 'two'));
    expect(s.load('a')?.files[0].content).toBe('one');
    expect(s.last()?.app).toBe('b');
  });

  it('survives a new store on the same storage (a reload)', () => {
    const kv = memory();
    new DraftStore(kv).save(draft('a', 'kept'));
    expect(new DraftStore(kv).last()?.files[0].content).toBe('kept');
  });

  it('ignores what is not a draft (an old or hand-edited entry)', () => {
    const kv = memory();
    kv.setItem('gofast.draft.x', '{"app": "x", "files": "nope"}');
    kv.setItem('gofast.draft.y', 'not json');
    const s = new DraftStore(kv);
    expect(s.load('x')).toBeUndefined();
    expect(s.load('y')).toBeUndefined();
  });

  it('keeps working when storage refuses to write', () => {
    const kv = memory();
    kv.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    expect(() => new DraftStore(kv).save(draft('a'))).not.toThrow();
  });

  it('forgets a removed draft', () => {
    const s = new DraftStore(memory());
    s.save(draft('a'));
    s.remove('a');
    expect(s.load('a')).toBeUndefined();
    expect(s.last()).toBeUndefined();
  });
});

describe('fingerprints and file names', () => {
  it('ignores file order but not content', () => {
    const a = { name: 'a.py', content: '1' };
    const b = { name: 'b.py', content: '2' };
    expect(fingerprint([a, b])).toBe(fingerprint([b, a]));
    expect(fingerprint([a, b])).not.toBe(fingerprint([a, { ...b, content: '3' }]));
  });

  it('accepts module names and refuses others and duplicates', () => {
    expect(fileNameProblem('routes.py', ['main.py'])).toBeUndefined();
    expect(fileNameProblem('main.py', ['main.py'])).toMatch(/already/);
    expect(fileNameProblem('../x.py', [])).toBeDefined();
    expect(fileNameProblem('my-file.py', [])).toBeDefined();
    expect(fileNameProblem('notes.txt', [])).toBeDefined();
  });
});

import { describe, expect, it } from 'vitest';
import { badges, detail, size, summary, when, type RevisionFacts } from './history';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const rev = (n: number, extra: Partial<RevisionFacts> = {}): RevisionFacts => ({
  number: n,
  createdAtMs: NOW - 90_000,
  fileNames: ['main.py'],
  sizeBytes: 120,
  current: false,
  live: false,
  ...extra,
});

describe('when', () => {
  it('says recent times in words and old ones as a date', () => {
    expect(when(NOW - 5_000, NOW)).toBe('just now');
    expect(when(NOW - 90_000, NOW)).toBe('2 min ago');
    expect(when(NOW - 3 * 3600_000, NOW)).toBe('3 h ago');
    expect(when(NOW - 3 * 86400_000, NOW)).toMatch(/2025/);
    expect(when(undefined, NOW)).toBe('at an unknown time');
  });
});

describe('size', () => {
  it('counts bytes, then kilobytes', () => {
    expect(size(1)).toBe('1 byte');
    expect(size(812)).toBe('812 bytes');
    expect(size(1234)).toBe('1.2 KB');
    expect(size(34_400)).toBe('34 KB');
  });
});

describe('badges and detail', () => {
  it('name current and live in that order', () => {
    expect(badges(rev(1))).toEqual([]);
    expect(badges(rev(1, { live: true, current: true }))).toEqual(['current', 'live']);
    expect(badges(rev(1, { live: true }))).toEqual(['live']);
  });
  it('list when, files and size', () => {
    expect(detail(rev(2, { fileNames: ['main.py', 'routes.py'], sizeBytes: 2048 }), NOW)).toBe('2 min ago · main.py, routes.py · 2.0 KB');
  });
});

describe('summary', () => {
  it('says nothing when the current revision serves', () => {
    expect(summary([rev(2, { current: true, live: true }), rev(1)])).toBe('');
  });
  it('explains a current revision that failed while an older one serves', () => {
    expect(summary([rev(3, { current: true }), rev(2, { live: true })])).toMatch(/revision 3 is the current one, but revision 2 is what serves/i);
  });
  it('explains an empty list and a first deploy that never started', () => {
    expect(summary([])).toMatch(/No revisions yet/);
    expect(summary([rev(1, { current: true })])).toMatch(/none has become live/);
  });
});

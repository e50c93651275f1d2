import { describe, expect, it } from 'vitest';
import { formatMs, label, push, rows, total, type StageEvent } from './timeline';

const at = (stage: string, ms: number): StageEvent => ({ stage, message: '', at: ms });

describe('stage timeline', () => {
  const events = [at('VALIDATING', 0), at('STORED', 20), at('APPLYING', 25), at('STARTING', 40), at('HEALTH_CHECK', 900)];

  it('times each stage until the next one; the last is still going', () => {
    const r = rows(events);
    expect(r.map((x) => x.ms)).toEqual([20, 5, 15, 860, undefined]);
    expect(r[4].state).toBe('current');
    expect(r[0].state).toBe('done');
  });

  it('ends ready or failed', () => {
    expect(rows([...events, at('READY', 1000)]).at(-1)?.state).toBe('ready');
    expect(rows([...events, at('FAILED', 1000)]).at(-1)?.state).toBe('failed');
    expect(total([...events, at('READY', 1000)])).toBe(1000);
    expect(total([at('VALIDATING', 0)])).toBeUndefined();
  });

  it('drops an event seen twice (history re-sent on reconnect)', () => {
    const once = push([], at('STORED', 5));
    expect(push(once, at('STORED', 5))).toHaveLength(1);
    expect(push(once, at('APPLYING', 6))).toHaveLength(2);
  });

  it('never shows a negative duration when clocks disagree', () => {
    expect(rows([at('A', 10), at('B', 5)])[0].ms).toBe(0);
  });

  it('formats for people', () => {
    expect(formatMs(250)).toBe('250 ms');
    expect(formatMs(1530)).toBe('1.5 s');
    expect(label('HEALTH_CHECK')).toBe('health check');
  });
});

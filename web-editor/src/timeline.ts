// The deploy's stages as the learner sees them: one row per stage in the
// order they happened, with how long each took (until the next one).

export interface StageEvent {
  stage: string; // VALIDATING, STORED, ..., READY, FAILED
  message: string;
  at: number; // ms since the epoch
}

export interface StageRow {
  stage: string;
  message: string;
  /** Milliseconds until the next stage; undefined while it is the last. */
  ms?: number;
  state: 'done' | 'current' | 'ready' | 'failed';
}

export const FINAL = new Set(['READY', 'FAILED']);

/** Adds an event, dropping repeats of the same stage (a re-sent history). */
export function push(events: StageEvent[], e: StageEvent): StageEvent[] {
  if (events.some((x) => x.stage === e.stage && x.at === e.at)) return events;
  return [...events, e];
}

export function rows(events: StageEvent[]): StageRow[] {
  return events.map((e, i) => {
    const next = events[i + 1];
    const state: StageRow['state'] =
      e.stage === 'READY' ? 'ready' : e.stage === 'FAILED' ? 'failed' : next ? 'done' : 'current';
    return { stage: e.stage, message: e.message, ms: next ? Math.max(0, next.at - e.at) : undefined, state };
  });
}

/** From the first event to the last: the whole deploy. */
export function total(events: StageEvent[]): number | undefined {
  if (events.length < 2) return undefined;
  return events[events.length - 1].at - events[0].at;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** "HEALTH_CHECK" → "health check". */
export function label(stage: string): string {
  return stage.toLowerCase().replace(/_/g, ' ');
}

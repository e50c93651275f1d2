// How the Revisions panel words a revision: when, what, and what the app
// does with it. Pure, so that the wording is tested without a browser.

export interface RevisionFacts {
  number: number;
  /** Milliseconds since the epoch; undefined when the server sent none. */
  createdAtMs?: number;
  fileNames: string[];
  sizeBytes: number;
  current: boolean;
  live: boolean;
}

/** "just now", "5 min ago", "3 h ago", else the date and time. */
export function when(ms: number | undefined, now: number): string {
  if (ms === undefined) return 'at an unknown time';
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return 'just now';
  if (s < 45 * 60) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 20 * 3600) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "812 bytes", "1.2 KB", "34 KB". */
export function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} byte${bytes === 1 ? '' : 's'}`;
  const kb = bytes / 1000;
  return `${kb < 10 ? kb.toFixed(1) : Math.round(kb)} KB`;
}

/** The badges a revision carries, in the order shown. */
export function badges(r: RevisionFacts): string[] {
  return [...(r.current ? ['current'] : []), ...(r.live ? ['live'] : [])];
}

/** One line under the revision's number: when, which files, how big. */
export function detail(r: RevisionFacts, now: number): string {
  return `${when(r.createdAtMs, now)} · ${r.fileNames.join(', ')} · ${size(r.sizeBytes)}`;
}

/** What the panel says above the list, when it says anything. */
export function summary(list: RevisionFacts[]): string {
  if (list.length === 0) return 'No revisions yet: each deploy stores one.';
  const current = list.find((r) => r.current);
  const live = list.find((r) => r.live);
  if (current && !live) return `Revision ${current.number} is the current one; none has become live yet.`;
  if (current && live && current !== live) {
    return `Revision ${current.number} is the current one, but revision ${live.number} is what serves (the newer one did not start).`;
  }
  return '';
}

// Drafts live in the browser (localStorage of the platform's origin), so a
// reload, a closed tab or a dropped connection loses nothing. One draft per
// app name; the last one opened comes back first.

export interface SourceFile {
  name: string;
  content: string;
}

export interface Draft {
  app: string;
  files: SourceFile[];
  active: string;
  /** A fingerprint of the files last deployed, to say "unchanged". */
  deployed?: string;
}

/** The subset of Storage the store needs (tests pass a Map-backed one). */
export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const PREFIX = 'gofast.draft.';
const LAST = 'gofast.draft-last';

function valid(d: unknown): d is Draft {
  if (typeof d !== 'object' || d === null) return false;
  const x = d as Draft;
  return (
    typeof x.app === 'string' &&
    typeof x.active === 'string' &&
    Array.isArray(x.files) &&
    x.files.every((f) => typeof f?.name === 'string' && typeof f?.content === 'string')
  );
}

export class DraftStore {
  constructor(private readonly kv: KeyValue) {}

  save(d: Draft): void {
    try {
      this.kv.setItem(PREFIX + d.app, JSON.stringify(d));
      this.kv.setItem(LAST, d.app);
    } catch {
      // Storage full or disabled: the editor keeps working without drafts.
    }
  }

  load(app: string): Draft | undefined {
    try {
      const raw = this.kv.getItem(PREFIX + app);
      if (!raw) return undefined;
      const d: unknown = JSON.parse(raw);
      return valid(d) ? d : undefined;
    } catch {
      return undefined;
    }
  }

  /** The draft opened last, if any. */
  last(): Draft | undefined {
    const app = this.kv.getItem(LAST);
    return app === null ? undefined : this.load(app);
  }

  remove(app: string): void {
    this.kv.removeItem(PREFIX + app);
    if (this.kv.getItem(LAST) === app) this.kv.removeItem(LAST);
  }
}

/** Same files, same fingerprint, whatever their order. */
export function fingerprint(files: SourceFile[]): string {
  return JSON.stringify([...files].sort((a, b) => a.name.localeCompare(b.name)).map((f) => [f.name, f.content]));
}

/** A name for a file: plain, ends in .py, not taken. Undefined when fine. */
export function fileNameProblem(name: string, taken: string[]): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*\.py$/.test(name)) return 'A file name is a Python module name ending in .py, like routes.py.';
  if (taken.includes(name)) return `There is already a file named ${name}.`;
  return undefined;
}

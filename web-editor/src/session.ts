// The access token lives in sessionStorage of the platform's origin. Apps
// are served from another origin (the apps host), so no app's script can
// read it; it is never put in a cookie, so no request an app's page makes
// carries it; and it goes away with the tab.

const KEY = 'gofast.session';

export interface Session {
  token: string;
  email: string;
  expiresAt?: number;
}

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Session;
    if (typeof s.token !== 'string' || typeof s.email !== 'string') return undefined;
    if (s.expiresAt && s.expiresAt < Date.now()) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

// Server errors in words, and the diagnostics a refused deploy carries.
import { Code, ConnectError } from '@connectrpc/connect';
import { ValidateCodeResponseSchema } from './gen/gofast/v1/apps_pb';
import type { Diagnostic } from './diagnostics';

export function words(e: unknown): string {
  if (e instanceof ConnectError) {
    switch (e.code) {
      case Code.Unavailable:
        return 'The platform cannot be reached; your draft is kept here. Try again in a moment.';
      case Code.Unauthenticated:
        return e.rawMessage || 'your session ended';
      default:
        return e.rawMessage || e.message;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

/** The diagnostics of a deploy refused as INVALID_ARGUMENT, if any. */
export function refusedDiagnostics(e: unknown): Diagnostic[] {
  if (!(e instanceof ConnectError)) return [];
  return e.findDetails(ValidateCodeResponseSchema).flatMap((r) => r.diagnostics);
}

export function isUnauthenticated(e: unknown): boolean {
  return e instanceof ConnectError && e.code === Code.Unauthenticated;
}

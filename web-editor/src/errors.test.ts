import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { refusedDiagnostics, words } from './errors';
import { DiagnosticSchema, ValidateCodeResponseSchema } from './gen/gofast/v1/apps_pb';

describe('server errors', () => {
  it('finds the diagnostics a refused deploy carries (google.rpc.Status detail)', () => {
    const detail = create(ValidateCodeResponseSchema, {
      ok: false,
      diagnostics: [create(DiagnosticSchema, { code: 'GF001', file: 'main.py', line: 3, column: 5, message: 'invalid syntax' })],
    });
    const e = new ConnectError('code has problems', Code.InvalidArgument, undefined, [
      { desc: ValidateCodeResponseSchema, value: detail },
    ]);
    const found = refusedDiagnostics(e);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ code: 'GF001', line: 3, column: 5 });
  });

  it('finds none in other errors', () => {
    expect(refusedDiagnostics(new ConnectError('nope', Code.NotFound))).toEqual([]);
    expect(refusedDiagnostics(new Error('x'))).toEqual([]);
  });

  it('says what to do, in words', () => {
    expect(words(new ConnectError('', Code.Unavailable))).toMatch(/cannot be reached.*draft is kept/);
    expect(words(new ConnectError('invalid email or password', Code.Unauthenticated))).toBe('invalid email or password');
    expect(words(new ConnectError('you already have an app named "x"', Code.AlreadyExists))).toBe('you already have an app named "x"');
  });
});

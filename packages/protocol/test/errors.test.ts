import { describe, expect, it } from 'vitest';
import {
  closeCodeOf,
  decodeServerFrame,
  encodeFrame,
  errorMessageBytesMax,
  utf8ByteLength,
  errorCatalogue,
  errorCodeOfClose,
  errorCodeOfWire,
  errorCodes,
  isErrorCode,
  VigilError,
  vigilErrorFromWire,
  wireError,
} from '../src/index.js';

describe('error table', () => {
  it('is the closed list the protocol documents (adding a code is a deliberate edit here)', () => {
    expect([...errorCodes]).toEqual([
      'NO_NODE', 'NODE_EXISTS', 'BAD_VERSION', 'NOT_EMPTY', 'NO_CHILDREN_FOR_EPHEMERALS', 'BAD_ARGUMENTS', 'NO_WATCH', 'HISTORY_COMPACTED', 'NO_AUTH', 'INVALID_ACL',
      'SESSION_EXPIRED', 'SESSION_MOVED', 'TOO_MANY_WATCHES', 'STALE_SEQUENCE', 'TOO_MANY_SESSIONS', 'TOO_MANY_EPHEMERALS', 'AUTH_FAILED',
      'MALFORMED_FRAME', 'UNKNOWN_OP', 'FRAME_TOO_LARGE', 'UNSUPPORTED_VERSION', 'PROTOCOL_VIOLATION', 'HANDSHAKE_TIMEOUT', 'TOO_MANY_REQUESTS', 'SLOW_CONSUMER',
      'NOT_LEADER', 'NO_LEADER', 'TIMEOUT', 'UNAVAILABLE', 'PROPOSAL_DROPPED', 'BACKPRESSURE', 'SHUTTING_DOWN', 'SERVER_BEHIND',
      'INTERNAL',
      'CONNECTION_LOSS', 'CLOSED', 'CANCELLED', 'LEASE_LOST',
    ]);
  });

  it('covers every result code of @vigil/store a client can receive', () => {
    // The store's client-visible codes (MARSHALLING_ERROR, SNAPSHOT_INVALID and STORE_CLOSED are
    // server-internal: the gateway answers INTERNAL or UNAVAILABLE for them).
    for (const code of ['NO_NODE', 'NODE_EXISTS', 'BAD_VERSION', 'NOT_EMPTY', 'NO_CHILDREN_FOR_EPHEMERALS', 'BAD_ARGUMENTS', 'SESSION_EXPIRED', 'STALE_SEQUENCE', 'TOO_MANY_EPHEMERALS', 'NO_AUTH', 'INVALID_ACL']) {
      expect(isErrorCode(code)).toBe(true);
    }
  });

  it('gives every code a unique wire number below 1000, so 4000 + wire is a close code', () => {
    const wires = errorCodes.map((c) => errorCatalogue[c].wire);
    expect(new Set(wires).size).toBe(wires.length);
    for (const w of wires) expect(Number.isInteger(w) && w > 0 && w < 1000).toBe(true);
    for (const c of errorCodes) expect(errorCodeOfWire(errorCatalogue[c].wire)).toBe(c);
    expect(errorCodeOfWire(999)).toBeUndefined();
  });

  it('does not answer to inherited property names', () => {
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('__proto__')).toBe(false);
  });

  it('maps close codes to errors and back', () => {
    for (const c of errorCodes) expect(errorCodeOfClose(closeCodeOf(c))).toBe(c);
    expect(errorCodeOfClose(1000)).toBeUndefined();
    expect(errorCodeOfClose(1009)).toBe('FRAME_TOO_LARGE');
    expect(errorCodeOfClose(1006)).toBe('CONNECTION_LOSS');
    expect(errorCodeOfClose(4999)).toBe('INTERNAL');
  });
});

describe('VigilError', () => {
  it('carries code, wire number and retryability from the table', () => {
    const err = new VigilError('NO_LEADER', 'election under way');
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'VigilError', code: 'NO_LEADER', wireCode: 402, retryable: true, message: 'NO_LEADER: election under way' });
    expect(new VigilError('TIMEOUT').retryable).toBe(false);
  });

  it('round-trips through the wire form', () => {
    const err = vigilErrorFromWire(wireError('BAD_VERSION', 'expected 3', { path: '/a', opIndex: 2 }));
    expect(err).toMatchObject({ code: 'BAD_VERSION', wireCode: 103, path: '/a', opIndex: 2, message: 'BAD_VERSION: expected 3' });
    expect(vigilErrorFromWire({ code: 777, name: 'INTERNAL', message: 'x' }).code).toBe('INTERNAL');
  });
});

describe('wireError', () => {
  it('cuts a long message to errorMessageBytesMax so the frame stays valid', () => {
    const long = 'é'.repeat(errorMessageBytesMax);
    const e = wireError('INTERNAL', long);
    expect(utf8ByteLength(e.message)).toBeLessThanOrEqual(errorMessageBytesMax);
    expect(e.message.length).toBe(errorMessageBytesMax / 2);
    expect(decodeServerFrame(encodeFrame({ t: 'error', error: e })).ok).toBe(true);
  });
});

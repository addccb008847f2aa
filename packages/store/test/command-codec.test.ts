import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, StoreError, type Command } from '../src/index.js';

const samples: Command[] = [
  { type: 'create', path: '/a', data: new Uint8Array([1, 2, 3]), mode: 'ephemeral-sequential', sessionId: 9, createParents: true },
  { type: 'create', path: '/t', data: new Uint8Array(0), mode: 'ttl', ttlMs: 1_000 },
  { type: 'set', path: '/a', data: new Uint8Array([4]), version: 3 },
  { type: 'delete', path: '/a', version: -1 },
  { type: 'delete', path: '/a', version: -2 },
  { type: 'setAcl', path: '/a', acl: [{ scheme: 'world', id: 'anyone', perms: 31 }], version: -(2 ** 31) },
  { type: 'multi', ops: [{ type: 'check', path: '/a', version: 1 }, { type: 'delete', path: '/b' }], sessionId: 2 },
  { type: 'sessionOpen', sessionId: 2 ** 52, timeoutMs: 30_000 },
  { type: 'sessionHeartbeat', sessionIds: [1, 2, 3] },
  { type: 'sessionClose', sessionId: 1 },
  { type: 'sessionExpire', sessionId: 1 },
  { type: 'sweep', paths: ['/t'] },
  { type: 'noop' },
];

/** Bytes as plain arrays, so a decoded Buffer compares equal to the Uint8Array that was encoded. */
const plain = (v: unknown): unknown => {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

describe('command codec', () => {
  it('round-trips every command type', () => {
    for (const command of samples) {
      const decoded = decodeCommand(encodeCommand(command));
      expect(plain(decoded)).toEqual(plain(command));
    }
  });

  it('produces the same bytes for the same command every time, independent of earlier encodings', () => {
    const first = samples.map((c) => Buffer.from(encodeCommand(c)).toString('hex'));
    const again = [...samples].reverse().map((c) => Buffer.from(encodeCommand(c)).toString('hex')).reverse();
    expect(again).toEqual(first);
  });

  it('rejects bytes that are not a command with MARSHALLING_ERROR', () => {
    const packr = new Packr({ useRecords: false });
    for (const bad of [new Uint8Array([0xc1]), packr.pack({ type: 'create', path: 1 }), packr.pack([1, 2]), packr.pack({ type: 'drop' })]) {
      expect(() => decodeCommand(bad)).toThrow(StoreError);
      try {
        decodeCommand(bad);
      } catch (err) {
        expect((err as StoreError).code).toBe('MARSHALLING_ERROR');
      }
    }
  });

  it('refuses to encode a malformed command', () => {
    expect(() => encodeCommand({ type: 'sessionOpen', sessionId: -1, timeoutMs: 1 })).toThrow(/BAD_ARGUMENTS/);
    for (const ephemeralsMax of [0, -1, 1.5, Number.NaN]) {
      expect(() => encodeCommand({ type: 'create', path: '/e', data: new Uint8Array(0), mode: 'ephemeral', sessionId: 1, ephemeralsMax })).toThrow(/bad ephemeralsMax/);
    }
    expect(encodeCommand({ type: 'create', path: '/e', data: new Uint8Array(0), mode: 'ephemeral', sessionId: 1, ephemeralsMax: 1 }).byteLength).toBeGreaterThan(0);
  });
});

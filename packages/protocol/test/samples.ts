import type { ClientFrame, ServerFrame, Stat } from '../src/index.js';

export const stat: Stat = {
  czxid: 5, mzxid: 9, pzxid: 7, ctime: 1_700_000_000_000, mtime: 1_700_000_000_123, version: 3,
  cversion: 1, aversion: 0, ephemeralOwner: 2 ** 40 + 3, dataLength: 3, numChildren: 0,
};

export const secret = new Uint8Array(16).map((_, i) => i * 7);

/** One valid frame of every client shape, optional fields both present and absent. */
export const clientSamples: readonly ClientFrame[] = [
  { t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000 },
  { t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, session: { id: 2 ** 52, secret, lastRevision: 1234 } },
  { t: 'req', id: 0, op: 'create', path: '/app/lock-', data: new Uint8Array([1, 2, 3]), mode: 'ephemeral-sequential', createParents: true },
  { t: 'req', id: 1, op: 'create', path: '/t', data: new Uint8Array(0), mode: 'ttl', ttlMs: 60_000 },
  { t: 'req', id: 2, op: 'get', path: '/a' },
  { t: 'req', id: 3, op: 'get', path: '/a', watch: true, consistency: 'sequential' },
  { t: 'req', id: 4, op: 'set', path: '/a', data: new Uint8Array([9]) },
  { t: 'req', id: 5, op: 'set', path: '/a', data: new Uint8Array([9]), version: -1 },
  { t: 'req', id: 6, op: 'delete', path: '/a', version: 3 },
  { t: 'req', id: 6, op: 'delete', path: '/a', seq: 70, seqFloor: 7 },
  { t: 'req', id: 4, op: 'set', path: '/a', data: new Uint8Array([9]), seq: 2 ** 52, seqFloor: 2 ** 52 },
  { t: 'req', id: 7, op: 'exists', path: '/a', watch: true },
  { t: 'req', id: 8, op: 'children', path: '/', withStats: true, after: 'b', limit: 100, watch: false, consistency: 'linearizable' },
  {
    t: 'req', id: 9, op: 'multi', ops: [
      { op: 'check', path: '/a', version: 3 },
      { op: 'create', path: '/a/b', data: new Uint8Array([1]), mode: 'persistent' },
      { op: 'set', path: '/a', data: new Uint8Array([2]), version: 3 },
      { op: 'delete', path: '/c' },
    ],
    seq: 3,
    seqFloor: 1,
  },
  { t: 'req', id: 10, op: 'multi', ops: [] },
  { t: 'req', id: 11, op: 'sync' },
  { t: 'req', id: 12, op: 'watch', path: '/app', mode: 'persistentRecursive', fromRevision: 77 },
  { t: 'req', id: 13, op: 'watch', path: '/app', mode: 'persistent' },
  { t: 'req', id: 14, op: 'unwatch', watchId: 3 },
  { t: 'req', id: 15, op: 'ping' },
  { t: 'req', id: 0xffff_ffff, op: 'close' },
];

/** One valid frame of every server shape. */
export const serverSamples: readonly ServerFrame[] = [
  { t: 'welcome', protocolVersion: 1, sessionId: 2 ** 52, secret, negotiatedTimeoutMs: 10_000, serverId: 2, revision: 1300, resumed: true },
  { t: 'res', id: 0, ok: true, revision: 42, op: 'create', path: '/app/lock-0000000007', stat },
  { t: 'res', id: 2, ok: true, revision: 42, op: 'get', data: new Uint8Array([1, 2, 3]), stat },
  { t: 'res', id: 3, ok: true, revision: 42, op: 'get', data: new Uint8Array(0), stat, watchId: 4 },
  { t: 'res', id: 4, ok: true, revision: 43, op: 'set', stat },
  { t: 'res', id: 6, ok: true, revision: 44, op: 'delete' },
  { t: 'res', id: 7, ok: true, revision: 44, op: 'exists', stat: null, watchId: 5 },
  { t: 'res', id: 7, ok: true, revision: 44, op: 'exists', stat },
  { t: 'res', id: 8, ok: true, revision: 44, op: 'children', names: ['a', 'b'], stats: [stat, stat], next: 'b' },
  { t: 'res', id: 8, ok: true, revision: 44, op: 'children', names: [] },
  {
    t: 'res', id: 9, ok: true, revision: 45, op: 'multi', results: [
      { op: 'check' }, { op: 'create', path: '/a/b', stat }, { op: 'set', stat }, { op: 'delete' },
    ],
  },
  { t: 'res', id: 11, ok: true, revision: 45, op: 'sync' },
  { t: 'res', id: 12, ok: true, revision: 45, op: 'watch', watchId: 6 },
  { t: 'res', id: 14, ok: true, revision: 45, op: 'unwatch' },
  { t: 'res', id: 15, ok: true, revision: 45, op: 'ping' },
  { t: 'res', id: 16, ok: true, revision: 45, op: 'close' },
  { t: 'res', id: 9, ok: false, revision: 45, op: 'multi', error: { code: 103, name: 'BAD_VERSION', message: 'version 3 expected, 4 found', path: '/a', opIndex: 0 } },
  { t: 'res', id: 17, ok: false, revision: 45, error: { code: 302, name: 'UNKNOWN_OP', message: 'op "frob" is unknown' } },
  { t: 'watch', watchId: 6, events: [{ path: '/app/x', kind: 'created', revision: 46 }, { path: '/app/x', kind: 'dataChanged', revision: 47 }] },
  { t: 'compacted', watchId: 6, floor: 900 },
  { t: 'session', state: 'expired' },
  { t: 'error', error: { code: 308, name: 'SLOW_CONSUMER', message: '100000 watch events queued' } },
];

/** Bytes as plain arrays, so a decoded Buffer compares equal to the Uint8Array that was encoded. */
export const plain = (v: unknown): unknown => {
  if (v instanceof Uint8Array) return { bin: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};


import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  childrenPageMax,
  dataBytesMax,
  decodeClientFrame,
  decodeServerFrame,
  frameBytesMax,
  frameDepthMax,
  mapEntriesMax,
  multiOpsMax,
  pathBytesMax,
  sessionWritesInFlightMax,
  ttlMsMax,
  type DecodeErrorCode,
} from '../src/index.js';
import { secret, stat } from './samples.js';

// A permissive encoder: the tests build frames the protocol's own encoder would never write.
const loose = new Packr({ useRecords: false, variableMapSize: true });
const pack = (v: unknown): Uint8Array => loose.pack(v);
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

interface Case {
  readonly title: string;
  readonly bytes: Uint8Array;
  readonly code: DecodeErrorCode;
  readonly id?: number;
}

const req = (fields: Record<string, unknown>): Uint8Array => pack({ t: 'req', id: 7, ...fields });
const long = (n: number): string => `/${'a'.repeat(n - 1)}`;

const clientCases: readonly Case[] = [
  // Before decoding.
  { title: 'a frame past frameBytesMax', bytes: new Uint8Array(frameBytesMax + 1), code: 'FRAME_TOO_LARGE' },
  // Not in the msgpack subset.
  { title: 'an empty frame', bytes: new Uint8Array(0), code: 'MALFORMED_FRAME' },
  { title: 'the reserved byte 0xc1', bytes: hex('c1'), code: 'MALFORMED_FRAME' },
  { title: 'a timestamp extension', bytes: hex('d6ff00000000'), code: 'MALFORMED_FRAME' },
  { title: 'a msgpackr record definition (ext 0x72)', bytes: hex('d47200'), code: 'MALFORMED_FRAME' },
  { title: 'an undefined (fixext 0)', bytes: hex('81a174d40000'), code: 'MALFORMED_FRAME' },
  { title: 'a truncated map', bytes: hex('82a174a3726571'), code: 'MALFORMED_FRAME' },
  { title: 'a map claiming 2^32-1 entries', bytes: hex('dfffffffff'), code: 'MALFORMED_FRAME' },
  { title: 'a str claiming more bytes than follow', bytes: hex('dbffffffff41'), code: 'MALFORMED_FRAME' },
  { title: 'bytes after the frame', bytes: Uint8Array.from([...pack({ t: 'req', id: 1, op: 'ping' }), 0]), code: 'MALFORMED_FRAME' },
  { title: 'an integer map key', bytes: hex('81 01 01'), code: 'MALFORMED_FRAME' },
  { title: 'a duplicate map key', bytes: hex('82 a174 a3686579 a174 a3726571'), code: 'MALFORMED_FRAME' },
  { title: 'invalid UTF-8 in a str', bytes: hex('81 a174 a2c328'), code: 'MALFORMED_FRAME' },
  { title: `nesting deeper than ${frameDepthMax}`, bytes: hex('91'.repeat(frameDepthMax) + 'c0'), code: 'MALFORMED_FRAME' },
  { title: 'deep nesting that would overflow a recursive decoder', bytes: hex('91'.repeat(100_000) + 'c0'), code: 'MALFORMED_FRAME' },
  { title: `a map of more than ${mapEntriesMax} entries`, bytes: pack(Object.fromEntries([...Array(mapEntriesMax + 1).keys()].map((i) => [`k${i}`, i]))), code: 'MALFORMED_FRAME' },
  // Frame shape, before the id is known.
  { title: 'a frame that is not a map', bytes: pack([1, 2]), code: 'MALFORMED_FRAME' },
  { title: 'a frame without t', bytes: pack({ id: 1, op: 'ping' }), code: 'MALFORMED_FRAME' },
  { title: 'a server frame sent by a client', bytes: pack({ t: 'welcome' }), code: 'MALFORMED_FRAME' },
  { title: 'a request without id', bytes: pack({ t: 'req', op: 'ping' }), code: 'MALFORMED_FRAME' },
  { title: 'a negative id', bytes: pack({ t: 'req', id: -1, op: 'ping' }), code: 'MALFORMED_FRAME' },
  { title: 'an id past uint32', bytes: pack({ t: 'req', id: 2 ** 32, op: 'ping' }), code: 'MALFORMED_FRAME' },
  { title: 'a fractional id', bytes: pack({ t: 'req', id: 1.5, op: 'ping' }), code: 'MALFORMED_FRAME' },
  { title: 'a str id', bytes: pack({ t: 'req', id: '1', op: 'ping' }), code: 'MALFORMED_FRAME' },
  // With a readable id: the error names the request.
  { title: 'a request without op', bytes: req({}), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'an op that is not a str', bytes: req({ op: 3 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'an unknown op', bytes: req({ op: 'frob' }), code: 'UNKNOWN_OP', id: 7 },
  { title: 'an op named like an Object.prototype key', bytes: req({ op: 'constructor' }), code: 'UNKNOWN_OP', id: 7 },
  { title: 'create without path', bytes: req({ op: 'create', data: new Uint8Array(0), mode: 'persistent' }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'create with a numeric path', bytes: req({ op: 'create', path: 1, data: new Uint8Array(0), mode: 'persistent' }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'create with str data', bytes: req({ op: 'create', path: '/a', data: 'x', mode: 'persistent' }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'create with data past dataBytesMax', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(dataBytesMax + 1), mode: 'persistent' }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'create with an unknown mode', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'forever' }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'create ttl without ttlMs', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'ttl' }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'create ttl with ttlMs 0', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'ttl', ttlMs: 0 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'create ttl past ttlMsMax', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'ttl', ttlMs: ttlMsMax + 1 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'create persistent with ttlMs', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'persistent', ttlMs: 5 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'create with a str createParents', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'persistent', createParents: 'yes' }), code: 'MALFORMED_FRAME', id: 7 },
  { title: `a path past pathBytesMax`, bytes: req({ op: 'get', path: long(pathBytesMax + 1) }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'a path past pathBytesMax in UTF-8 but not in UTF-16 units', bytes: req({ op: 'get', path: `/${'é'.repeat(pathBytesMax / 2)}` }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'get with a numeric watch', bytes: req({ op: 'get', path: '/a', watch: 1 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'get with an unknown consistency', bytes: req({ op: 'get', path: '/a', consistency: 'eventual' }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'set without data', bytes: req({ op: 'set', path: '/a' }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'set with a version past int32', bytes: req({ op: 'set', path: '/a', data: new Uint8Array(0), version: 2 ** 31 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'setAcl with a version below int32', bytes: req({ op: 'setAcl', path: '/a', acl: [], version: -(2 ** 31) - 1 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'check in a multi with a version past int32', bytes: req({ op: 'multi', ops: [{ op: 'check', path: '/a', version: 2 ** 40 }] }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'delete with a fractional version', bytes: req({ op: 'delete', path: '/a', version: 1.5 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'delete with a version past 2^53', bytes: req({ op: 'delete', path: '/a', version: 2 ** 60 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'children with limit 0', bytes: req({ op: 'children', path: '/', limit: 0 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'children past childrenPageMax', bytes: req({ op: 'children', path: '/', limit: childrenPageMax + 1 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'children with a numeric after', bytes: req({ op: 'children', path: '/', after: 3 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'multi without ops', bytes: req({ op: 'multi' }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'multi with ops as a map', bytes: req({ op: 'multi', ops: { 0: {} } }), code: 'MALFORMED_FRAME', id: 7 },
  { title: `multi past multiOpsMax`, bytes: req({ op: 'multi', ops: Array.from({ length: multiOpsMax + 1 }, () => ({ op: 'check', path: '/a' })) }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'multi with a get inside', bytes: req({ op: 'multi', ops: [{ op: 'get', path: '/a' }] }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'multi with an unknown op inside', bytes: req({ op: 'multi', ops: [{ op: 'frob', path: '/a' }] }), code: 'UNKNOWN_OP', id: 7 },
  { title: 'multi with a non-map op', bytes: req({ op: 'multi', ops: [1] }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'multi with oversized data in an op', bytes: req({ op: 'multi', ops: [{ op: 'set', path: '/a', data: new Uint8Array(dataBytesMax + 1) }] }), code: 'BAD_ARGUMENTS', id: 7 },
  // Exactly-once writes: seq and seqFloor.
  { title: 'a write with seq 0', bytes: req({ op: 'delete', path: '/a', seq: 0, seqFloor: 0 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'a write with a negative seqFloor', bytes: req({ op: 'delete', path: '/a', seq: 3, seqFloor: -1 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'a write with seq past 2^53', bytes: req({ op: 'set', path: '/a', data: new Uint8Array(0), seq: 2 ** 60, seqFloor: 1 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'a write with a fractional seq', bytes: req({ op: 'set', path: '/a', data: new Uint8Array(0), seq: 1.5, seqFloor: 1 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'a write with a str seq', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'persistent', seq: '1', seqFloor: 1 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'a write with seq but no seqFloor', bytes: req({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'persistent', seq: 1 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'a write with seqFloor but no seq', bytes: req({ op: 'multi', ops: [], seqFloor: 1 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'a write with seqFloor above seq', bytes: req({ op: 'multi', ops: [], seq: 4, seqFloor: 5 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: `a write with seq sessionWritesInFlightMax above seqFloor`, bytes: req({ op: 'delete', path: '/a', seq: 10 + sessionWritesInFlightMax, seqFloor: 10 }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'watch without mode', bytes: req({ op: 'watch', path: '/a' }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'watch with an unknown mode', bytes: req({ op: 'watch', path: '/a', mode: 'once' }), code: 'BAD_ARGUMENTS', id: 7 },
  { title: 'watch from a negative revision', bytes: req({ op: 'watch', path: '/a', mode: 'persistent', fromRevision: -1 }), code: 'MALFORMED_FRAME', id: 7 },
  { title: 'unwatch of watch id 0', bytes: req({ op: 'unwatch', watchId: 0 }), code: 'MALFORMED_FRAME', id: 7 },
  // The handshake.
  { title: 'hello without protocolVersion', bytes: pack({ t: 'hello', sessionTimeoutMs: 1000 }), code: 'MALFORMED_FRAME' },
  { title: 'hello with a zero timeout', bytes: pack({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 0 }), code: 'MALFORMED_FRAME' },
  { title: 'hello with a short secret', bytes: pack({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 1000, session: { id: 1, secret: new Uint8Array(15), lastRevision: 0 } }), code: 'MALFORMED_FRAME' },
  { title: 'hello with session id 0', bytes: pack({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 1000, session: { id: 0, secret, lastRevision: 0 } }), code: 'MALFORMED_FRAME' },
  { title: 'hello with a session that is not a map', bytes: pack({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 1000, session: [1] }), code: 'MALFORMED_FRAME' },
];

const res = (fields: Record<string, unknown>): Uint8Array => pack({ t: 'res', id: 9, ok: true, revision: 1, ...fields });

const serverCases: readonly Case[] = [
  { title: 'a response without revision', bytes: pack({ t: 'res', id: 9, ok: true, op: 'ping' }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'a response with an unknown op', bytes: res({ op: 'frob' }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'a get response without stat', bytes: res({ op: 'get', data: new Uint8Array(0) }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'a stat with a missing field', bytes: res({ op: 'set', stat: Object.fromEntries(Object.entries(stat).filter(([k]) => k !== 'numChildren')) }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'an exists response without stat (nil is required)', bytes: res({ op: 'exists' }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'children stats of another length', bytes: res({ op: 'children', names: ['a'], stats: [] }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'an error response without error', bytes: pack({ t: 'res', id: 9, ok: false, revision: 1 }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'an error with a str code', bytes: pack({ t: 'res', id: 9, ok: false, revision: 1, error: { code: 'NO_NODE', name: 'NO_NODE', message: '' } }), code: 'MALFORMED_FRAME', id: 9 },
  { title: 'a watch frame without events', bytes: pack({ t: 'watch', watchId: 1, events: [] }), code: 'MALFORMED_FRAME' },
  { title: 'a watch event of an unknown kind', bytes: pack({ t: 'watch', watchId: 1, events: [{ path: '/a', kind: 'moved', revision: 1 }] }), code: 'MALFORMED_FRAME' },
  { title: 'a session frame of an unknown state', bytes: pack({ t: 'session', state: 'sleepy' }), code: 'MALFORMED_FRAME' },
  { title: 'a welcome with a short secret', bytes: pack({ t: 'welcome', protocolVersion: 1, sessionId: 1, secret: new Uint8Array(3), negotiatedTimeoutMs: 1, serverId: 1, revision: 0, resumed: false }), code: 'MALFORMED_FRAME' },
  { title: 'a client frame sent by a server', bytes: pack({ t: 'req', id: 1, op: 'ping' }), code: 'MALFORMED_FRAME' },
];

describe('client frame validation', () => {
  it.each(clientCases.map((c) => [c.title, c] as const))('rejects %s', (_title, c) => {
    const decoded = decodeClientFrame(c.bytes);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.code).toBe(c.code);
    expect(decoded.error.id).toBe(c.id);
    expect(decoded.error.message.length).toBeGreaterThan(0);
  });

  it('names the op of a request with a readable op', () => {
    const decoded = decodeClientFrame(req({ op: 'set', path: '/a' }));
    expect(!decoded.ok && decoded.error).toMatchObject({ id: 7, op: 'set', code: 'MALFORMED_FRAME' });
  });

  it('never lets a __proto__ key change what a frame looks like', () => {
    // {"__proto__": {"op": "ping"}, "t": "req", "id": 1}: op must not be inherited.
    const bytes = hex('83 a95f5f70726f746f5f5f 81a26f70a470696e67 a174a3726571 a26964 01');
    const decoded = decodeClientFrame(bytes);
    expect(!decoded.ok && decoded.error).toMatchObject({ code: 'MALFORMED_FRAME', id: 1 });
  });

  it('keeps seq and seqFloor on writes only, and accepts the widest span', () => {
    const sequence = { seq: 2 ** 40 + sessionWritesInFlightMax - 1, seqFloor: 2 ** 40 };
    for (const fields of [
      { op: 'create', path: '/a', data: new Uint8Array(0), mode: 'persistent' },
      { op: 'set', path: '/a', data: new Uint8Array(0) },
      { op: 'delete', path: '/a' },
      { op: 'multi', ops: [] },
    ]) {
      const decoded = decodeClientFrame(req({ ...fields, ...sequence }));
      expect(decoded.ok && decoded.value).toMatchObject(sequence);
    }
    // Not a write: the fields mean nothing there and are dropped like any unknown key.
    const read = decodeClientFrame(req({ op: 'get', path: '/a', seq: 0, seqFloor: 9 }));
    expect(read.ok && read.value).toEqual({ t: 'req', id: 7, op: 'get', path: '/a' });
  });

  it('accepts any int32 expected version, below -1 too: the store answers BAD_VERSION, as ZooKeeper does', () => {
    for (const version of [-(2 ** 31), -2, -1, 0, 2 ** 31 - 1]) {
      for (const fields of [
        { op: 'set', path: '/a', data: new Uint8Array(0), version },
        { op: 'delete', path: '/a', version },
        { op: 'setAcl', path: '/a', acl: [], version },
      ]) {
        const decoded = decodeClientFrame(req(fields));
        expect(decoded.ok && decoded.value).toMatchObject({ version });
      }
      const multi = decodeClientFrame(req({ op: 'multi', ops: [{ op: 'check', path: '/a', version }] }));
      expect(multi.ok && multi.value).toMatchObject({ ops: [{ op: 'check', version }] });
    }
  });

  it('rejects what is not bytes at all', () => {
    for (const v of [undefined, null, 'req', 3, {}, new ArrayBuffer(3)]) {
      const decoded = decodeClientFrame(v as unknown as Uint8Array);
      expect(!decoded.ok && decoded.error.code).toBe('MALFORMED_FRAME');
    }
  });
});

describe('server frame validation', () => {
  it.each(serverCases.map((c) => [c.title, c] as const))('rejects %s', (_title, c) => {
    const decoded = decodeServerFrame(c.bytes);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.code).toBe(c.code);
    expect(decoded.error.id).toBe(c.id);
  });

  it('reads an error code it does not know as INTERNAL, keeping the text', () => {
    const decoded = decodeServerFrame(pack({ t: 'res', id: 1, ok: false, revision: 3, error: { code: 999, name: 'FUTURE', message: 'later' } }));
    expect(decoded.ok && decoded.value).toMatchObject({ ok: false, error: { code: 500, name: 'INTERNAL', message: 'unknown error 999 FUTURE: later' } });
  });

  it('trusts the wire number over the name', () => {
    const decoded = decodeServerFrame(pack({ t: 'error', error: { code: 101, name: 'WRONG', message: 'm' } }));
    expect(decoded.ok && decoded.value).toMatchObject({ t: 'error', error: { code: 101, name: 'NO_NODE' } });
  });
});

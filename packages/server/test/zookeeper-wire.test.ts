import { describe, expect, it } from 'vitest';
import jute from 'node-zookeeper-client/lib/jute/index.js';
import { JuteError, JuteReader, JuteWriter } from '../src/zookeeper/jute.js';
import {
  type ZkAcl,
  type ZkMultiResult,
  type ZkRequest,
  type ZkStat,
  decodeConnectRequest,
  decodeRequest,
  encodeConnectResponse,
  encodeReply,
  encodeWatcherEvent,
  replyBody,
  zkErr,
  zkEvent,
  zkOp,
  zkState,
  zkXid,
} from '../src/zookeeper/zk-wire.js';

// node-zookeeper-client's jute module ships no types (scripts/bench declares a sliver of it);
// this is the part these tests drive. Its longs are 8-byte big-endian Buffers.
interface NzkRecord {
  [field: string]: unknown;
  byteLength(): number;
  serialize(buffer: Buffer, offset: number): number;
  deserialize(buffer: Buffer, offset: number): number;
}
type NzkRecordClass = new (...args: unknown[]) => NzkRecord;
interface NzkJute {
  protocol: Record<string, NzkRecordClass>;
  data: Record<string, NzkRecordClass>;
  Request: new (header: NzkRecord | null, payload: unknown) => { toBuffer(): Buffer };
  TransactionRequest: new (ops: unknown[]) => { byteLength(): number; serialize(buffer: Buffer, offset: number): number };
  TransactionResponse: new () => { results: { type: number; path?: string; stat?: NzkRecord; err?: number }[]; deserialize(buffer: Buffer, offset: number): number };
}
const nzk = jute as unknown as NzkJute;

function make(kind: 'protocol' | 'data', name: string, ...args: unknown[]): NzkRecord {
  const cls = nzk[kind][name];
  if (cls === undefined) throw new Error(`node-zookeeper-client has no ${name}`);
  return new cls(...args);
}

function longBuf(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

function nzkAcl(a: ZkAcl): NzkRecord {
  return make('data', 'ACL', a.perms, make('data', 'Id', a.scheme, a.id));
}

/** A request as node-zookeeper-client puts it on the wire: length prefix, RequestHeader, record. */
function nzkRequest(xid: number, type: number, payload: NzkRecord | null): Buffer {
  return new nzk.Request(make('protocol', 'RequestHeader', xid, type), payload).toBuffer();
}

/** The body of a packet, after checking its length prefix. */
function bodyOf(packet: Buffer): Buffer {
  expect(packet.readInt32BE(0)).toBe(packet.length - 4);
  return packet.subarray(4);
}

function decoded(packet: Buffer): { xid: number; type: number; request: ZkRequest } {
  const d = decodeRequest(bodyOf(packet));
  if ('error' in d) throw d.error;
  return { ...d.header, request: d.request };
}

function decodeError(body: Uint8Array): JuteError {
  const d = decodeRequest(body);
  if (!('error' in d)) throw new Error(`decoded as ${d.request.type}`);
  expect(d.error).toBeInstanceOf(JuteError);
  return d.error;
}

const acl: ZkAcl[] = [
  { perms: 31, scheme: 'world', id: 'anyone' },
  { perms: 1, scheme: 'digest', id: 'bob:cGFzcw==' },
];
const data = Buffer.from('héllo ✓');
const stat: ZkStat = {
  czxid: 0x1_0000_0005, mzxid: 7, ctime: 1_700_000_000_123, mtime: 1_700_000_000_456, version: 3, cversion: -1,
  aversion: 2, ephemeralOwner: 0x1234_5678_9abc, dataLength: 9, numChildren: 4, pzxid: 2 ** 53 - 1,
};

function readStat(r: JuteReader): ZkStat {
  return {
    czxid: r.long(), mzxid: r.long(), ctime: r.long(), mtime: r.long(), version: r.int(), cversion: r.int(),
    aversion: r.int(), ephemeralOwner: r.long(), dataLength: r.int(), numChildren: r.int(), pzxid: r.long(),
  };
}

/** A Stat as node-zookeeper-client decodes it (longs as Buffers) back to numbers. */
function fromNzkStat(s: unknown): ZkStat {
  const rec = s as Record<keyof ZkStat, Buffer | number>;
  const n = (v: Buffer | number): number => (typeof v === 'number' ? v : Number(v.readBigInt64BE(0)));
  return {
    czxid: n(rec.czxid), mzxid: n(rec.mzxid), ctime: n(rec.ctime), mtime: n(rec.mtime), version: n(rec.version),
    cversion: n(rec.cversion), aversion: n(rec.aversion), ephemeralOwner: n(rec.ephemeralOwner),
    dataLength: n(rec.dataLength), numChildren: n(rec.numChildren), pzxid: n(rec.pzxid),
  };
}

/** Reads a reply packet with node-zookeeper-client: ReplyHeader, then `payload` if given. */
function nzkReply(packet: Buffer, payload?: NzkRecord): { xid: number; zxid: number; err: number; end: number } {
  const body = bodyOf(packet);
  const header = make('protocol', 'ReplyHeader');
  let offset = header.deserialize(body, 0);
  if (payload !== undefined) offset += payload.deserialize(body, offset);
  return { xid: header['xid'] as number, zxid: Number((header['zxid'] as Buffer).readBigInt64BE(0)), err: header['err'] as number, end: offset };
}

function requestPacket(xid: number, type: number, record?: (w: JuteWriter) => void): Buffer {
  const w = new JuteWriter().int(xid).int(type);
  record?.(w);
  return w.packet();
}

describe('jute primitives', () => {
  it('writes ints, longs, booleans, buffers, strings and vectors big-endian behind a length prefix', () => {
    const packet = new JuteWriter(8)
      .int(-2).long(-1).long(2n ** 63n - 1n).bool(true).buffer(new Uint8Array([7, 8])).buffer(null)
      .string('é').string(null).vector(['a'], (w, s) => w.string(s)).vector(null, () => undefined)
      .packet();
    expect(packet.toString('hex')).toBe([
      '00000036', 'fffffffe', 'ffffffffffffffff', '7fffffffffffffff', '01', '000000020708',
      'ffffffff', '00000002c3a9', 'ffffffff', '00000001' + '0000000161', 'ffffffff',
    ].join(''));
  });

  it('reads back what it writes, through many growths of the buffer, short and long, ASCII or not', () => {
    const w = new JuteWriter(8);
    const strings = Array.from({ length: 500 }, (_, i) => `/n${i}/${i % 3 === 0 ? '𝄞/' : ''}${'x'.repeat(i % 90)}${i % 5 === 0 ? 'é' : ''}`);
    for (const s of strings) w.string(s).long(-i53(s.length)).int(s.length);
    const r = new JuteReader(bodyOf(w.packet()));
    for (const s of strings) {
      expect(r.string()).toBe(s);
      expect(r.long()).toBe(-i53(s.length));
      expect(r.int()).toBe(s.length);
    }
    expect(r.remaining).toBe(0);
  });

  it('refuses to write what jute cannot carry', () => {
    expect(() => new JuteWriter().int(2 ** 31)).toThrow(RangeError);
    expect(() => new JuteWriter().int(1.5)).toThrow(RangeError);
    expect(() => new JuteWriter().long(2 ** 53)).toThrow(RangeError);
  });

  it('reads a long outside the safe integer range only as a bigint', () => {
    const bytes = new JuteWriter().long(2n ** 53n).long(-(2n ** 53n)).long(-(2n ** 53n) + 1n).packet().subarray(4);
    const r = new JuteReader(bytes);
    expect(() => r.long()).toThrow(JuteError);
    const again = new JuteReader(bytes);
    expect(again.bigLong()).toBe(2n ** 53n);
    expect(() => again.long()).toThrow(JuteError);
    expect(again.long()).toBe(Number.MIN_SAFE_INTEGER);
  });

  it('reads any non-zero byte as true, as Java does', () => {
    expect(new JuteReader(new Uint8Array([2])).bool()).toBe(true);
    expect(new JuteReader(new Uint8Array([0])).bool()).toBe(false);
  });

  it('refuses truncated fields, negative lengths and lengths beyond the bytes left', () => {
    expect(() => new JuteReader(new Uint8Array(3)).int()).toThrow(JuteError);
    expect(() => new JuteReader(new Uint8Array(7)).long()).toThrow(JuteError);
    expect(() => new JuteReader(new Uint8Array(0)).bool()).toThrow(JuteError);
    const lengths = (n: number, tail = 0): JuteReader => new JuteReader(Buffer.concat([new JuteWriter().int(n).packet().subarray(4), Buffer.alloc(tail)]));
    expect(() => lengths(-2).string()).toThrow(/negative/);
    expect(() => lengths(-2).buffer()).toThrow(JuteError);
    expect(() => lengths(-2).vector((r) => r.int())).toThrow(JuteError);
    expect(() => lengths(0x7fff_ffff, 10).buffer()).toThrow(/beyond/);
    expect(() => lengths(0x7fff_ffff, 10).vector((r) => r.bool())).toThrow(/beyond/);
    expect(() => lengths(11, 10).string()).toThrow(JuteError);
    expect(lengths(10, 10).buffer()).toEqual(new Uint8Array(10));
    expect(lengths(-1).string()).toBeNull();
  });

  it('copies buffers out of the packet, so the data does not alias the receive buffer', () => {
    const bytes = new JuteWriter().buffer(new Uint8Array([1, 2, 3])).packet().subarray(4);
    const got = new JuteReader(bytes).buffer();
    bytes[4] = 9;
    expect(got).toEqual(new Uint8Array([1, 2, 3]));
  });
});

function i53(n: number): number {
  return n * 2 ** 40 + n;
}

describe('requests node-zookeeper-client encodes', () => {
  it('decodes create, create2 and createContainer, with and without data, byte for byte as we would write them', () => {
    for (const [type, name] of [[zkOp.create, 'create'], [zkOp.create2, 'create2'], [zkOp.createContainer, 'createContainer']] as const) {
      const packet = nzkRequest(5, type, make('protocol', 'CreateRequest', '/a/b', data, acl.map(nzkAcl), 3));
      expect(decoded(packet)).toEqual({ xid: 5, type, request: { type: name, path: '/a/b', data: new Uint8Array(data), acl, flags: 3, ttl: 0 } });
      const ours = requestPacket(5, type, (w) => w.string('/a/b').buffer(data).vector(acl, (x, a) => x.int(a.perms).string(a.scheme).string(a.id)).int(3));
      expect(ours.equals(packet)).toBe(true);
    }
    const noData = nzkRequest(6, zkOp.create, make('protocol', 'CreateRequest', '/e', undefined, [nzkAcl(acl[0]!)], 0));
    expect(decoded(noData).request).toMatchObject({ type: 'create', path: '/e', data: new Uint8Array(0) });
  });

  it('decodes delete, setData, check, getACL, setACL and sync', () => {
    expect(decoded(nzkRequest(1, zkOp.delete, make('protocol', 'DeleteRequest', '/d', -1))).request).toEqual({ type: 'delete', path: '/d', version: -1 });
    expect(decoded(nzkRequest(2, zkOp.setData, make('protocol', 'SetDataRequest', '/d', data, 4))).request)
      .toEqual({ type: 'setData', path: '/d', data: new Uint8Array(data), version: 4 });
    expect(decoded(nzkRequest(3, zkOp.check, make('protocol', 'CheckVersionRequest', '/d', 9))).request).toEqual({ type: 'check', path: '/d', version: 9 });
    expect(decoded(nzkRequest(4, zkOp.getACL, make('protocol', 'GetACLRequest', '/d'))).request).toEqual({ type: 'getACL', path: '/d' });
    expect(decoded(nzkRequest(5, zkOp.setACL, make('protocol', 'SetACLRequest', '/d', acl.map(nzkAcl), 2))).request)
      .toEqual({ type: 'setACL', path: '/d', acl, version: 2 });
    // node-zookeeper-client has no SyncRequest; the benchmark sends GetACLRequest's identical { path } (see scripts/bench).
    expect(decoded(nzkRequest(6, zkOp.sync, make('protocol', 'GetACLRequest', '/s'))).request).toEqual({ type: 'sync', path: '/s' });
  });

  it('decodes the watchable reads with their watch flag', () => {
    const reads = [
      [zkOp.exists, 'exists', 'ExistsRequest'], [zkOp.getData, 'getData', 'GetDataRequest'],
      [zkOp.getChildren, 'getChildren', 'GetChildren2Request'], [zkOp.getChildren2, 'getChildren2', 'GetChildren2Request'],
    ] as const;
    for (const [type, name, record] of reads) {
      for (const watch of [true, false]) {
        const packet = nzkRequest(7, type, make('protocol', record, '/w/ü', watch));
        expect(decoded(packet)).toEqual({ xid: 7, type, request: { type: name, path: '/w/ü', watch } });
        expect(requestPacket(7, type, (w) => w.string('/w/ü').bool(watch)).equals(packet)).toBe(true);
      }
    }
  });

  it('decodes a transaction (multi) of create, delete, setData and check', () => {
    const ops = [
      { type: zkOp.create, path: '/t', data, acls: acl.map((a) => ({ toRecord: () => nzkAcl(a) })), mode: 1 },
      { type: zkOp.delete, path: '/u', version: 3 },
      { type: zkOp.setData, path: '/v', data, version: -1 },
      { type: zkOp.check, path: '/w', version: 8 },
    ];
    const packet = new nzk.Request(make('protocol', 'RequestHeader', 11, zkOp.multi), new nzk.TransactionRequest(ops)).toBuffer();
    expect(decoded(packet)).toEqual({
      xid: 11, type: zkOp.multi, request: {
        type: 'multi', ops: [
          { type: 'create', path: '/t', data: new Uint8Array(data), acl, flags: 1, ttl: 0 },
          { type: 'delete', path: '/u', version: 3 },
          { type: 'setData', path: '/v', data: new Uint8Array(data), version: -1 },
          { type: 'check', path: '/w', version: 8 },
        ],
      },
    });
    const empty = new nzk.Request(make('protocol', 'RequestHeader', 12, zkOp.multi), new nzk.TransactionRequest([])).toBuffer();
    expect(decoded(empty).request).toEqual({ type: 'multi', ops: [] });
  });

  it('decodes auth and setWatches with their reserved xids', () => {
    const auth = nzkRequest(zkXid.auth, zkOp.auth, make('protocol', 'AuthPacket', 0, 'digest', Buffer.from('bob:pass')));
    expect(decoded(auth)).toEqual({ xid: -4, type: 100, request: { type: 'auth', scheme: 'digest', auth: new Uint8Array(Buffer.from('bob:pass')) } });
    const watches = nzkRequest(zkXid.setWatches, zkOp.setWatches, make('protocol', 'SetWatches', longBuf(0x1_0000_0002), ['/a'], ['/b', '/c'], []));
    expect(decoded(watches)).toEqual({
      xid: -8, type: 101, request: {
        type: 'setWatches', relativeZxid: 0x1_0000_0002, dataWatches: ['/a'], existWatches: ['/b', '/c'], childWatches: [],
        persistentWatches: [], persistentRecursiveWatches: [],
      },
    });
  });

  it('decodes ping and closeSession, which carry only a header', () => {
    expect(decoded(nzkRequest(zkXid.ping, zkOp.ping, null))).toEqual({ xid: -2, type: 11, request: { type: 'ping' } });
    expect(decoded(nzkRequest(9, zkOp.closeSession, null))).toEqual({ xid: 9, type: -11, request: { type: 'closeSession' } });
  });

  it('decodes the connect request of an old client (no readOnly) and of a new one', () => {
    const passwd = Buffer.alloc(16, 7);
    const old = new nzk.Request(null, make('protocol', 'ConnectRequest', 0, longBuf(0x55), 30_000, longBuf(0x1_2345_6789), passwd)).toBuffer();
    expect(decodeConnectRequest(bodyOf(old))).toEqual({ protocolVersion: 0, lastZxidSeen: 0x55, timeOut: 30_000, sessionId: 0x1_2345_6789, passwd: new Uint8Array(passwd), readOnly: false });
    const ours = new JuteWriter().int(0).long(0x55).int(30_000).long(0x1_2345_6789).buffer(passwd).packet();
    expect(ours.equals(old)).toBe(true);
    expect(decodeConnectRequest(Buffer.concat([bodyOf(old), Buffer.from([1])])).readOnly).toBe(true);
    expect(() => decodeConnectRequest(Buffer.concat([bodyOf(old), Buffer.from([1, 0])]))).toThrow(JuteError);
  });

  it('reads a connect request session id this server could not have issued as null', () => {
    const body = new JuteWriter().int(0).long(0).int(4000).long(-(2n ** 63n)).buffer(null).bool(false).packet().subarray(4);
    expect(decodeConnectRequest(body)).toMatchObject({ sessionId: null, passwd: new Uint8Array(0) });
  });
});

describe('requests only newer clients send', () => {
  const cases: [string, Buffer, ZkRequest][] = [
    ['createTTL carries ttl after flags', requestPacket(1, zkOp.createTTL, (w) => w.string('/ttl').buffer(data).vector(acl.slice(0, 1), (x, a) => x.int(a.perms).string(a.scheme).string(a.id)).int(5).long(60_000)),
      { type: 'createTTL', path: '/ttl', data: new Uint8Array(data), acl: acl.slice(0, 1), flags: 5, ttl: 60_000 }],
    ['setWatches2 adds persistent and persistent-recursive watches', requestPacket(zkXid.setWatches, zkOp.setWatches2, (w) => {
      w.long(9);
      for (const list of [['/d'], ['/e'], ['/c'], ['/p'], ['/r', '/s']]) w.vector(list, (x, s) => x.string(s));
    }), { type: 'setWatches', relativeZxid: 9, dataWatches: ['/d'], existWatches: ['/e'], childWatches: ['/c'], persistentWatches: ['/p'], persistentRecursiveWatches: ['/r', '/s'] }],
    ['addWatch is { path, mode }', requestPacket(2, zkOp.addWatch, (w) => w.string('/aw').int(1)), { type: 'addWatch', path: '/aw', mode: 1 }],
    ['removeWatches is { path, type }', requestPacket(3, zkOp.removeWatches, (w) => w.string('/rw').int(2)), { type: 'removeWatches', path: '/rw', watcherType: 2 }],
    ['checkWatches is { path, type }', requestPacket(4, zkOp.checkWatches, (w) => w.string('/cw').int(3)), { type: 'checkWatches', path: '/cw', watcherType: 3 }],
    ['getEphemerals is { prefixPath }', requestPacket(5, zkOp.getEphemerals, (w) => w.string('/')), { type: 'getEphemerals', prefixPath: '/' }],
    ['getAllChildrenNumber is { path }', requestPacket(6, zkOp.getAllChildrenNumber, (w) => w.string('/n')), { type: 'getAllChildrenNumber', path: '/n' }],
    ['whoAmI has no record', requestPacket(7, zkOp.whoAmI), { type: 'whoAmI' }],
    ['multiRead is getData / getChildren records, their watch flag dropped', requestPacket(8, zkOp.multiRead, (w) => {
      w.int(zkOp.getData).bool(false).int(-1).string('/x').bool(false);
      w.int(zkOp.getChildren).bool(false).int(-1).string('/y').bool(true);
      w.int(-1).bool(true).int(-1);
    }), { type: 'multiRead', ops: [{ type: 'getData', path: '/x' }, { type: 'getChildren', path: '/y' }] }],
    ['a multi may hold createTTL, createContainer and create2', requestPacket(9, zkOp.multi, (w) => {
      w.int(zkOp.createTTL).bool(false).int(-1).string('/a').buffer(null).vector([], () => undefined).int(5).long(10);
      w.int(zkOp.createContainer).bool(false).int(-1).string('/b').buffer(null).vector([], () => undefined).int(4);
      w.int(zkOp.create2).bool(false).int(-1).string('/c').buffer(null).vector(null, () => undefined).int(0);
      w.int(-1).bool(true).int(-1);
    }), {
      type: 'multi', ops: [
        { type: 'createTTL', path: '/a', data: new Uint8Array(0), acl: [], flags: 5, ttl: 10 },
        { type: 'createContainer', path: '/b', data: new Uint8Array(0), acl: [], flags: 4, ttl: 0 },
        { type: 'create2', path: '/c', data: new Uint8Array(0), acl: [], flags: 0, ttl: 0 },
      ],
    }],
  ];
  for (const [title, packet, request] of cases) {
    it(title, () => {
      expect(decoded(packet).request).toEqual(request);
    });
  }

  it('places createTTL ttl after flags, byte for byte', () => {
    const body = bodyOf(requestPacket(1, zkOp.createTTL, (w) => w.string('/t').buffer(null).vector([], () => undefined).int(5).long(0x0102_0304_0506)));
    expect(body.toString('hex')).toBe('00000001' + '00000015' + '000000022f74' + 'ffffffff' + '00000000' + '00000005' + '0000010203040506');
  });

  it('answers known-but-unserved and unknown opcodes with unsupported, without reading their record', () => {
    for (const opCode of [zkOp.reconfig, zkOp.sasl, zkOp.deleteContainer, zkOp.createSession, zkOp.notification, 999, -77]) {
      expect(decoded(requestPacket(3, opCode, (w) => w.string('whatever')))).toEqual({ xid: 3, type: opCode, request: { type: 'unsupported', opCode } });
    }
  });
});

describe('replies node-zookeeper-client decodes', () => {
  it('encodes the connect response it reads, with readOnly appended', () => {
    const passwd = Buffer.alloc(16, 3);
    const packet = encodeConnectResponse({ protocolVersion: 0, timeOut: 12_000, sessionId: 0x7_0000_0001, passwd, readOnly: true });
    const body = bodyOf(packet);
    const res = make('protocol', 'ConnectResponse');
    expect(res.deserialize(body, 0)).toBe(body.length - 1);
    expect(res['timeOut']).toBe(12_000);
    expect((res['sessionId'] as Buffer).readBigInt64BE(0)).toBe(0x7_0000_0001n);
    expect(res['passwd']).toEqual(passwd);
    expect(body[body.length - 1]).toBe(1);
    const expected = Buffer.alloc(res.byteLength());
    make('protocol', 'ConnectResponse', 0, 12_000, longBuf(0x7_0000_0001), passwd).serialize(expected, 0);
    expect(body.subarray(0, -1).equals(expected)).toBe(true);
  });

  it('encodes getData, exists, create, getChildren2 and getACL replies as it serializes them', () => {
    const nzkStat = (): NzkRecord => make('data', 'Stat', longBuf(stat.czxid), longBuf(stat.mzxid), longBuf(stat.ctime), longBuf(stat.mtime),
      stat.version, stat.cversion, stat.aversion, longBuf(stat.ephemeralOwner), stat.dataLength, stat.numChildren, longBuf(stat.pzxid));
    const replies: [Buffer, NzkRecord][] = [
      [encodeReply(4, 100, 0, replyBody.getData(data, stat)), make('protocol', 'GetDataResponse', data, nzkStat())],
      [encodeReply(5, 101, 0, replyBody.stat(stat)), make('protocol', 'ExistsResponse', nzkStat())],
      [encodeReply(6, 102, 0, replyBody.create('/made')), make('protocol', 'CreateResponse', '/made')],
      [encodeReply(7, 103, 0, replyBody.getChildren2(['a', 'bé'], stat)), make('protocol', 'GetChildren2Response', ['a', 'bé'], nzkStat())],
      [encodeReply(8, 104, 0, replyBody.getACL(acl, stat)), make('protocol', 'GetACLResponse', acl.map(nzkAcl), nzkStat())],
    ];
    for (const [packet, record] of replies) {
      const header = make('protocol', 'ReplyHeader', 0, longBuf(0), 0);
      const expected = Buffer.alloc(header.byteLength() + record.byteLength());
      header['xid'] = packet.readInt32BE(4);
      header['zxid'] = longBuf(Number(packet.readBigInt64BE(8)));
      record.serialize(expected, header.serialize(expected, 0));
      expect(bodyOf(packet).toString('hex')).toBe(expected.toString('hex'));
    }
    const payload = make('protocol', 'GetDataResponse');
    expect(nzkReply(replies[0]![0], payload)).toMatchObject({ xid: 4, zxid: 100, err: 0 });
    expect(fromNzkStat(payload['stat'])).toEqual(stat);
    expect(payload['data']).toEqual(data);
  });

  it('sends no body with an error reply', () => {
    const packet = encodeReply(9, 200, zkErr.noNode, replyBody.getData(data, stat));
    expect(nzkReply(packet)).toEqual({ xid: 9, zxid: 200, err: -101, end: 16 });
    expect(packet.length).toBe(20);
  });

  it('encodes a watch notification it reads as a WatcherEvent', () => {
    const packet = encodeWatcherEvent(zkEvent.nodeDataChanged, zkState.syncConnected, '/watched');
    const event = make('protocol', 'WatcherEvent');
    expect(nzkReply(packet, event)).toEqual({ xid: -1, zxid: -1, err: 0, end: packet.length - 4 });
    expect({ type: event['type'], state: event['state'], path: event['path'] }).toEqual({ type: 3, state: 3, path: '/watched' });
  });

  it('encodes a multi response it reads, error results included, and sends it even when the header has an error', () => {
    const results: ZkMultiResult[] = [
      { type: 'create', path: '/m' }, { type: 'setData', stat }, { type: 'delete' }, { type: 'check' },
      { type: 'error', err: zkErr.badVersion },
    ];
    for (const err of [zkErr.ok, zkErr.badVersion]) {
      const packet = encodeReply(10, 300, err, replyBody.multi(results));
      const body = bodyOf(packet);
      const response = new nzk.TransactionResponse();
      expect(response.deserialize(body, 16)).toBe(body.length - 16);
      expect(response.results.map((x) => ({ ...x, stat: x.stat === undefined ? undefined : fromNzkStat(x.stat) }))).toEqual([
        { type: 1, path: '/m', stat: undefined }, { type: 5, stat, path: undefined }, { type: 2 }, { type: 13 }, { type: -1, err: -103 },
      ].map((x) => ({ path: undefined, stat: undefined, ...x })));
    }
  });
});

describe('replies only newer clients read', () => {
  function bodyReader(packet: Buffer): JuteReader {
    const r = new JuteReader(bodyOf(packet));
    expect([r.int(), r.long(), r.int()]).toEqual([1, 2, 0]);
    return r;
  }

  it('encodes create2, sync, getChildren, getEphemerals, allChildrenNumber and whoAmI records', () => {
    let r = bodyReader(encodeReply(1, 2, 0, replyBody.create2('/c2', stat)));
    expect([r.string(), readStat(r)]).toEqual(['/c2', stat]);
    r = bodyReader(encodeReply(1, 2, 0, replyBody.sync('/s')));
    expect(r.string()).toBe('/s');
    r = bodyReader(encodeReply(1, 2, 0, replyBody.getChildren(['x', 'y'])));
    expect(r.vector((x) => x.string())).toEqual(['x', 'y']);
    r = bodyReader(encodeReply(1, 2, 0, replyBody.getEphemerals(['/e1'])));
    expect(r.vector((x) => x.string())).toEqual(['/e1']);
    r = bodyReader(encodeReply(1, 2, 0, replyBody.allChildrenNumber(42)));
    expect(r.int()).toBe(42);
    r = bodyReader(encodeReply(1, 2, 0, replyBody.whoAmI([{ authScheme: 'ip', user: '127.0.0.1' }, { authScheme: 'digest', user: 'bob' }])));
    expect(r.vector((x) => ({ authScheme: x.string(), user: x.string() }))).toEqual([{ authScheme: 'ip', user: '127.0.0.1' }, { authScheme: 'digest', user: 'bob' }]);
    expect(r.remaining).toBe(0);
  });

  it('encodes multiRead results as MultiHeader then GetDataResponse / GetChildrenResponse / ErrorResponse', () => {
    const r = bodyReader(encodeReply(1, 2, 0, replyBody.multi([
      { type: 'getData', data, stat }, { type: 'getChildren', children: ['k'] }, { type: 'create2', path: '/p', stat },
      { type: 'error', err: zkErr.noNode },
    ])));
    expect([r.int(), r.bool(), r.int(), r.buffer(), readStat(r)]).toEqual([4, false, 0, new Uint8Array(data), stat]);
    expect([r.int(), r.bool(), r.int(), r.vector((x) => x.string())]).toEqual([8, false, 0, ['k']]);
    expect([r.int(), r.bool(), r.int(), r.string(), readStat(r)]).toEqual([15, false, 0, '/p', stat]);
    expect([r.int(), r.bool(), r.int(), r.int()]).toEqual([-1, false, -101, -101]);
    expect([r.int(), r.bool(), r.int()]).toEqual([-1, true, -1]);
    expect(r.remaining).toBe(0);
  });
});

describe('hostile requests', () => {
  it('throws JuteError when even the header is unreadable', () => {
    expect(() => decodeRequest(new Uint8Array(0))).toThrow(JuteError);
    expect(() => decodeRequest(new Uint8Array(7))).toThrow(JuteError);
  });

  it('returns the header and a JuteError for a truncated request at every cut', () => {
    const body = bodyOf(nzkRequest(5, zkOp.create, make('protocol', 'CreateRequest', '/a/b', data, acl.map(nzkAcl), 3)));
    for (let cut = 8; cut < body.length; cut++) {
      const d = decodeRequest(body.subarray(0, cut));
      expect(d).toMatchObject({ header: { xid: 5, type: 1 } });
      expect('error' in d && d.error instanceof JuteError).toBe(true);
    }
  });

  it('refuses huge and negative lengths without allocating for them', () => {
    const head = (w: JuteWriter): JuteWriter => w.int(1).int(zkOp.setData);
    expect(decodeError(bodyOf(head(new JuteWriter()).int(0x7fff_ffff).packet())).message).toMatch(/beyond/);
    expect(decodeError(bodyOf(head(new JuteWriter()).string('/x').int(0x7fff_fff0).int(0).packet())).message).toMatch(/beyond/);
    expect(decodeError(bodyOf(head(new JuteWriter()).int(-5).packet())).message).toMatch(/negative/);
    const vector = new JuteWriter().int(1).int(zkOp.setWatches).long(0).int(0x7fff_ffff).packet();
    expect(decodeError(bodyOf(vector)).message).toMatch(/beyond/);
    const multi = new JuteWriter().int(1).int(zkOp.multi);
    for (let i = 0; i < 1000; i++) multi.int(zkOp.check).bool(false).int(-1).string('/').int(0);
    expect(decodeError(bodyOf(multi.packet())).message).toMatch(/truncated/);
  });

  it('refuses a null path, trailing bytes, a read inside a multi and a write inside a multiRead', () => {
    decodeError(bodyOf(requestPacket(1, zkOp.getData, (w) => w.string(null).bool(false))));
    decodeError(bodyOf(requestPacket(1, zkOp.getData, (w) => w.string('/x').bool(false).int(0))));
    decodeError(bodyOf(requestPacket(1, zkOp.ping, (w) => w.bool(false))));
    decodeError(bodyOf(requestPacket(1, zkOp.multi, (w) => w.int(zkOp.getData).bool(false).int(-1).string('/x').bool(false).int(-1).bool(true).int(-1))));
    decodeError(bodyOf(requestPacket(1, zkOp.multiRead, (w) => w.int(zkOp.delete).bool(false).int(-1).string('/x').int(0).int(-1).bool(true).int(-1))));
    decodeError(bodyOf(requestPacket(1, zkOp.setACL, (w) => w.string('/x').vector([0], (x) => x.int(31).string(null).string('anyone')).int(0))));
  });

  it('refuses a relative zxid or ttl outside the safe integer range', () => {
    decodeError(bodyOf(requestPacket(1, zkOp.setWatches, (w) => w.long(2n ** 60n).int(0).int(0).int(0))));
    decodeError(bodyOf(requestPacket(1, zkOp.createTTL, (w) => w.string('/t').buffer(null).int(0).int(5).long(-(2n ** 62n)))));
  });

  it('throws nothing but JuteError for random mutations of valid packets, and always returns', () => {
    const seeds: Buffer[] = [
      nzkRequest(5, zkOp.create, make('protocol', 'CreateRequest', '/a/b', data, acl.map(nzkAcl), 3)),
      nzkRequest(6, zkOp.setACL, make('protocol', 'SetACLRequest', '/d', acl.map(nzkAcl), 2)),
      nzkRequest(zkXid.setWatches, zkOp.setWatches, make('protocol', 'SetWatches', longBuf(2), ['/a'], ['/b', '/c'], ['/d'])),
      nzkRequest(zkXid.auth, zkOp.auth, make('protocol', 'AuthPacket', 0, 'digest', Buffer.from('bob:pass'))),
      new nzk.Request(make('protocol', 'RequestHeader', 11, zkOp.multi), new nzk.TransactionRequest([
        { type: zkOp.create, path: '/t', data, acls: [{ toRecord: () => nzkAcl(acl[0]!) }], mode: 1 },
        { type: zkOp.check, path: '/w', version: 8 },
      ])).toBuffer(),
      requestPacket(8, zkOp.multiRead, (w) => w.int(zkOp.getData).bool(false).int(-1).string('/x').bool(false).int(-1).bool(true).int(-1)),
      requestPacket(1, zkOp.createTTL, (w) => w.string('/ttl').buffer(data).vector([], () => undefined).int(5).long(60_000)),
    ].map(bodyOf);
    const connect = new JuteWriter().int(0).long(0).int(4000).long(77).buffer(Buffer.alloc(16)).bool(false).packet().subarray(4);

    // xorshift32: a seed replays a failing case exactly.
    let state = 0x9e37_79b9;
    const next = (): number => {
      state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
      return state >>> 0;
    };
    const below = (n: number): number => next() % n;
    const mutate = (seed: Buffer): Buffer => {
      let b = Buffer.from(seed);
      const edits = 1 + below(4);
      for (let e = 0; e < edits; e++) {
        const at = below(Math.max(b.length, 1));
        switch (below(5)) {
          case 0: if (b.length > 0) b[at] = next() & 0xff; break;
          case 1: b = b.subarray(0, at); break;
          case 2: b = Buffer.concat([b.subarray(0, at), Buffer.from([next() & 0xff, next() & 0xff]), b.subarray(at)]); break;
          case 3: if (at + 4 <= b.length) b.writeInt32BE([-1, -2, 0x7fff_ffff, 0, b.length - at, next() | 0][below(6)]!, at); break;
          default: if (b.length >= 8) b.writeInt32BE([0, 1, 3, 4, 5, 7, 8, 12, 14, 15, 21, 22, 100, 101, 105, 106][below(16)]!, 4); break;
        }
      }
      return b;
    };

    const outcomes = { decoded: 0, refused: 0, unreadableHeader: 0 };
    for (let i = 0; i < 20_000; i++) {
      const body = mutate(seeds[i % seeds.length]!);
      try {
        const d = decodeRequest(body);
        if ('error' in d) {
          expect(d.error).toBeInstanceOf(JuteError);
          outcomes.refused++;
        } else {
          outcomes.decoded++;
        }
      } catch (err) {
        expect(err).toBeInstanceOf(JuteError);
        outcomes.unreadableHeader++;
      }
      try {
        decodeConnectRequest(mutate(connect));
      } catch (err) {
        expect(err).toBeInstanceOf(JuteError);
      }
    }
    // The mutations reach every branch: some survive, most are refused, a few lose the header.
    expect(outcomes.decoded).toBeGreaterThan(500);
    expect(outcomes.refused).toBeGreaterThan(5000);
    expect(outcomes.unreadableHeader).toBeGreaterThan(10);
  });
});

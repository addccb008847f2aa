import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { WebSocket, WebSocketServer } from 'ws';
import { createPrng, type Message, type NodeId } from '@vigil/raft';
import { decodeHello, decodeWelcome, encodePeerFrame, peerCloseCodes } from '../src/transport/peer-codec.js';
import { PeerTransport, type PeerAddress } from '../src/transport/peer-transport.js';
import { capturedLogs, levels, testSeed, until, within, type LogLine } from './peer-support.js';

/**
 * Hostile bytes from an authenticated peer (and from a dialer before its hello), against a real
 * PeerTransport: random bytes, mutated and truncated frames, length fields that claim gigabytes,
 * fields of the wrong type, text and oversize frames, deep nesting. Every frame must either be
 * refused — the connection closed with a clear code and reason, and a warning logged — or be
 * delivered as messages of exactly the shapes Raft knows; and the transport must go on serving
 * its members. Seeded: the seed is printed, and VIGIL_PEER_SEED=<seed> replays it.
 */

const clusterId = 'fuzz-cluster';
const targetId = 10;
const controlId = 1;
const hostileId = 2;
const frameBytesMax = 64 * 1024;
const cases = 400;
/** Dials answered by a hostile acceptor (each a new connection, after the dialer's backoff). */
const dialerCases = 120;
/** The storm stops early past this (a loaded machine); the cases run so far still count. */
const budgetMs = 20_000;

const raw = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

type Rand = ReturnType<typeof createPrng>;

function pick<T>(rand: Rand, xs: readonly T[]): T {
  const x = xs[rand.nextInt(xs.length)];
  if (x === undefined) throw new Error('pick from an empty list');
  return x;
}

function bytesOf(rand: Rand, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rand.nextInt(256));
}

/** One valid message of every type, from the hostile member to the target. */
function catalog(rand: Rand): Message[] {
  const from = hostileId;
  const to = targetId;
  const n = (): number => rand.nextInt(50);
  return [
    { type: 'vote', from, to, term: n(), lastIndex: n(), lastTerm: 0, transfer: false },
    { type: 'preVote', from, to, term: n(), lastIndex: n(), lastTerm: 0, transfer: true },
    { type: 'voteResp', from, to, term: n(), reject: false },
    { type: 'preVoteResp', from, to, term: n(), reject: true },
    {
      type: 'app', from, to, term: 3, prevIndex: 4, prevTerm: 2, commit: 4,
      entries: [
        { term: 3, index: 5, kind: 'normal', data: bytesOf(rand, rand.nextInt(20)) },
        { term: 3, index: 6, kind: 'noop', data: new Uint8Array(0) },
        { term: 3, index: 7, kind: 'conf', data: new TextEncoder().encode('{"type":"removeNode","node":4}') },
      ],
    },
    { type: 'appResp', from, to, term: n(), index: n(), reject: false, rejectHint: 0, hintTerm: 0 },
    { type: 'heartbeat', from, to, term: n(), commit: n(), readRound: n() },
    { type: 'heartbeatResp', from, to, term: n(), readRound: n() },
    {
      type: 'snap', from, to, term: 3, offset: 0, totalBytes: 8, chunk: bytesOf(rand, 4),
      meta: { index: 10, term: 3, conf: { voters: [1, 2, 10], learners: [4] } },
    },
    { type: 'snapResp', from, to, term: n(), snapshotIndex: n(), offset: n() },
    { type: 'timeoutNow', from, to, term: n() },
    { type: 'readIndex', from, to, term: n(), ctx: n() },
    { type: 'readIndexResp', from, to, term: n(), ctx: n(), index: n(), reject: false },
  ];
}

/** Values of every msgpack type, and the numbers a field of counts must refuse. */
const wrongValues: readonly (() => unknown)[] = [
  () => null,
  () => true,
  () => -1,
  () => 1.5,
  () => Number.NaN,
  () => Number.POSITIVE_INFINITY,
  () => 2 ** 53 + 2,
  () => -(2 ** 40),
  () => '7',
  () => '',
  () => [],
  () => [1, 2],
  () => ({}),
  () => ({ kind: 'msgs' }),
  () => new Uint8Array([1, 2, 3]),
  () => new Date(0),
];

/** A deep copy of `value` with one field somewhere inside replaced by a value of another type. */
function withWrongField(rand: Rand, value: unknown): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  // Every path to a replaceable field, nested maps and arrays included.
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (v instanceof Uint8Array || typeof v !== 'object' || v === null) return;
    for (const [k, child] of Object.entries(v)) {
      const key = Array.isArray(v) ? Number(k) : k;
      paths.push([...path, key]);
      walk(child, [...path, key]);
    }
  };
  walk(copy, []);
  const path = pick(rand, paths);
  let parent: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  const replacement = pick(rand, wrongValues)();
  if (rand.nextInt(8) === 0 && !Array.isArray(parent)) delete parent[last];
  else parent[last] = replacement;
  return copy;
}

function mutate(rand: Rand, bytes: Uint8Array): Uint8Array {
  const b = Uint8Array.from(bytes);
  if (b.length === 0) return bytesOf(rand, 1 + rand.nextInt(8));
  switch (rand.nextInt(4)) {
    case 0: // flip bits
      for (let i = 1 + rand.nextInt(3); i > 0; i--) b[rand.nextInt(b.length)]! ^= 1 << rand.nextInt(8);
      return b;
    case 1: // overwrite a byte with a msgpack type byte (length headers, never-used 0xc1, nil, …)
      b[rand.nextInt(b.length)] = pick(rand, [0xc1, 0xc4, 0xc6, 0xc7, 0xc9, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xdb, 0xdd, 0xdf, 0xff, 0x00, 0x7f, 0xc0, 0x80, 0x90]);
      return b;
    case 2: { // splice in a random run
      const at = rand.nextInt(b.length);
      return Uint8Array.from([...b.subarray(0, at), ...bytesOf(rand, 1 + rand.nextInt(8)), ...b.subarray(at)]);
    }
    default: { // duplicate a run (trailing data, or a repeated header)
      const at = rand.nextInt(b.length);
      const end = at + 1 + rand.nextInt(Math.min(16, b.length - at));
      return Uint8Array.from([...b.subarray(0, end), ...b.subarray(at, end), ...b.subarray(end)]);
    }
  }
}

/** The start of a msgs frame, `{kind: 'msgs', msgs: `, for splicing a hand-made value after it. */
const msgsFramePrefix = Uint8Array.from([0x82, 0xa4, ...Buffer.from('kind'), 0xa4, ...Buffer.from('msgs'), 0xa4, ...Buffer.from('msgs')]);

/** A msgpack header claiming a huge length (bin, str, array, map or ext of 32-bit length), then a few bytes. */
function hugeLength(rand: Rand): Uint8Array {
  const length = pick(rand, [0xffff_ffff, 0x7fff_ffff, 0x1000_0000, frameBytesMax * 4]);
  const header = pick(rand, [0xc6, 0xdb, 0xdd, 0xdf, 0xc9]);
  const len = [length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff];
  const tail = header === 0xc9 ? [pick(rand, [0x42, 0x65, 0x73, 0x74, 0x78, 0xff, 0x01])] : [];
  const value = Uint8Array.from([header, ...len, ...tail, ...bytesOf(rand, rand.nextInt(32))]);
  switch (rand.nextInt(3)) {
    case 0:
      return value;
    case 1:
      return Uint8Array.from([...msgsFramePrefix, ...value]);
    default: {
      // As the data of an entry inside an otherwise valid frame: cut the frame where the data is.
      const frame = encodePeerFrame({ kind: 'msgs', msgs: [{ type: 'app', from: hostileId, to: targetId, term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 1, kind: 'normal', data: new Uint8Array([0xee, 0xee, 0xee, 0xee]) }] }] });
      const at = Buffer.from(frame).indexOf(Buffer.from([0xc4, 0x04, 0xee, 0xee, 0xee, 0xee]));
      return Uint8Array.from([...frame.subarray(0, at), ...value]);
    }
  }
}

/**
 * Bytes that break the WebSocket framing itself, written to the socket under `ws`: an unknown
 * opcode, an unmasked frame from a client, reserved bits, a control frame too long, a 2^63 length.
 */
const brokenWebSocketFrames: readonly number[][] = [
  [0x83, 0x80, 0, 0, 0, 0],
  [0x82, 0x03, 1, 2, 3],
  [0xf2, 0x80, 0, 0, 0, 0],
  [0x89, 0xfe, 0x01, 0x00, 0, 0, 0, 0],
  [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
];

type Hostile = {
  readonly what: string;
  readonly data: Uint8Array | string;
  /** Written under `ws`, as raw WebSocket framing. */
  readonly framing?: boolean;
  /** A valid frame: exactly these must be delivered. */
  readonly msgs?: readonly Message[];
};

/**
 * The frame a peer sends in each phase of a connection: a dialer's first (`hello`), an acceptor's
 * first (`welcome`), and any after the handshake.
 */
type Phase = 'hello' | 'welcome' | 'after';

function firstFrame(phase: 'hello' | 'welcome'): { kind: string } & Record<string, unknown> {
  return phase === 'hello' ? { kind: 'hello', version: 1, clusterId, from: hostileId, to: targetId } : { kind: 'welcome' };
}

/** One hostile frame, drawn from the seeded generator. */
function hostileFrame(rand: Rand, phase: Phase): Hostile {
  const valid = (): Uint8Array =>
    phase === 'after'
      ? encodePeerFrame({ kind: 'msgs', msgs: catalog(rand).filter(() => rand.nextInt(3) === 0) })
      : raw.pack(firstFrame(phase));
  switch (rand.nextInt(12)) {
    case 11: {
      // Valid after all (other numbers, flags, entries): delivered exactly.
      if (phase !== 'after') return { what: `a valid ${phase}`, data: valid() };
      const msgs = catalog(rand).filter(() => rand.nextInt(2) === 0);
      return { what: 'a frame of valid messages', data: encodePeerFrame({ kind: 'msgs', msgs }), msgs };
    }
    case 0:
      return { what: 'random bytes', data: bytesOf(rand, rand.nextInt(64)) };
    case 10:
      return { what: 'a broken WebSocket frame', data: Uint8Array.from(pick(rand, brokenWebSocketFrames)), framing: true };
    case 1:
    case 2:
      return { what: 'a mutated frame', data: mutate(rand, valid()) };
    case 3: {
      const frame = valid();
      return { what: 'a truncated frame', data: frame.subarray(0, rand.nextInt(frame.length)) };
    }
    case 4:
      return { what: 'a huge length field', data: hugeLength(rand) };
    case 5:
    case 6: {
      const frame =
        phase !== 'after'
          ? firstFrame(phase)
          : rand.nextInt(6) === 0
            ? { kind: 'rpc', data: new Uint8Array([1]) }
            : { kind: 'msgs', msgs: [pick(rand, catalog(rand))] };
      return { what: 'a field of the wrong type', data: raw.pack(withWrongField(rand, frame)) };
    }
    case 7:
      return { what: 'a text frame', data: pick(rand, ['', 'hello', '{"kind":"msgs","msgs":[]}', '\u0000\uffff']) };
    case 8:
      return { what: 'an oversize frame', data: bytesOf(rand, frameBytesMax + 1 + rand.nextInt(1024)) };
    default: {
      // Deep nesting (arrays or maps, each holding the next), or a frame of another kind.
      const depth = pick(rand, [100, 5_000, 20_000]);
      const nest = rand.nextInt(2) === 0 ? [0x91] : [0x81, 0xa1, 0x78];
      return rand.nextInt(2) === 0
        ? { what: `nesting ${depth} deep`, data: Uint8Array.from([...msgsFramePrefix, ...Array.from({ length: depth }, () => nest).flat(), 0xc0]) }
        : { what: 'a frame of another kind', data: encodePeerFrame(pick(rand, [{ kind: 'welcome' }, { kind: 'hello', version: 1, clusterId, from: hostileId, to: targetId }] as const)) };
    }
  }
}

/** An independent check of a delivered message: the shape Raft knows, and nothing else. */
function wellShaped(m: Message): boolean {
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const ids = (v: unknown): boolean => Array.isArray(v) && v.every((x) => count(x) && (x as number) > 0);
  const has = (keys: string[]): boolean => Object.keys(m).sort().join() === [...keys, 'from', 'to', 'term', 'type'].sort().join();
  if (m.from !== hostileId || m.to !== targetId || !count(m.term)) return false;
  switch (m.type) {
    case 'vote':
    case 'preVote':
      return has(['lastIndex', 'lastTerm', 'transfer']) && count(m.lastIndex) && count(m.lastTerm) && typeof m.transfer === 'boolean';
    case 'voteResp':
    case 'preVoteResp':
      return has(['reject']) && typeof m.reject === 'boolean';
    case 'app':
      return has(['prevIndex', 'prevTerm', 'entries', 'commit']) && count(m.prevIndex) && count(m.prevTerm) && count(m.commit) && Array.isArray(m.entries) &&
        m.entries.every((e) => Object.keys(e).sort().join() === 'data,index,kind,term' && count(e.term) && count(e.index) && ['normal', 'noop', 'conf'].includes(e.kind) && e.data instanceof Uint8Array);
    case 'appResp':
      return has(['index', 'reject', 'rejectHint', 'hintTerm']) && count(m.index) && typeof m.reject === 'boolean' && count(m.rejectHint) && count(m.hintTerm);
    case 'heartbeat':
      return has(['commit', 'readRound']) && count(m.commit) && count(m.readRound);
    case 'heartbeatResp':
      return has(['readRound']) && count(m.readRound);
    case 'snap':
      return has(['meta', 'offset', 'totalBytes', 'chunk']) && count(m.offset) && count(m.totalBytes) && m.chunk instanceof Uint8Array &&
        count(m.meta.index) && count(m.meta.term) && ids(m.meta.conf.voters) && ids(m.meta.conf.learners);
    case 'snapResp':
      return has(['snapshotIndex', 'offset']) && count(m.snapshotIndex) && count(m.offset);
    case 'timeoutNow':
      return has([]);
    case 'readIndex':
      return has(['ctx']) && count(m.ctx);
    case 'readIndexResp':
      return has(['ctx', 'index', 'reject']) && count(m.ctx) && count(m.index) && typeof m.reject === 'boolean';
    default:
      return false;
  }
}

function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit, readRound: 0 };
}

interface RawPeer {
  readonly ws: WebSocket;
  readonly frames: Uint8Array[];
  readonly closed: Promise<{ code: number; reason: string }>;
  isClosed: () => boolean;
}

/** A `ws` client on the target's peer port, speaking as the test tells it. */
async function rawPeer(address: PeerAddress): Promise<RawPeer> {
  const ws = new WebSocket(`ws://${address.host}:${address.port}/raft`, { perMessageDeflate: false });
  const frames: Uint8Array[] = [];
  let done = false;
  ws.on('message', (data) => frames.push(data as Buffer));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      done = true;
      resolve({ code, reason: reason.toString() });
    });
  });
  await within(new Promise((resolve) => ws.once('open', resolve)), 'the raw peer to connect');
  return { ws, frames, closed, isClosed: () => done };
}

const open: PeerTransport[] = [];
const sockets: WebSocket[] = [];
const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const server of servers.splice(0)) {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('peer transport under hostile frames', () => {
  it('as the acceptor, refuses every malformed frame with a close and a warning, delivers only well-shaped messages, and keeps serving its members', async () => {
    const seed = testSeed();
    const replay = `VIGIL_PEER_SEED=${seed} npx vitest run packages/server/test/peer-fuzz.test.ts -t acceptor`;
    console.log(`peer fuzz: seed ${seed} (replay: ${replay})`);
    const rand = createPrng(seed);

    const logs = capturedLogs();
    const delivered: Message[][] = [];
    const rpcs: Uint8Array[] = [];
    const controlBox: Message[] = [];
    const target = await PeerTransport.start({
      selfId: targetId, clusterId, listen: { host: '127.0.0.1', port: 0 }, peers: new Map(), frameBytesMax,
      onMessages: (m) => delivered.push(m),
      onRpc: (from, data) => {
        if (from === hostileId) rpcs.push(data);
      },
      logger: logs.logger,
    });
    open.push(target);
    const control = await PeerTransport.start({
      selfId: controlId, clusterId, listen: { host: '127.0.0.1', port: 0 }, peers: new Map([[targetId, target.address]]), frameBytesMax,
      onMessages: (m) => controlBox.push(...m),
    });
    open.push(control);
    target.setPeers(new Map([[controlId, control.address], [hostileId, { host: '127.0.0.1', port: 1 }]]));
    let controlCommit = 0;
    /** The control member and the target still talk, both ways, over their one connection. */
    const controlTalks = async (): Promise<void> => {
      controlCommit += 1;
      const fromTarget = controlBox.length;
      const toTarget = delivered.flat().filter((m) => m.from === controlId).length;
      control.send([heartbeat(controlId, targetId, controlCommit)]);
      target.send([heartbeat(targetId, controlId, controlCommit)]);
      await until(() => controlBox.length > fromTarget && delivered.flat().filter((m) => m.from === controlId).length > toTarget, `the control member to talk (${replay})`);
    };
    await controlTalks();

    const invalidFrameWarnings = (from: number): LogLine[] =>
      logs.lines.slice(from).filter((l) => l.msg === 'invalid frame' && l.level === levels.warn);

    let hostile: RawPeer | null = null;
    let refused = 0;
    let accepted = 0;
    let marker = 1_000_000;
    const started = performance.now();
    let ran = 0;
    for (; ran < cases && performance.now() - started < budgetMs; ran++) {
      const phase = hostile === null && rand.nextInt(4) === 0 ? 'hello' : 'after';
      const frame = hostileFrame(rand, phase);
      const label = `case ${ran}: ${frame.what} ${phase === 'hello' ? 'as the first frame' : 'after the handshake'} (${replay})`;
      if (phase === 'hello' && typeof frame.data !== 'string') {
        // A frame that is a valid hello from the control member would take its place (the newer
        // connection from the same side wins): legitimate, and not this test's subject.
        const hello = decodeHello(frame.data);
        if (hello.ok && hello.value.from === controlId) continue;
      }
      if (hostile === null) {
        hostile = await rawPeer(target.address);
        sockets.push(hostile.ws);
        if (phase === 'after') {
          hostile.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: hostileId, to: targetId }));
          await until(() => hostile!.frames.length > 0 || hostile!.isClosed(), `the welcome (${label})`);
          expect(hostile.isClosed(), label).toBe(false);
          hostile.frames.shift();
        }
      }
      const peer = hostile;
      const mark = logs.lines.length;
      const deliveredBefore = delivered.length;
      const rpcsBefore = rpcs.length;
      if (frame.framing === true) (peer.ws as unknown as { _socket: { write: (b: Uint8Array) => void } })._socket.write(frame.data as Uint8Array);
      else peer.ws.send(frame.data, { binary: typeof frame.data !== 'string' });
      marker += 1;
      const probe = marker;
      // A valid frame behind the hostile one: once it is delivered, the hostile one was taken. Behind
      // an invalid first frame, a valid hello: the connection must not be welcomed all the same.
      if (phase === 'after') peer.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(hostileId, targetId, probe)] }));
      else if (typeof frame.data === 'string' || frame.framing === true || !decodeHello(frame.data).ok) peer.ws.send(raw.pack(firstFrame('hello')));
      const probed = (): boolean => delivered.slice(deliveredBefore).some((ms) => ms.some((m) => m.type === 'heartbeat' && m.commit === probe));
      await until(() => peer.isClosed() || probed() || (phase === 'hello' && peer.frames.length > 0), `the target to take or refuse ${label}`);

      if (peer.isClosed()) {
        refused += 1;
        hostile = null;
        const { code, reason } = await peer.closed;
        // Refused with a clear reason, and said so in the log: nothing of the frame was delivered.
        if (frame.what === 'an oversize frame') {
          expect({ code, reason }, label).toEqual({ code: 1009, reason: '' });
        } else if (frame.framing === true) {
          // Closed by `ws` itself: 1002 protocol error, or 1009 for a length beyond any frame.
          expect([1002, 1009], label).toContain(code);
        } else if (code !== peerCloseCodes.invalidFrame) {
          // A well-formed hello that names a stranger, another cluster or version, or another node.
          expect(phase, label).toBe('hello');
          expect([peerCloseCodes.unsupportedVersion, peerCloseCodes.clusterIdMismatch, peerCloseCodes.wrongNode, peerCloseCodes.unknownMember], label).toContain(code);
          expect(reason.length, label).toBeGreaterThan(0);
          await logs.waitFor((l) => logs.lines.indexOf(l) >= mark && l.msg === 'peer refused' && l.code === code, `the refusal to be logged (${label})`);
          continue;
        } else {
          expect(reason, label).toBe('invalid frame');
        }
        const warning = await logs.waitFor((l) => logs.lines.indexOf(l) >= mark && l.msg === 'invalid frame' && l.level === levels.warn, `the warning (${label})`);
        expect(typeof warning.reason === 'string' && warning.reason.length > 0, label).toBe(true);
        if (phase === 'after') expect(warning.peer, label).toBe(hostileId);
        expect(invalidFrameWarnings(mark), label).toHaveLength(1);
        if (phase === 'hello') expect(peer.frames, `${label}: welcomed`).toEqual([]);
        expect(delivered.slice(deliveredBefore).flat().filter((m) => m.from === hostileId), label).toEqual([]);
        expect(rpcs.length, label).toBe(rpcsBefore);
      } else if (phase === 'hello') {
        // It was a valid hello after all: welcomed as member 2.
        accepted += 1;
        peer.frames.shift();
      } else {
        // Taken: only messages of the shapes Raft knows, from the member that sent them.
        accepted += 1;
        const got = delivered.slice(deliveredBefore).flat();
        for (const m of got) expect(wellShaped(m), `${label}: delivered ${JSON.stringify(m)}`).toBe(true);
        if (frame.msgs !== undefined) expect(got.slice(0, -1), label).toEqual(frame.msgs);
        expect(invalidFrameWarnings(mark), label).toEqual([]);
      }
      if (ran % 50 === 49) await controlTalks();
    }
    console.log(`peer fuzz: ${ran} frames in ${Math.round(performance.now() - started)} ms: ${refused} refused, ${accepted} taken (seed ${seed})`);
    expect(refused, replay).toBeGreaterThan(0);

    // After the storm: the control member still talks over its first and only connection ...
    await controlTalks();
    expect(target.stats().find((s) => s.peer === controlId), replay).toMatchObject({ connected: true, connections: 1 });
    // ... and member 2, dialing in again and behaving, is heard.
    hostile?.ws.terminate();
    const honest = await rawPeer(target.address);
    sockets.push(honest.ws);
    honest.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: hostileId, to: targetId }));
    await until(() => honest.frames.length > 0 || honest.isClosed(), 'the welcome after the storm');
    const before = delivered.length;
    honest.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(hostileId, targetId, 7)] }));
    await until(() => delivered.length > before, `a valid message after the storm (${replay})`);
    expect(delivered.slice(before)).toEqual([[heartbeat(hostileId, targetId, 7)]]);
    // Nothing failed inside the transport.
    expect(logs.lines.filter((l) => l.level >= levels.error), replay).toEqual([]);
  });
  it('as the dialer, refuses hostile answers from the member it dialed the same way, and dials it again', async () => {
    const seed = testSeed();
    const replay = `VIGIL_PEER_SEED=${seed} npx vitest run packages/server/test/peer-fuzz.test.ts -t dialer`;
    console.log(`peer fuzz (dialer): seed ${seed} (replay: ${replay})`);
    const rand = createPrng(seed);

    // Member 2, played by hand: it answers each dial of the target with what the case says.
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/raft', perMessageDeflate: false });
    servers.push(server);
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const dials: { ws: WebSocket; hello: Promise<unknown>; closed: Promise<{ code: number; reason: string }>; isClosed: () => boolean }[] = [];
    server.on('connection', (ws) => {
      ws.on('error', () => undefined);
      let done = false;
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        ws.on('close', (code, reason) => {
          done = true;
          resolve({ code, reason: reason.toString() });
        });
      });
      dials.push({ ws, hello: once(ws, 'message'), closed, isClosed: () => done });
    });

    const logs = capturedLogs();
    const delivered: Message[][] = [];
    const dialer = await PeerTransport.start({
      selfId: targetId, clusterId, listen: { host: '127.0.0.1', port: 0 }, peers: new Map([[hostileId, { host: '127.0.0.1', port }]]), frameBytesMax,
      reverseDialDelayMs: 0, reconnectBaseMs: 5, reconnectMaxMs: 20,
      onMessages: (m) => delivered.push(m),
      logger: logs.logger,
    });
    open.push(dialer);

    let refused = 0;
    let taken = 0;
    let marker = 2_000_000;
    const started = performance.now();
    let ran = 0;
    for (; ran < dialerCases && performance.now() - started < budgetMs; ran++) {
      await until(() => dials.length > ran, `dial ${ran} (${replay})`);
      const dial = dials[ran]!;
      await within(dial.hello, `the hello of dial ${ran} (${replay})`);
      const phase: Phase = rand.nextInt(2) === 0 ? 'welcome' : 'after';
      const frame = hostileFrame(rand, phase);
      const label = `dial ${ran}: ${frame.what} ${phase === 'welcome' ? 'as the answer to the hello' : 'after the welcome'} (${replay})`;
      const mark = logs.lines.length;
      const deliveredBefore = delivered.length;
      if (phase === 'after') dial.ws.send(encodePeerFrame({ kind: 'welcome' }));
      if (frame.framing === true) (dial.ws as unknown as { _socket: { write: (b: Uint8Array) => void } })._socket.write(frame.data as Uint8Array);
      else dial.ws.send(frame.data, { binary: typeof frame.data !== 'string' });
      marker += 1;
      const probe = marker;
      if (phase === 'after') dial.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(hostileId, targetId, probe)] }));
      // Behind an invalid answer to the hello, a valid welcome: too late, the dial must fail.
      else if (typeof frame.data === 'string' || frame.framing === true || !decodeWelcome(frame.data).ok) dial.ws.send(encodePeerFrame({ kind: 'welcome' }));
      const probed = (): boolean => delivered.slice(deliveredBefore).some((ms) => ms.some((m) => m.type === 'heartbeat' && m.commit === probe));
      const welcomed = (): boolean => logs.lines.slice(mark).some((l) => l.msg === 'peer connected');
      await until(() => dial.isClosed() || probed() || (phase === 'welcome' && welcomed()), `the dialer to take or refuse ${label}`);

      if (dial.isClosed()) {
        refused += 1;
        const { code, reason } = await dial.closed;
        if (frame.what === 'an oversize frame') expect(code, label).toBe(1009);
        // Unmasked framing is what a client expects: some of these are plain (invalid) frames to it.
        else if (frame.framing === true) expect([1002, 1009, peerCloseCodes.invalidFrame], label).toContain(code);
        else expect({ code, reason }, label).toEqual({ code: peerCloseCodes.invalidFrame, reason: 'invalid frame' });
        const warning = await logs.waitFor((l) => logs.lines.indexOf(l) >= mark && l.msg === 'invalid frame' && l.level === levels.warn, `the warning (${label})`);
        expect(warning.peer, label).toBe(hostileId);
        if (phase === 'welcome') expect(welcomed(), `${label}: connected`).toBe(false);
        expect(delivered.slice(deliveredBefore).flat(), label).toEqual([]);
      } else {
        taken += 1;
        const got = delivered.slice(deliveredBefore).flat();
        for (const m of got) expect(wellShaped(m), `${label}: delivered ${JSON.stringify(m)}`).toBe(true);
        if (frame.msgs !== undefined) expect(got.slice(0, -1), label).toEqual(frame.msgs);
        expect(logs.lines.slice(mark).filter((l) => l.msg === 'invalid frame'), label).toEqual([]);
        // On to the next case: the dialer redials a connection it lost.
        dial.ws.terminate();
      }
    }
    console.log(`peer fuzz (dialer): ${ran} dials in ${Math.round(performance.now() - started)} ms: ${refused} refused, ${taken} taken (seed ${seed})`);
    expect(refused, replay).toBeGreaterThan(0);

    // After the storm, member 2 behaves: it is welcomed and heard.
    await until(() => dials.length > ran, `a dial after the storm (${replay})`);
    const honest = dials[ran]!;
    await within(honest.hello, 'the hello after the storm');
    const before = delivered.length;
    honest.ws.send(encodePeerFrame({ kind: 'welcome' }));
    honest.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(hostileId, targetId, 7)] }));
    await until(() => delivered.length > before, `a valid message after the storm (${replay})`);
    expect(delivered.slice(before)).toEqual([[heartbeat(hostileId, targetId, 7)]]);
    expect(dialer.stats()).toMatchObject([{ peer: hostileId, connected: true }]);
    expect(logs.lines.filter((l) => l.level >= levels.error), replay).toEqual([]);
  });
});

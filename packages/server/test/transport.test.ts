import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { WebSocket, WebSocketServer } from 'ws';
import type { Message, NodeId } from '@vigil/raft';
import { encodePeerFrame, peerCloseCodes } from '../src/transport/peer-codec.js';
import { PeerTransport, type PeerAddress, type PeerTransportOptions } from '../src/transport/peer-transport.js';
import { capturedLogs, until, within, type LogLine } from './peer-support.js';

const clusterId = 'test-cluster';
const nowhere: PeerAddress = { host: '127.0.0.1', port: 1 };


/** Collects frames as delivered; `received(n)` waits until n messages have arrived. */
function inbox(): { onMessages: (m: Message[]) => void; frames: Message[][]; messages: () => Message[]; received: (n: number) => Promise<Message[]> } {
  const frames: Message[][] = [];
  const waiters: { n: number; resolve: (m: Message[]) => void }[] = [];
  const messages = (): Message[] => frames.flat();
  return {
    frames,
    messages,
    onMessages(m) {
      frames.push(m);
      const all = messages();
      for (const w of [...waiters]) {
        if (all.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(all);
        }
      }
    },
    received(n) {
      if (messages().length >= n) return Promise.resolve(messages());
      return within(new Promise((resolve) => waiters.push({ n, resolve })), `${n} messages`);
    },
  };
}

function heartbeat(from: NodeId, to: NodeId, commit = 0): Message {
  return { type: 'heartbeat', from, to, term: 1, commit, readRound: 0 };
}

const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

type Partial = Omit<PeerTransportOptions, 'onMessages' | 'clusterId' | 'listen'> & Partial2;
type Partial2 = { clusterId?: string; listen?: PeerAddress; onMessages?: (m: Message[]) => void };

async function start(options: Partial): Promise<PeerTransport> {
  const t = await PeerTransport.start({
    clusterId,
    listen: { host: '127.0.0.1', port: 0 },
    onMessages: () => undefined,
    reconnectBaseMs: 10,
    reconnectMaxMs: 100,
    handshakeTimeoutMs: 2_000,
    ...options,
  });
  open.push(t);
  return t;
}

/** Starts `ids` transports that know each other (listening first, then introduced). */
async function mesh(ids: NodeId[], extra: Partial2 & Omit<Partial, 'selfId' | 'peers'> = {}): Promise<{ t: Map<NodeId, PeerTransport>; box: Map<NodeId, ReturnType<typeof inbox>> }> {
  const t = new Map<NodeId, PeerTransport>();
  const box = new Map<NodeId, ReturnType<typeof inbox>>();
  for (const id of ids) {
    const b = inbox();
    box.set(id, b);
    t.set(id, await start({ ...extra, selfId: id, peers: new Map(), onMessages: b.onMessages }));
  }
  for (const [id, transport] of t) {
    transport.setPeers(new Map([...t].filter(([other]) => other !== id).map(([other, o]) => [other, o.address])));
  }
  return { t, box };
}

function get<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const v = map.get(key);
  if (v === undefined) throw new Error(`missing ${String(key)}`);
  return v;
}

function statOf(t: PeerTransport, peer: NodeId): ReturnType<PeerTransport['stats']>[number] {
  const s = t.stats().find((x) => x.peer === peer);
  if (s === undefined) throw new Error(`no stats for ${peer}`);
  return s;
}

/** A raw `ws` client on a transport's peer port, for speaking the protocol badly on purpose. */
async function rawClient(address: PeerAddress): Promise<{ ws: WebSocket; frames: Uint8Array[]; closed: Promise<{ code: number; reason: string }>; nextFrame: () => Promise<Uint8Array> }> {
  const ws = new WebSocket(`ws://${address.host}:${address.port}/raft`, { perMessageDeflate: false, autoPong: false });
  const frames: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (data) => {
    frames.push(data as Buffer);
    wake?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('error', () => undefined);
  await within(new Promise((resolve) => ws.once('open', resolve)), 'raw client open');
  const nextFrame = async (): Promise<Uint8Array> => {
    if (frames.length === 0) await within(new Promise<void>((resolve) => { wake = resolve; }), 'a frame');
    const f = frames.shift();
    if (f === undefined) throw new Error('no frame');
    return f;
  };
  return { ws, frames, closed, nextFrame };
}

const unpackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

describe('peer transport', () => {
  it('two nodes exchange messages both ways over the one connection the lower id dialed', async () => {
    const { t, box } = await mesh([1, 2]);
    get(t, 1).send([heartbeat(1, 2, 5)]);
    get(t, 2).send([heartbeat(2, 1, 6)]);
    expect(await get(box, 2).received(1)).toEqual([heartbeat(1, 2, 5)]);
    expect(await get(box, 1).received(1)).toEqual([heartbeat(2, 1, 6)]);
    const settled = { connected: true, dialedBy: 1, listed: true, connections: 1, sockets: 1, queuedMessages: 0, droppedMessages: 0 };
    expect(statOf(get(t, 1), 2)).toMatchObject(settled);
    expect(statOf(get(t, 2), 1)).toMatchObject(settled);
  });

  it('three nodes form a mesh with exactly one connection per pair', async () => {
    const ids = [1, 2, 3];
    const { t, box } = await mesh(ids);
    for (const from of ids) get(t, from).send(ids.filter((to) => to !== from).map((to) => heartbeat(from, to, from * 10 + to)));
    for (const id of ids) {
      const got = await get(box, id).received(2);
      expect(got.map((m) => m.from).sort()).toEqual(ids.filter((x) => x !== id));
      expect(got.every((m) => m.to === id && m.type === 'heartbeat' && m.commit === m.from * 10 + id)).toBe(true);
    }
    for (const a of ids) {
      for (const b of ids) {
        if (a === b) continue;
        // Each side counts one completed handshake for the pair, on the connection the lower id dialed.
        expect(statOf(get(t, a), b)).toMatchObject({ connected: true, connections: 1, sockets: 1, dialedBy: Math.min(a, b) });
      }
    }
  });

  it('delivers everything sent in one turn as one frame, in order', async () => {
    const { t, box } = await mesh([1, 2]);
    get(t, 1).send([heartbeat(1, 2, 0)]);
    await get(box, 2).received(1);
    const batch = [1, 2, 3, 4, 5].map((c) => heartbeat(1, 2, c));
    get(t, 1).send(batch.slice(0, 3));
    get(t, 1).send(batch.slice(3));
    await get(box, 2).received(6);
    expect(get(box, 2).frames.slice(1)).toEqual([batch]);
  });

  it('round-trips entry data and snapshot chunks as Uint8Array', async () => {
    const { t, box } = await mesh([1, 2]);
    const app: Message = {
      type: 'app', from: 1, to: 2, term: 2, prevIndex: 0, prevTerm: 0, commit: 0,
      entries: [
        { term: 2, index: 1, kind: 'normal', data: new Uint8Array([0, 1, 2, 255]) },
        { term: 2, index: 2, kind: 'noop', data: new Uint8Array(0) },
      ],
    };
    const snap: Message = {
      type: 'snap', from: 1, to: 2, term: 2, offset: 3, totalBytes: 6, chunk: new Uint8Array([7, 8, 9]),
      meta: { index: 9, term: 2, conf: { voters: [1, 2], learners: [] } },
    };
    get(t, 1).send([app, snap]);
    const [gotApp, gotSnap] = await get(box, 2).received(2);
    expect(gotApp).toEqual(app);
    expect(gotSnap).toEqual(snap);
    if (gotApp?.type !== 'app' || gotSnap?.type !== 'snap') throw new Error('wrong types');
    expect(gotApp.entries.map((e) => e.data.constructor)).toEqual([Uint8Array, Uint8Array]);
    expect(gotSnap.chunk.constructor).toBe(Uint8Array);
  });

  it('dials peers by host name, and keeps retrying one whose name does not resolve (yet)', async () => {
    // docker compose addresses peers by service name, and a service's name resolves only while its
    // container exists: an unresolvable name must be a connection failure like any other.
    const logs1 = capturedLogs();
    const box2 = inbox();
    const t2 = await start({ selfId: 2, peers: new Map(), onMessages: box2.onMessages });
    const t1 = await start({
      selfId: 1,
      peers: new Map([
        [2, { host: 'localhost', port: t2.address.port }],
        [3, { host: 'vigil-peer-3.invalid', port: t2.address.port }],
      ]),
      logger: logs1.logger,
    });
    t2.setPeers(new Map([[1, t1.address]]));
    t1.send([heartbeat(1, 2, 7), heartbeat(1, 3)]);
    expect(await box2.received(1)).toEqual([heartbeat(1, 2, 7)]);
    await logs1.waitFor((l) => l.msg === 'peer reconnect scheduled' && l.peer === 3 && (l.attempt as number) >= 2, 'a second dial of the unresolvable peer');
    expect(statOf(t1, 2)).toMatchObject({ connected: true });
    expect(statOf(t1, 3)).toMatchObject({ connected: false, connections: 0 });
  });

  it('refuses a node of another cluster, which backs off and never delivers', async () => {
    const logs1 = capturedLogs();
    const logs2 = capturedLogs();
    const box2 = inbox();
    const t2 = await start({ selfId: 2, peers: new Map([[1, nowhere]]), logger: logs2.logger, onMessages: box2.onMessages });
    const t1 = await start({ selfId: 1, clusterId: 'other-cluster', peers: new Map([[2, t2.address]]), logger: logs1.logger });
    t1.send([heartbeat(1, 2)]);
    // Either ends the wait: the message delivered, or a second dial refused after a backoff (had
    // either dial been admitted, the queued message would have gone out on it).
    const secondBackoff = (l: LogLine): boolean => l.msg === 'peer reconnect scheduled' && (l.attempt as number) >= 2;
    await until(() => box2.frames.length > 0 || logs1.lines.some(secondBackoff), 'a delivery or a second refused dial');
    expect(box2.frames).toEqual([]);
    const refused = await logs1.waitFor((l) => l.msg === 'peer refused', 'the dialer to log the refusal');
    expect(refused).toMatchObject({ component: 'transport', peer: 2, code: peerCloseCodes.clusterIdMismatch, reason: 'cluster id mismatch' });
    await logs2.waitFor((l) => l.msg === 'peer refused' && l.reason === 'cluster id mismatch', 'the acceptor to log the refusal');
    expect(statOf(t1, 2)).toMatchObject({ connected: false, connections: 0, queuedMessages: 1 });
    expect(statOf(t2, 1)).toMatchObject({ connected: false, connections: 0 });
  });

  it('refuses an unknown member, and a member once it is removed', async () => {
    const logs1 = capturedLogs();
    const box3 = inbox();
    const t3 = await start({ selfId: 3, peers: new Map([[2, nowhere]]), onMessages: box3.onMessages });
    const t1 = await start({ selfId: 1, peers: new Map([[3, t3.address]]), logger: logs1.logger });
    const refused = await logs1.waitFor((l) => l.msg === 'peer refused', 'the refusal');
    expect(refused).toMatchObject({ peer: 3, code: peerCloseCodes.unknownMember, reason: 'unknown member' });
    expect(statOf(t1, 3).connected).toBe(false);

    // Admit 1, talk, then remove it again: the live connection is closed and redials are refused.
    t3.setPeers(new Map([[1, t1.address], [2, nowhere]]));
    t1.send([heartbeat(1, 3, 1)]);
    await box3.received(1);
    t3.setPeers(new Map([[2, nowhere]]));
    // Sent in the same turn: on its way while the connection closes, and not delivered either.
    t1.send([heartbeat(1, 3, 2)]);
    // Node 1 sees the close only after node 3 has read everything sent before it.
    const isRemoval = (l: LogLine): boolean => l.msg === 'peer disconnected' && l.code === peerCloseCodes.memberRemoved;
    await until(() => box3.messages().length > 1 || logs1.lines.some(isRemoval), 'the removal, or a delivery');
    expect(box3.messages()).toEqual([heartbeat(1, 3, 1)]);
    const mark = logs1.lines.findIndex(isRemoval);
    // Queued now, for redials that are refused: a redial that got through would flush it.
    t1.send([heartbeat(1, 3, 3)]);
    const sentAt = logs1.lines.length;
    const refusedRedial = (l: LogLine): boolean => l.msg === 'peer refused' && l.reason === 'unknown member' && logs1.lines.indexOf(l) > mark;
    await until(() => box3.messages().length > 1 || logs1.lines.slice(sentAt).some(refusedRedial), 'a refused redial, or a delivery');
    expect(box3.messages()).toEqual([heartbeat(1, 3, 1)]);
    expect(t3.stats().map((s) => s.peer)).toEqual([2]);
  });

  it('reconnects to an acceptor that restarts on the same port and flushes what was queued', async () => {
    const logs = capturedLogs();
    const { t, box } = await mesh([1, 2], { logger: logs.logger });
    get(t, 1).send([heartbeat(1, 2, 1)]);
    await get(box, 2).received(1);
    const port = get(t, 2).address.port;
    await get(t, 2).close();
    // Only node 1 logs about peer 2.
    await logs.waitFor((l) => l.msg === 'peer disconnected' && l.peer === 2, 'the dialer to notice');
    get(t, 1).send([heartbeat(1, 2, 2), heartbeat(1, 2, 3)]);
    expect(statOf(get(t, 1), 2)).toMatchObject({ connected: false, queuedMessages: 2 });
    const box2 = inbox();
    await start({ selfId: 2, listen: { host: '127.0.0.1', port }, peers: new Map([[1, get(t, 1).address]]), onMessages: box2.onMessages });
    expect(await box2.received(2)).toEqual([heartbeat(1, 2, 2), heartbeat(1, 2, 3)]);
    expect(statOf(get(t, 1), 2)).toMatchObject({ connected: true, connections: 2, queuedMessages: 0 });
  });

  it('keeps messages for a dialer that restarts and flushes them when it is back', async () => {
    const { t, box } = await mesh([1, 2]);
    get(t, 1).send([heartbeat(1, 2)]);
    await get(box, 2).received(1);
    const t2 = get(t, 2);
    const unreachable: NodeId[] = [];
    await get(t, 1).close();
    t2.send([heartbeat(2, 1, 7)]);
    const box1 = inbox();
    await start({ selfId: 1, peers: new Map([[2, t2.address]]), onMessages: box1.onMessages, onPeerUnreachable: (p) => unreachable.push(p) });
    expect(await box1.received(1)).toEqual([heartbeat(2, 1, 7)]);
    expect(statOf(t2, 1)).toMatchObject({ connected: true, connections: 2, queuedMessages: 0 });
    expect(unreachable).toEqual([]);
  });

  it('bounds the queue of an unreachable peer by messages (the short disconnected bound) and reports the drops', async () => {
    const unreachable: NodeId[] = [];
    const t1 = await start({ selfId: 1, peers: new Map([[2, nowhere]]), sendQueueMessagesMax: 100, disconnectedQueueMessagesMax: 8, onPeerUnreachable: (p) => unreachable.push(p) });
    t1.send(Array.from({ length: 20 }, (_, i) => heartbeat(1, 2, i)));
    expect(statOf(t1, 2)).toMatchObject({ connected: false, queuedMessages: 8, droppedMessages: 12 });
    expect(unreachable).toEqual([2]);
    t1.send([heartbeat(1, 2)]);
    expect(statOf(t1, 2)).toMatchObject({ queuedMessages: 8, droppedMessages: 13 });
    expect(unreachable).toEqual([2, 2]);
  });

  it('bounds the queue of an unreachable peer by bytes', async () => {
    const sendQueueBytesMax = 16 * 1024;
    const t1 = await start({ selfId: 1, peers: new Map([[2, nowhere]]), sendQueueBytesMax });
    const big = (i: number): Message => ({
      type: 'app', from: 1, to: 2, term: 1, prevIndex: i, prevTerm: 1, commit: 0,
      entries: [{ term: 1, index: i + 1, kind: 'normal', data: new Uint8Array(3_000) }],
    });
    t1.send(Array.from({ length: 20 }, (_, i) => big(i)));
    const s = statOf(t1, 2);
    expect(s.queuedBytes).toBeLessThanOrEqual(sendQueueBytesMax);
    expect(s.queuedMessages).toBe(5);
    expect(s.droppedMessages).toBe(15);
  });

  it('bounds the queue of an unreachable peer by its own, smaller byte bound (a leader probing a dead follower)', async () => {
    const disconnectedQueueBytesMax = 16 * 1024;
    const t1 = await start({ selfId: 1, peers: new Map([[2, nowhere]]), disconnectedQueueBytesMax });
    const probe = (i: number): Message => ({
      type: 'app', from: 1, to: 2, term: 1, prevIndex: i, prevTerm: 1, commit: 0,
      entries: [{ term: 1, index: i + 1, kind: 'normal', data: new Uint8Array(3_000) }],
    });
    t1.send(Array.from({ length: 20 }, (_, i) => probe(i)));
    const s = statOf(t1, 2);
    expect(s.queuedBytes).toBeLessThanOrEqual(disconnectedQueueBytesMax);
    expect(s.queuedMessages).toBe(5);
    expect(s.droppedMessages).toBe(15);
  });

  it('keeps messages queued (and then drops them) rather than piling onto a socket that does not drain', async () => {
    const sendQueueBytesMax = 2 * 1024 * 1024;
    const unreachable: NodeId[] = [];
    const target = await start({
      selfId: 10, peers: new Map([[2, nowhere]]), socketBufferedBytesMax: 256 * 1024, sendQueueBytesMax, closeTimeoutMs: 100,
      onPeerUnreachable: (p) => unreachable.push(p),
    });
    const slow = await rawClient(target.address);
    slow.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 10 }));
    await slow.nextFrame();
    // Stop reading: the kernel buffers fill, then ws's bufferedAmount grows.
    const rawSocket = (slow.ws as unknown as { _socket: { pause: () => void; resume: () => void } })._socket;
    rawSocket.pause();
    const chunk = new Uint8Array(64 * 1024);
    const app = (i: number): Message => ({
      type: 'app', from: 10, to: 2, term: 1, prevIndex: i, prevTerm: 1, commit: 0,
      entries: [{ term: 1, index: i + 1, kind: 'normal', data: chunk }],
    });
    // Bounded: at most 64 MiB offered in total, one turn at a time.
    for (let turn = 0; turn < 64 && statOf(target, 2).droppedMessages === 0; turn += 1) {
      target.send(Array.from({ length: 16 }, (_, i) => app(turn * 16 + i)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const s = statOf(target, 2);
    expect(s.connected).toBe(true);
    expect(s.droppedMessages).toBeGreaterThan(0);
    expect(s.queuedBytes).toBeLessThanOrEqual(sendQueueBytesMax);
    expect(s.queuedMessages).toBeGreaterThan(0);
    expect(unreachable[0]).toBe(2);
    // A peer that never reads cannot hold close() up beyond its deadline.
    await within(target.close(), 'close with a stuck peer');
    rawSocket.resume();
    expect((await within(slow.closed, 'the stuck socket to be terminated')).code).toBe(1006);
  });

  it('splits a backlog larger than a frame into several frames, in order, and drops a message larger than a frame', async () => {
    const frameBytesMax = 64 * 1024;
    const unreachable: NodeId[] = [];
    const { t, box } = await mesh([1, 2], { frameBytesMax, onPeerUnreachable: (p) => unreachable.push(p) });
    const entry = (i: number, bytes: number): Message => ({
      type: 'app', from: 1, to: 2, term: 1, prevIndex: i, prevTerm: 1, commit: 0,
      entries: [{ term: 1, index: i + 1, kind: 'normal', data: new Uint8Array(bytes).fill(i) }],
    });
    get(t, 1).send([heartbeat(1, 2)]);
    await get(box, 2).received(1);
    const backlog = Array.from({ length: 10 }, (_, i) => entry(i, 20_000));
    get(t, 1).send([...backlog.slice(0, 5), entry(99, frameBytesMax), ...backlog.slice(5)]);
    const got = await get(box, 2).received(11);
    // Compared as hex: vitest's element-wise typed-array equality is slow on 200 kB.
    const digest = (ms: Message[]): string[] => ms.map((m) => (m.type === 'app' ? `${m.prevIndex}:${Buffer.from(m.entries[0]?.data ?? []).toString('hex')}` : m.type));
    expect(digest(got.slice(1))).toEqual(digest(backlog));
    expect(get(box, 2).frames.length).toBeGreaterThan(2);
    expect(statOf(get(t, 1), 2)).toMatchObject({ droppedMessages: 1, queuedMessages: 0 });
    expect(unreachable).toEqual([2]);
  });

  it('closes a connection that sends garbage before or after its handshake, and keeps serving the others', async () => {
    const logs = capturedLogs();
    const boxA = inbox();
    const boxT = inbox();
    const target = await start({ selfId: 10, peers: new Map([[2, nowhere]]), onMessages: boxT.onMessages, logger: logs.logger });
    const a = await start({ selfId: 1, peers: new Map([[10, target.address]]), onMessages: boxA.onMessages });
    target.setPeers(new Map([[1, a.address], [2, nowhere]]));
    a.send([heartbeat(1, 10, 1)]);
    await boxT.received(1);

    // Before the handshake: garbage as the first frame.
    const early = await rawClient(target.address);
    early.ws.send(Buffer.from([0xc1, 0xff, 0x00]));
    expect(await within(early.closed, 'the early close')).toEqual({ code: peerCloseCodes.invalidFrame, reason: 'invalid frame' });

    // After a valid handshake as member 2: a valid frame is delivered, then garbage closes it.
    const late = await rawClient(target.address);
    late.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 10 }));
    expect(unpackr.unpack(await late.nextFrame())).toEqual({ kind: 'welcome' });
    late.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(2, 10, 2)] }));
    expect(await boxT.received(2)).toEqual([heartbeat(1, 10, 1), heartbeat(2, 10, 2)]);
    late.ws.send(Buffer.from('not msgpack at all'));
    expect(await within(late.closed, 'the late close')).toEqual({ code: peerCloseCodes.invalidFrame, reason: 'invalid frame' });
    await logs.waitFor((l) => l.msg === 'invalid frame' && l.peer === 2, 'the warning');

    // A well-formed frame whose message claims another sender is refused the same way.
    const forger = await rawClient(target.address);
    forger.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 10 }));
    await forger.nextFrame();
    forger.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(1, 10, 3)] }));
    expect((await within(forger.closed, 'the forger close')).code).toBe(peerCloseCodes.invalidFrame);

    // The real peer kept its one connection, both ways.
    a.send([heartbeat(1, 10, 4)]);
    target.send([heartbeat(10, 1, 5)]);
    expect((await boxT.received(3))[2]).toEqual(heartbeat(1, 10, 4));
    expect(await boxA.received(1)).toEqual([heartbeat(10, 1, 5)]);
    expect(statOf(target, 1)).toMatchObject({ connected: true, connections: 1 });
    expect(boxT.messages()).toHaveLength(3);
  });

  it('closes a connection that does not complete its handshake in time', async () => {
    const target = await start({ selfId: 10, peers: new Map([[2, nowhere]]), handshakeTimeoutMs: 100 });
    const silent = await rawClient(target.address);
    expect(await within(silent.closed, 'the handshake deadline')).toEqual({ code: peerCloseCodes.handshakeTimeout, reason: 'handshake timeout' });
  });

  it('accepts a dial from a higher id it knows, and talks over it both ways', async () => {
    const box = inbox();
    const target = await start({ selfId: 2, peers: new Map([[5, nowhere]]), onMessages: box.onMessages });
    const higher = await rawClient(target.address);
    higher.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 5, to: 2 }));
    expect(unpackr.unpack(await higher.nextFrame())).toEqual({ kind: 'welcome' });
    higher.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(5, 2, 1)] }));
    expect(await box.received(1)).toEqual([heartbeat(5, 2, 1)]);
    target.send([heartbeat(2, 5, 2)]);
    expect(unpackr.unpack(await higher.nextFrame())).toEqual({ kind: 'msgs', msgs: [heartbeat(2, 5, 2)] });
    expect(statOf(target, 5)).toMatchObject({ connected: true, dialedBy: 5, listed: true, connections: 1 });
    higher.ws.close();
  });

  it('refuses a second dial from the higher id while the connection the lower id dialed is up', async () => {
    const logs = capturedLogs();
    const { t, box } = await mesh([1, 4], { logger: logs.logger });
    get(t, 1).send([heartbeat(1, 4, 1)]);
    await get(box, 4).received(1);
    const crossed = await rawClient(get(t, 1).address);
    crossed.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 4, to: 1 }));
    expect(await within(crossed.closed, 'the refusal')).toEqual({ code: peerCloseCodes.duplicateConnection, reason: 'duplicate connection' });
    expect(statOf(get(t, 1), 4)).toMatchObject({ connected: true, dialedBy: 1, connections: 1, sockets: 1 });
    // The lower id's own redial is a newer connection in the same direction: it replaces the old one.
    const redial = await rawClient(get(t, 4).address);
    redial.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 1, to: 4 }));
    expect(unpackr.unpack(await redial.nextFrame())).toEqual({ kind: 'welcome' });
    await logs.waitFor((l) => l.msg === 'peer connection replaced' && l.peer === 1, 'the replacement');
    // Node 1 sees its connection replaced, dials again, and that newer one replaces the raw one.
    expect(await within(redial.closed, 'the raw redial to be replaced')).toEqual({ code: peerCloseCodes.replaced, reason: 'replaced' });
    get(t, 1).send([heartbeat(1, 4, 2)]);
    expect((await get(box, 4).received(2))[1]).toEqual(heartbeat(1, 4, 2));
    expect(statOf(get(t, 4), 1)).toMatchObject({ connected: true, dialedBy: 1, connections: 3 });
  });

  it('reaches a lagging lower id that does not know it yet by a reverse dial, which it admits', async () => {
    const logs = capturedLogs();
    const box1 = inbox();
    const box4 = inbox();
    const asked: NodeId[] = [];
    // Node 1 has not learned about member 4 yet; it admits any member it has not seen removed.
    const t1 = await start({
      selfId: 1, peers: new Map([[2, nowhere]]), onMessages: box1.onMessages, logger: logs.logger.child({ node: 1 }),
      acceptPeer: (id) => {
        asked.push(id);
        return true;
      },
    });
    const t4 = await start({
      selfId: 4, peers: new Map([[1, t1.address]]), reverseDialDelayMs: 100, onMessages: box4.onMessages, logger: logs.logger.child({ node: 4 }),
    });
    t4.send([heartbeat(4, 1, 1)]);
    const scheduled = await logs.waitFor((l) => l.node === 4 && l.msg === 'peer reconnect scheduled' && l.peer === 1, 'the reverse dial to be scheduled');
    expect(scheduled).toMatchObject({ reverse: true, attempt: 0 });
    expect(scheduled.delayMs).toBeGreaterThan(50);
    expect(await box1.received(1)).toEqual([heartbeat(4, 1, 1)]);
    expect(asked).toEqual([4]);
    // Node 1 can answer over the connection node 4 opened, although it has no address for 4.
    t1.send([heartbeat(1, 4, 2)]);
    expect(await box4.received(1)).toEqual([heartbeat(1, 4, 2)]);
    expect(statOf(t1, 4)).toMatchObject({ connected: true, dialedBy: 4, listed: false, connections: 1, sockets: 1 });
    expect(statOf(t4, 1)).toMatchObject({ connected: true, dialedBy: 4, listed: true, connections: 1, sockets: 1 });
    expect(t1.stats().map((x) => x.peer).sort()).toEqual([2, 4]);

    // Once node 1 learns about member 4 it keeps the working connection instead of dialing another.
    t1.setPeers(new Map([[2, nowhere], [4, t4.address]]));
    t1.send([heartbeat(1, 4, 3)]);
    t4.send([heartbeat(4, 1, 4)]);
    expect((await box4.received(2))[1]).toEqual(heartbeat(1, 4, 3));
    expect((await box1.received(2))[1]).toEqual(heartbeat(4, 1, 4));
    expect(statOf(t1, 4)).toMatchObject({ connected: true, dialedBy: 4, listed: true, connections: 1, sockets: 1 });
  });

  it('keeps refusing a higher id that acceptPeer turns away (a removed member)', async () => {
    const logs = capturedLogs();
    const box1 = inbox();
    const removed = new Set<NodeId>([4]);
    const t1 = await start({ selfId: 1, peers: new Map(), onMessages: box1.onMessages, acceptPeer: (id) => !removed.has(id) });
    const t4 = await start({ selfId: 4, peers: new Map([[1, t1.address]]), reverseDialDelayMs: 100, logger: logs.logger });
    t4.send([heartbeat(4, 1)]);
    // Either ends the wait: the message delivered, or a second dial refused after a backoff.
    const secondBackoff = (l: LogLine): boolean => l.msg === 'peer reconnect scheduled' && (l.attempt as number) >= 2;
    await until(() => box1.frames.length > 0 || logs.lines.some(secondBackoff), 'a delivery or a second refusal and backoff');
    expect(box1.frames).toEqual([]);
    const refused = await logs.waitFor((l) => l.msg === 'peer refused', 'the refusal');
    expect(refused).toMatchObject({ peer: 1, code: peerCloseCodes.unknownMember, reason: 'unknown member' });
    expect(t1.stats()).toEqual([]);
    expect(statOf(t4, 1)).toMatchObject({ connected: false, connections: 0, queuedMessages: 1 });
  });

  it('closes and then refuses an admitted peer once acceptPeer turns it away', async () => {
    const logs = capturedLogs();
    const box1 = inbox();
    const removed = new Set<NodeId>();
    const t1 = await start({ selfId: 1, peers: new Map(), onMessages: box1.onMessages, acceptPeer: (id) => !removed.has(id) });
    const t4 = await start({ selfId: 4, peers: new Map([[1, t1.address]]), reverseDialDelayMs: 50, logger: logs.logger });
    t4.send([heartbeat(4, 1, 1)]);
    await box1.received(1);
    // The node learns that member 4 was removed, and tells the transport through setPeers.
    removed.add(4);
    t1.setPeers(new Map());
    // Sent in the same turn: on its way while the connection closes, and not delivered either.
    t4.send([heartbeat(4, 1, 2)]);
    const isRemoval = (l: LogLine): boolean => l.msg === 'peer disconnected' && l.code === peerCloseCodes.memberRemoved;
    await until(() => box1.messages().length > 1 || logs.lines.some(isRemoval), 'the removal, or a delivery');
    expect(box1.messages()).toEqual([heartbeat(4, 1, 1)]);
    const mark = logs.lines.findIndex(isRemoval);
    // Queued now, for redials that are refused: a redial that got through would flush it.
    t4.send([heartbeat(4, 1, 3)]);
    const sentAt = logs.lines.length;
    const refusedRedial = (l: LogLine): boolean => l.msg === 'peer refused' && l.reason === 'unknown member' && logs.lines.indexOf(l) > mark;
    await until(() => box1.messages().length > 1 || logs.lines.slice(sentAt).some(refusedRedial), 'a refused redial, or a delivery');
    expect(box1.messages()).toEqual([heartbeat(4, 1, 1)]);
    expect(t1.stats()).toEqual([]);
  });

  it('resolves crossed dials to the one connection the lower id dialed, on both sides, losing no message', async () => {
    const logs = capturedLogs();
    const box1 = inbox();
    const box4 = inbox();
    // reverseDialDelayMs 0: the higher id dials at once too, so both dials are in flight together.
    const t1 = await start({ selfId: 1, peers: new Map(), reverseDialDelayMs: 0, onMessages: box1.onMessages, logger: logs.logger.child({ node: 1 }) });
    const t4 = await start({ selfId: 4, peers: new Map(), reverseDialDelayMs: 0, onMessages: box4.onMessages, logger: logs.logger.child({ node: 4 }) });
    const settled = (t: PeerTransport, peer: NodeId): boolean => {
      const s = statOf(t, peer);
      return s.connected && s.dialedBy === 1 && s.sockets === 1;
    };
    const converged = (): boolean => settled(t1, 4) && settled(t4, 1);
    const sent1: number[] = [];
    const sent4: number[] = [];
    let commit = 0;
    const sendBoth = (): void => {
      commit += 1;
      t1.send([heartbeat(1, 4, commit)]);
      sent1.push(commit);
      t4.send([heartbeat(4, 1, commit)]);
      sent4.push(commit);
    };
    // Introduced in the same turn: neither can have accepted the other's dial before dialing.
    t1.setPeers(new Map([[4, t4.address]]));
    t4.setPeers(new Map([[1, t1.address]]));
    sendBoth();
    // Keep sending, one turn at a time, while the race is being decided (bounded).
    for (let turn = 0; turn < 10_000 && !converged(); turn += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      if (turn % 10 === 0) sendBoth();
    }
    await logs.waitFor(() => converged(), 'both sides to settle on the connection node 1 dialed');
    // Node 4's own dial was the duplicate: refused, or closed once both had completed.
    await logs.waitFor(
      (l) => l.node === 4 && l.msg === 'peer connection closed' && l.dialedBy === 4 && l.code === peerCloseCodes.duplicateConnection,
      'node 4 to see its dial closed as a duplicate',
    );
    sendBoth();
    const commits = (ms: Message[]): number[] => ms.map((m) => (m.type === 'heartbeat' ? m.commit : -1)).sort((a, b) => a - b);
    expect(commits(await box4.received(sent1.length))).toEqual(sent1);
    expect(commits(await box1.received(sent4.length))).toEqual(sent4);
    expect(converged()).toBe(true);
    for (const [t, peer] of [[t1, 4], [t4, 1]] as const) {
      expect(statOf(t, peer)).toMatchObject({ connected: true, dialedBy: 1, sockets: 1, queuedMessages: 0, droppedMessages: 0 });
    }
  });

  it('terminates a connection whose pings go unanswered', async () => {
    const logs = capturedLogs();
    const target = await start({ selfId: 10, peers: new Map([[2, nowhere]]), keepaliveIntervalMs: 50, logger: logs.logger });
    const mute = await rawClient(target.address); // autoPong is off
    mute.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 10 }));
    await mute.nextFrame();
    await logs.waitFor((l) => l.msg === 'peer keepalive timeout' && l.peer === 2, 'the keepalive timeout');
    expect((await within(mute.closed, 'the termination')).code).toBe(1006);
    await logs.waitFor((l) => l.msg === 'peer disconnected' && l.peer === 2, 'the server side to notice');
    expect(statOf(target, 2).connected).toBe(false);
  });

  it('replaces an older connection from the same peer with the newer one', async () => {
    const box = inbox();
    const target = await start({ selfId: 10, peers: new Map([[2, nowhere]]), onMessages: box.onMessages });
    const first = await rawClient(target.address);
    first.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 10 }));
    await first.nextFrame();
    const second = await rawClient(target.address);
    second.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 10 }));
    await second.nextFrame();
    expect(await within(first.closed, 'the old connection to close')).toEqual({ code: peerCloseCodes.replaced, reason: 'replaced' });
    second.ws.send(encodePeerFrame({ kind: 'msgs', msgs: [heartbeat(2, 10, 1)] }));
    expect(await box.received(1)).toEqual([heartbeat(2, 10, 1)]);
    expect(statOf(target, 2)).toMatchObject({ connected: true, connections: 2 });
    second.ws.close();
  });

  it('drops and logs messages to unknown peers without throwing', async () => {
    const logs = capturedLogs();
    const t1 = await start({ selfId: 1, peers: new Map([[2, nowhere]]), logger: logs.logger });
    expect(() => t1.send([heartbeat(1, 7), heartbeat(1, 2)])).not.toThrow();
    expect(await logs.waitFor((l) => l.msg === 'messages to unknown peers dropped', 'the log')).toMatchObject({ peers: [7], count: 1 });
    expect(statOf(t1, 2).queuedMessages).toBe(1);
  });

  it('rejects invalid options', async () => {
    await expect(PeerTransport.start({ selfId: 0, clusterId, listen: { host: '127.0.0.1', port: 0 }, peers: new Map(), onMessages: () => undefined }))
      .rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(PeerTransport.start({ selfId: 1, clusterId, listen: { host: '127.0.0.1', port: 0 }, peers: new Map(), onMessages: () => undefined, sendQueueMessagesMax: -1 }))
      .rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('close() is idempotent and releases every socket and timer', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
    const { t, box } = await mesh([1, 2, 3]);
    get(t, 1).send([heartbeat(1, 3)]);
    await get(box, 3).received(1);
    const first = get(t, 1).close();
    expect(get(t, 1).close()).toBe(first);
    await Promise.all([first, get(t, 2).close(), get(t, 3).close()]);
    await get(t, 1).close();
    expect(() => get(t, 1).send([heartbeat(1, 2)])).not.toThrow();
    expect(process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length).toBe(before);
  });

  it('lets the process exit once closed (no open handles)', async () => {
    const module = fileURLToPath(new URL('../src/transport/peer-transport.ts', import.meta.url));
    const script = `
      const { PeerTransport } = await import(${JSON.stringify(module)});
      const listen = { host: '127.0.0.1', port: 0 };
      let delivered;
      const got = new Promise((resolve) => { delivered = resolve; });
      const b = await PeerTransport.start({ selfId: 2, clusterId: 'c', listen, peers: new Map(), onMessages: delivered });
      const a = await PeerTransport.start({ selfId: 1, clusterId: 'c', listen, peers: new Map([[2, b.address]]), onMessages: () => {} });
      b.setPeers(new Map([[1, a.address]]));
      a.send([{ type: 'timeoutNow', from: 1, to: 2, term: 1 }]);
      await got;
      await Promise.all([a.close(), b.close(), a.close()]);
      process.stdout.write('closed');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await within(new Promise<number | null>((resolve) => child.on('exit', resolve)), 'the child to exit', 20_000)
      .finally(() => child.kill('SIGKILL'));
    expect(out).toBe('closed');
    expect(code).toBe(0);
  });
});

describe('peer transport: a peer that comes back', () => {
  it('forgets the backoff once the peer is connected, whichever side dialed, and says so', async () => {
    const logs = capturedLogs();
    const connected: NodeId[] = [];
    // Member 2's address is unusable: every dial of 1 fails and the backoff grows.
    const t1 = await start({ selfId: 1, peers: new Map([[2, nowhere]]), logger: logs.logger, onPeerConnected: (p) => connected.push(p) });
    await logs.waitFor((l) => l.msg === 'peer reconnect scheduled' && (l.attempt as number) >= 3, 'failed dials to pile up');
    // 2 dials in, and is adopted.
    const t2 = await start({ selfId: 2, peers: new Map([[1, t1.address]]), reverseDialDelayMs: 0 });
    await logs.waitFor((l) => l.msg === 'peer connected' && l.peer === 2, 'the connection from 2');
    expect(connected).toEqual([2]);
    await t2.close();
    const lost = await logs.waitFor((l) => l.msg === 'peer disconnected' && l.peer === 2, 'the loss');
    const next = await logs.waitFor((l) => l.msg === 'peer reconnect scheduled' && logs.lines.indexOf(l) > logs.lines.indexOf(lost), 'the redial');
    expect(next).toMatchObject({ attempt: 0, refused: false });
  });

  it('asks a peer that refused it for who it is at the slower pace', async () => {
    const logs = capturedLogs();
    const t1 = await start({ selfId: 1, peers: new Map() }); // no acceptPeer: 4 is an unknown member
    await start({ selfId: 4, peers: new Map([[1, t1.address]]), reverseDialDelayMs: 0, logger: logs.logger });
    const refused = await logs.waitFor((l) => l.msg === 'peer refused' && l.code === peerCloseCodes.unknownMember, 'the refusal');
    const next = await logs.waitFor((l) => l.msg === 'peer reconnect scheduled' && logs.lines.indexOf(l) > logs.lines.indexOf(refused), 'the redial');
    expect(next).toMatchObject({ refused: true });
  });

  it('keeps its connections through a stall of its own process (the silence was not the peer\'s)', async () => {
    const logs = capturedLogs();
    const intervalMs = 50;
    const target = await start({ selfId: 10, peers: new Map([[2, nowhere]]), keepaliveIntervalMs: intervalMs, logger: logs.logger });
    const peer = await rawClient(target.address); // answers pings only as told below
    peer.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 10 }));
    await peer.nextFrame();
    let pings = 0;
    const pinged = new Promise<void>((resolve) => {
      peer.ws.on('ping', () => {
        pings += 1;
        // The first ping goes unanswered (a slow peer), so the target's next round is its last
        // chance; this answers that one.
        if (pings >= 2) peer.ws.pong();
        if (pings === 2) {
          // The pong is on its way, then this whole process stops for four intervals (a GC pause,
          // SIGSTOP): when it runs again, its keepalive round comes before it reads that pong.
          const until = performance.now() + 4 * intervalMs;
          while (performance.now() < until) { /* stalled */ }
        }
        if (pings === 5) resolve();
      });
    });
    await within(pinged, 'three more keepalive rounds');
    expect(logs.lines.filter((l) => l.msg === 'peer keepalive timeout')).toEqual([]);
    expect(statOf(target, 2)).toMatchObject({ connected: true, connections: 1 });
    peer.ws.close();
  });

  it('drops its own connection when it has been silent since a ping and the peer dials in (half-open)', async () => {
    const logs = capturedLogs();
    // Member 2, played by hand: it welcomes every hello, then never answers a ping.
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/raft', autoPong: false });
    let hellos = 0;
    let pinged!: () => void;
    const firstPing = new Promise<void>((resolve) => { pinged = resolve; });
    const secondHello = new Promise<void>((resolve) => {
      server.on('connection', (ws) => {
        ws.on('ping', () => pinged());
        ws.on('message', () => {
          hellos += 1;
          ws.send(encodePeerFrame({ kind: 'welcome' }));
          if (hellos === 2) resolve();
        });
      });
    });
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const t1 = await start({ selfId: 1, peers: new Map([[2, { host: '127.0.0.1', port }]]), keepaliveIntervalMs: 1_000, logger: logs.logger });
      await logs.waitFor((l) => l.msg === 'peer connected' && l.peer === 2, 'the connection to 2');
      await within(firstPing, 'the first keepalive ping');
      // 2 dials in: it has no connection to 1, so the one 1 holds is half-open.
      const dialIn = await rawClient(t1.address);
      dialIn.ws.send(encodePeerFrame({ kind: 'hello', version: 1, clusterId, from: 2, to: 1 }));
      expect(await within(dialIn.closed, 'the refusal')).toEqual({ code: peerCloseCodes.duplicateConnection, reason: 'duplicate connection' });
      await logs.waitFor((l) => l.msg === 'silent peer connection dropped' && l.peer === 2, 'the silent connection to go');
      await within(secondHello, 'a fresh dial');
      expect(logs.lines.filter((l) => l.msg === 'peer keepalive timeout')).toEqual([]);
    } finally {
      for (const ws of server.clients) ws.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

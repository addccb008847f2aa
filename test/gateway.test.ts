import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { closeCodeOf, encodeFrame, frameBytesMax, dataBytesMax, type ServerFrame } from '@vigil/protocol';
import { TestCluster, waitFor } from './support/cluster.js';
import { RawClient } from './support/raw-client.js';
import { createPrng } from '@vigil/raft';

/**
 * The client gateway at the level of frames, against real server processes: handshakes and their
 * refusals, ordering of responses and events, bad input, history compaction and session expiry.
 * (The SDK's behaviour on top of this is in test/client.test.ts.)
 */

const historyEvents = 40;
let cluster: TestCluster;
const clients: RawClient[] = [];
const enc = new TextEncoder();

beforeAll(async () => {
  cluster = await TestCluster.start({ extraArgs: ['--watch-history-events', String(historyEvents)] });
  await cluster.leader();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster.close();
});

async function session(id: number, hello: Parameters<typeof RawClient.session>[1] = {}): Promise<Awaited<ReturnType<typeof RawClient.session>>> {
  const s = await RawClient.session(cluster.node(id).clientPort, hello);
  clients.push(s.client);
  return s;
}

async function followerId(): Promise<number> {
  const leader = await cluster.leader();
  return [1, 2, 3].find((id) => id !== leader) as number;
}

describe('handshake', () => {
  test('opens a session on a follower and resumes it on another member, caught up to lastRevision', async () => {
    const f = await followerId();
    const { client, welcome } = await session(f, { sessionTimeoutMs: 4_000 });
    expect(welcome).toMatchObject({ protocolVersion: 1, serverId: f, negotiatedTimeoutMs: 4_000, resumed: false });
    expect(welcome.secret.byteLength).toBe(16);
    client.send({ t: 'req', id: 1, op: 'create', path: '/hs', data: enc.encode('x'), mode: 'ephemeral' });
    const { response } = await client.response(1);
    expect(response).toMatchObject({ ok: true, op: 'create', path: '/hs' });
    client.close();

    const other = [1, 2, 3].find((id) => id !== f) as number;
    const resumed = await session(other, { session: { id: welcome.sessionId, secret: welcome.secret, lastRevision: response.revision } });
    expect(resumed.welcome).toMatchObject({ sessionId: welcome.sessionId, resumed: true, serverId: other, negotiatedTimeoutMs: 4_000 });
    expect(resumed.welcome.revision).toBeGreaterThanOrEqual(response.revision);
    resumed.client.send({ t: 'req', id: 1, op: 'get', path: '/hs', consistency: 'sequential' });
    expect((await resumed.client.response(1)).response).toMatchObject({ ok: true, stat: { ephemeralOwner: welcome.sessionId } });
    resumed.client.send({ t: 'req', id: 2, op: 'close' });
    expect((await resumed.client.response(2)).response).toMatchObject({ ok: true, op: 'close' });
    expect((await resumed.client.closedWith()).code).toBe(1000);
  });

  test('refuses a wrong secret, an unknown version, a request before hello and a missing subprotocol', async () => {
    const { welcome } = await session(1);
    const wrong = await RawClient.open(cluster.node(2).clientPort);
    clients.push(wrong);
    wrong.send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 5_000, session: { id: welcome.sessionId, secret: new Uint8Array(16), lastRevision: 0 } });
    const refused = await wrong.closedWith();
    expect(refused.code).toBe(closeCodeOf('SESSION_EXPIRED'));
    expect(refused.frames[0]).toMatchObject({ t: 'error', error: { name: 'SESSION_EXPIRED' } });

    const v2 = await RawClient.open(cluster.node(1).clientPort);
    clients.push(v2);
    v2.send({ t: 'hello', protocolVersion: 2, sessionTimeoutMs: 5_000 });
    expect((await v2.closedWith()).code).toBe(closeCodeOf('UNSUPPORTED_VERSION'));

    const early = await RawClient.open(cluster.node(1).clientPort);
    clients.push(early);
    early.send({ t: 'req', id: 1, op: 'ping' });
    expect((await early.closedWith()).code).toBe(closeCodeOf('PROTOCOL_VIOLATION'));

    await expect(RawClient.open(cluster.node(1).clientPort, 'not-vigil')).rejects.toThrow(/400/);
  });
});

describe('ordering', () => {
  test('answers pipelined requests in order, and every event precedes the responses that reflect it', async () => {
    const f = await followerId();
    const { client } = await session(f);
    client.send({ t: 'req', id: 1, op: 'watch', path: '/ord', mode: 'persistentRecursive' });
    expect((await client.response(1)).response).toMatchObject({ ok: true, watchId: 1 });
    const n = 60;
    client.send({ t: 'req', id: 2, op: 'create', path: '/ord', data: enc.encode(''), mode: 'persistent' });
    for (let i = 0; i < n; i++) {
      client.send({ t: 'req', id: 3 + 2 * i, op: 'create', path: `/ord/k${i}`, data: enc.encode(String(i)), mode: 'persistent' });
      client.send({ t: 'req', id: 4 + 2 * i, op: 'get', path: `/ord/k${i}`, consistency: i % 2 === 0 ? 'sequential' : 'linearizable' });
    }
    let eventRevision = 0;
    const seen: string[] = [];
    let expectId = 2;
    while (expectId < 3 + 2 * n) {
      const frame: ServerFrame = await client.next();
      if (frame.t === 'watch') {
        for (const e of frame.events) {
          expect(e.revision).toBeGreaterThan(eventRevision);
          eventRevision = e.revision;
          seen.push(e.path);
        }
        continue;
      }
      expect(frame).toMatchObject({ t: 'res', id: expectId, ok: true });
      if (frame.t !== 'res') throw new Error('unreachable');
      // Read-your-writes: each get sees the create before it.
      if (frame.ok && frame.op === 'get') expect(new TextDecoder().decode(frame.data)).toBe(String((expectId - 4) / 2));
      // Every change a response reflects was announced first.
      if (frame.op === 'create') expect(eventRevision).toBeGreaterThanOrEqual(frame.revision);
      expectId++;
    }
    expect(seen).toEqual(['/ord', ...Array.from({ length: n }, (_, i) => `/ord/k${i}`)]);
  });

  test('a one-shot watch fires once, before the response of the write that triggered it', async () => {
    const { client } = await session(await followerId());
    client.send({ t: 'req', id: 1, op: 'create', path: '/once', data: enc.encode('a'), mode: 'persistent' });
    client.send({ t: 'req', id: 2, op: 'get', path: '/once', watch: true });
    const got = (await client.response(2)).response;
    expect(got).toMatchObject({ ok: true, watchId: expect.any(Number) });
    const watchId = got.ok && got.op === 'get' ? got.watchId : -1;
    client.send({ t: 'req', id: 3, op: 'set', path: '/once', data: enc.encode('b') });
    client.send({ t: 'req', id: 4, op: 'set', path: '/once', data: enc.encode('c') });
    const { before } = await client.response(4);
    expect(before.filter((f) => f.t === 'watch')).toEqual([{ t: 'watch', watchId, events: [{ path: '/once', kind: 'dataChanged', revision: expect.any(Number) }] }]);
    const set3 = before.find((f) => f.t === 'res' && f.id === 3);
    expect(before.indexOf(before.find((f) => f.t === 'watch') as ServerFrame)).toBeLessThan(before.indexOf(set3 as ServerFrame));
  });
});

describe('session order with pipelined writes (decision 42)', () => {
  test('each read between two pipelined sequenced writes sees the first and not the second, on the leader and on a follower', async () => {
    const leader = await cluster.leader();
    for (const id of [leader, await followerId()]) {
      const { client } = await session(id);
      const path = `/between-${id}`;
      client.send({ t: 'req', id: 1, op: 'create', path, data: enc.encode('0'), mode: 'persistent' });
      expect((await client.response(1)).response).toMatchObject({ ok: true });
      let reqId = 2;
      let seq = 1;
      for (let round = 0; round < 4; round++) {
        // A window of sets (within sessionWritesInFlightMax), each followed by reads of every kind.
        const seqFloor = seq;
        const firstId = reqId;
        const reads = new Map<number, number>();
        for (let i = 0; i < 40; i++, seq++) {
          client.send({ t: 'req', id: reqId++, op: 'set', path, data: enc.encode(String(seq)), seq, seqFloor });
          const kind = (i + round) % 4;
          if (kind === 0) client.send({ t: 'req', id: reqId, op: 'get', path, consistency: 'sequential' });
          if (kind === 1) client.send({ t: 'req', id: reqId, op: 'get', path });
          if (kind === 2) client.send({ t: 'req', id: reqId, op: 'exists', path });
          if (kind === 3) client.send({ t: 'req', id: reqId, op: 'exists', path, consistency: 'sequential' });
          reads.set(reqId++, seq);
        }
        const { response: last, before } = await client.response(reqId - 1);
        const answers = [...before.filter((f): f is Extract<ServerFrame, { t: 'res' }> => f.t === 'res'), last];
        let sets = 0;
        let revision = 0;
        for (const a of answers) {
          expect(a).toMatchObject({ ok: true });
          if (!a.ok) continue;
          // Answers leave in order, at revisions that never go back.
          expect(a.revision).toBeGreaterThanOrEqual(revision);
          revision = a.revision;
          const wrote = reads.get(a.id);
          if (wrote === undefined) {
            sets++;
            continue;
          }
          // The set just before this read, and none after it: data and version agree.
          if (a.op === 'get') expect(new TextDecoder().decode(a.data)).toBe(String(wrote));
          if (a.op === 'get' || a.op === 'exists') expect(a.stat?.version).toBe(wrote);
        }
        expect(sets).toBe(40);
        // Every request answered once, in the order sent.
        expect(answers.map((a) => a.id)).toEqual(Array.from({ length: reqId - firstId }, (_, k) => firstId + k));
      }
      client.close();
    }
  });
});

describe('linearizable reads with pipelined writes (decision 42)', () => {
  test("a linearizable read sent just before its session's next write, on a follower, sees every write acknowledged elsewhere before it was sent", async () => {
    const f = await followerId();
    const { client: reader } = await session(f);
    const { client: writer } = await session(await cluster.leader());
    writer.send({ t: 'req', id: 1, op: 'create', path: '/elsewhere', data: enc.encode('0'), mode: 'persistent' });
    expect((await writer.response(1)).response).toMatchObject({ ok: true });
    reader.send({ t: 'req', id: 1, op: 'create', path: '/mine', data: enc.encode(''), mode: 'persistent' });
    expect((await reader.response(1)).response).toMatchObject({ ok: true });
    for (let i = 1; i <= 30; i++) {
      writer.send({ t: 'req', id: 1 + i, op: 'set', path: '/elsewhere', data: enc.encode(String(i)) });
      expect((await writer.response(1 + i)).response).toMatchObject({ ok: true });
      // The read may be answered at the point just before the write behind it (no read index of
      // its own): that point still lies after the write acknowledged above.
      reader.send({ t: 'req', id: 2 * i, op: 'get', path: '/elsewhere' });
      reader.send({ t: 'req', id: 2 * i + 1, op: 'set', path: '/mine', data: enc.encode(String(i)), seq: i, seqFloor: i });
      const got = (await reader.response(2 * i)).response;
      expect(got.ok && got.op === 'get' ? new TextDecoder().decode(got.data) : got).toBe(String(i));
      expect((await reader.response(2 * i + 1)).response).toMatchObject({ ok: true, op: 'set' });
    }
  });
});

describe('bad input', () => {
  test('answers bad requests with typed errors and keeps the connection', async () => {
    const { client } = await session(1);
    client.send({ t: 'req', id: 1, op: 'get', path: 'no-slash' });
    client.sendBytes(encodeFrame({ t: 'req', id: 2, op: 'teleport' } as never));
    client.sendBytes(encodeFrame({ t: 'req', id: 3, op: 'create', path: '/x', data: 'not bytes', mode: 'persistent' } as never));
    client.send({ t: 'req', id: 4, op: 'create', path: '/big', data: new Uint8Array(dataBytesMax + 1), mode: 'persistent' });
    client.send({ t: 'req', id: 5, op: 'unwatch', watchId: 999 });
    client.send({ t: 'req', id: 6, op: 'delete', path: '/does-not-exist' });
    client.send({ t: 'req', id: 7, op: 'ping' });
    const codes: Record<number, string | undefined> = {};
    for (let i = 0; i < 7; i++) {
      const f = await client.next();
      if (f.t === 'res') codes[f.id] = f.ok ? 'ok' : f.error.name;
    }
    expect(codes).toEqual({ 1: 'BAD_ARGUMENTS', 2: 'UNKNOWN_OP', 3: 'MALFORMED_FRAME', 4: 'BAD_ARGUMENTS', 5: 'NO_WATCH', 6: 'NO_NODE', 7: 'ok' });
  });

  test('closes a connection that sends an oversized or unreadable frame; the others go on', async () => {
    const bystander = await session(1);
    const big = await session(1);
    big.client.sendBytes(new Uint8Array(frameBytesMax + 1));
    expect((await big.client.closedWith()).code).toBe(1009);
    const garbage = await session(1);
    garbage.client.sendBytes(new Uint8Array([0xc1, 0, 1]));
    const closed = await garbage.client.closedWith();
    expect(closed.code).toBe(closeCodeOf('MALFORMED_FRAME'));
    bystander.client.send({ t: 'req', id: 1, op: 'ping' });
    expect((await bystander.client.response(1)).response).toMatchObject({ ok: true, op: 'ping' });
  });

  test('survives a bounded storm of random and mutated frames, then serves with the tree intact', async () => {
    const target = await followerId();
    const { client: writer } = await session(target);
    const paths = Array.from({ length: 20 }, (_, i) => `/fuzz-keep-${i}`);
    paths.forEach((p, i) => writer.send({ t: 'req', id: i, op: 'create', path: p, data: enc.encode(p), mode: 'persistent' }));
    await writer.response(paths.length - 1);

    const valid = [
      encodeFrame({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 5_000 }),
      encodeFrame({ t: 'req', id: 7, op: 'create', path: '/fuzz/a', data: enc.encode('x'), mode: 'persistent', createParents: true }),
      encodeFrame({ t: 'req', id: 8, op: 'multi', ops: [{ op: 'check', path: '/', version: 0 }, { op: 'delete', path: '/fuzz/a' }] }),
      encodeFrame({ t: 'req', id: 9, op: 'children', path: '/', withStats: true, limit: 3 }),
      encodeFrame({ t: 'req', id: 10, op: 'watch', path: '/', mode: 'persistentRecursive', fromRevision: 1 }),
    ];
    const rng = createPrng(0x5eed);
    const prng = { int: (lo: number, hi: number): number => lo + rng.nextInt(hi - lo + 1) };
    const randomFrame = (): Uint8Array => {
      const base = valid[prng.int(0, valid.length - 1)] as Uint8Array;
      const bytes = new Uint8Array(base);
      switch (prng.int(0, 3)) {
        case 0: // flip bytes
          for (let k = 0; k < 1 + prng.int(0, 4); k++) bytes[prng.int(0, bytes.length - 1)] = prng.int(0, 255);
          return bytes;
        case 1: // truncate
          return bytes.subarray(0, prng.int(0, bytes.length - 1));
        case 2: // pure noise
          return Uint8Array.from({ length: prng.int(0, 64) }, () => prng.int(0, 255));
        default: // valid frame, maybe out of sequence
          return bytes;
      }
    };
    const deadline = Date.now() + 4_000;
    let sent = 0;
    const storm = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const ws = new WebSocket(`ws://127.0.0.1:${cluster.node(target).clientPort}/`, 'vigil.v1');
        await new Promise<void>((resolve) => {
          ws.once('open', () => {
            const hello = prng.int(0, 1) === 0;
            if (hello) ws.send(valid[0] as Uint8Array);
            for (let k = 0; k < 30; k++) ws.send(randomFrame());
            sent += 30;
            // Give the server a moment to read them (or close on us), then go.
            setTimeout(() => {
              ws.terminate();
              resolve();
            }, 20);
          });
          ws.once('error', () => resolve());
        });
      }
    };
    await Promise.all([storm(), storm(), storm()]);
    expect(sent).toBeGreaterThan(100);

    // The node still serves old and new clients, and nothing acknowledged is gone or changed.
    const { client } = await session(target);
    paths.forEach((p, i) => client.send({ t: 'req', id: i, op: 'get', path: p }));
    for (let i = 0; i < paths.length; i++) {
      const { response } = await client.response(i);
      expect(response.ok && response.op === 'get' && new TextDecoder().decode(response.data)).toBe(paths[i]);
    }
    writer.send({ t: 'req', id: 100, op: 'ping' });
    expect((await writer.response(100)).response.ok).toBe(true);
    expect((await cluster.status(target)).role).not.toBeUndefined();
  });
});

describe('backpressure', () => {
  test('a client that stops reading is disconnected with SLOW_CONSUMER; others are served meanwhile', async () => {
    const { client: writer } = await session(1);
    writer.send({ t: 'req', id: 1, op: 'create', path: '/heavy', data: new Uint8Array(dataBytesMax), mode: 'persistent' });
    expect((await writer.response(1)).response.ok).toBe(true);
    const { client: slow } = await session(1);
    // Stop reading from the socket: the server's unflushed bytes can only grow.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    for (let i = 0; i < 60; i++) slow.send({ t: 'req', id: i, op: 'get', path: '/heavy', consistency: 'sequential' });
    writer.send({ t: 'req', id: 2, op: 'get', path: '/heavy' });
    expect((await writer.response(2)).response.ok).toBe(true);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.closedWith(30_000);
    expect(closed.code).toBe(closeCodeOf('SLOW_CONSUMER'));
    expect(closed.frames.at(-1)).toMatchObject({ t: 'error', error: { name: 'SLOW_CONSUMER' } });
    expect(closed.frames.filter((f) => f.t === 'res').length).toBeLessThan(60);
  });
});

describe('watch history', () => {
  test('replays a persistent watch from a revision, and says compacted when history is gone', async () => {
    const { client } = await session(await cluster.leader());
    client.send({ t: 'req', id: 1, op: 'create', path: '/hist', data: enc.encode(''), mode: 'persistent' });
    const start = (await client.response(1)).response.revision;
    const writes = historyEvents * 2;
    for (let i = 0; i < writes; i++) client.send({ t: 'req', id: 10 + i, op: 'set', path: '/hist', data: enc.encode(String(i)) });
    // Each set's own revision: other entries (session heartbeats, expiries) may fall between them.
    const revs: number[] = [];
    for (let i = 0; i < writes; i++) revs.push((await client.response(10 + i)).response.revision);
    const last = revs.at(-1)!;

    // Recent enough: exactly the events after fromRevision, then live ones.
    client.send({ t: 'req', id: 2, op: 'watch', path: '/hist', mode: 'persistent', fromRevision: revs.at(-4)! });
    const recent = await client.response(2);
    const replayed: number[] = [];
    while (replayed.length < 3) {
      const f = await client.next();
      if (f.t === 'watch') replayed.push(...f.events.map((e) => e.revision));
    }
    expect(replayed).toEqual(revs.slice(-3));
    expect(recent.response.revision).toBeGreaterThanOrEqual(last);

    // Too old: a compacted frame, and nothing is silently skipped.
    client.send({ t: 'req', id: 3, op: 'watch', path: '/hist', mode: 'persistent', fromRevision: start });
    const old = await client.response(3);
    const watchId = old.response.ok && old.response.op === 'watch' ? old.response.watchId : -1;
    const compacted = await client.next();
    expect(compacted).toMatchObject({ t: 'compacted', watchId });
    expect(compacted.t === 'compacted' && compacted.floor).toBeGreaterThan(start);
  });
});

describe('exactly-once writes', () => {
  test('the same (session, seq) sent twice, through a follower and then the leader, takes effect once and is answered the same', async () => {
    const f = await followerId();
    const { client, welcome } = await session(f);
    client.send({ t: 'req', id: 1, op: 'create', path: '/eo', data: enc.encode(''), mode: 'persistent' });
    expect((await client.response(1)).response).toMatchObject({ ok: true });

    const create = { op: 'create', path: '/eo/n-', data: enc.encode('x'), mode: 'persistent-sequential', seq: 1, seqFloor: 1 } as const;
    const set = { op: 'set', path: '/eo', data: enc.encode('v'), seq: 2, seqFloor: 1 } as const;
    client.send({ t: 'req', id: 2, ...create });
    client.send({ t: 'req', id: 3, ...set });
    const firstCreate = (await client.response(2)).response;
    const firstSet = (await client.response(3)).response;
    expect(firstCreate).toMatchObject({ ok: true, op: 'create', path: '/eo/n-0000000000' });
    expect(firstSet).toMatchObject({ ok: true, op: 'set', stat: { version: 1 } });
    // Again on the same connection: the recorded answers, at a later revision.
    client.send({ t: 'req', id: 4, ...create });
    client.send({ t: 'req', id: 5, ...set });
    const again = [(await client.response(4)).response, (await client.response(5)).response];
    client.close();

    // And again after resuming on the leader, as the SDK does after losing its connection.
    const leader = await cluster.leader();
    const resumed = await session(leader, { session: { id: welcome.sessionId, secret: welcome.secret, lastRevision: again[1]!.revision } });
    resumed.client.send({ t: 'req', id: 1, ...create });
    resumed.client.send({ t: 'req', id: 2, ...set });
    again.push((await resumed.client.response(1)).response, (await resumed.client.response(2)).response);
    const { revision: _c, id: _ci, ...createAnswer } = firstCreate;
    const { revision: _s, id: _si, ...setAnswer } = firstSet;
    for (const [i, answer] of again.entries()) {
      expect(answer).toMatchObject(i % 2 === 0 ? createAnswer : setAnswer);
      expect(answer.revision).toBeGreaterThan(firstSet.revision);
    }

    resumed.client.send({ t: 'req', id: 3, op: 'children', path: '/eo' });
    expect((await resumed.client.response(3)).response).toMatchObject({ ok: true, names: ['n-0000000000'] });
    resumed.client.send({ t: 'req', id: 4, op: 'get', path: '/eo' });
    expect((await resumed.client.response(4)).response).toMatchObject({ ok: true, stat: { version: 1 } });
  });

  test('a seq the session moved past is refused STALE_SEQUENCE, and a bad pair BAD_ARGUMENTS, keeping the connection', async () => {
    const { client } = await session(await followerId());
    client.send({ t: 'req', id: 1, op: 'create', path: '/eo-late-2', data: enc.encode(''), mode: 'persistent', seq: 2, seqFloor: 1 });
    expect((await client.response(1)).response).toMatchObject({ ok: true });
    // seq 1 comes after seq 2 took effect: applying it now would break the session's order.
    client.send({ t: 'req', id: 2, op: 'create', path: '/eo-late-1', data: enc.encode(''), mode: 'persistent', seq: 1, seqFloor: 1 });
    expect((await client.response(2)).response).toMatchObject({ ok: false, op: 'create', error: { name: 'STALE_SEQUENCE' } });
    client.send({ t: 'req', id: 3, op: 'delete', path: '/eo-late-2', seq: 3, seqFloor: 4 });
    expect((await client.response(3)).response).toMatchObject({ ok: false, error: { name: 'BAD_ARGUMENTS' } });
    client.send({ t: 'req', id: 4, op: 'exists', path: '/eo-late-1' });
    expect((await client.response(4)).response).toMatchObject({ ok: true, stat: null });
  });
});

describe('sessions', () => {
  test('a silent client is expired by the leader: its ephemerals vanish and it is told so', async () => {
    const f = await followerId();
    const { client, welcome } = await session(f, { sessionTimeoutMs: 1_000 });
    // The server hears from the client last when the create arrives, after this.
    const quietSinceMs = performance.now();
    client.send({ t: 'req', id: 1, op: 'create', path: '/silent', data: enc.encode(''), mode: 'ephemeral' });
    const created = (await client.response(1)).response;
    expect(created.ok).toBe(true);
    // Say nothing more: no pings. The session must end within a few timeouts, not before one.
    const { code, frames } = await client.closedWith(15_000);
    expect(performance.now() - quietSinceMs).toBeGreaterThanOrEqual(1_000);
    expect(code).toBe(closeCodeOf('SESSION_EXPIRED'));
    expect(frames).toContainEqual({ t: 'session', state: 'expired' });
    const { client: observer } = await session(await cluster.leader());
    observer.send({ t: 'req', id: 1, op: 'exists', path: '/silent' });
    expect((await observer.response(1)).response).toMatchObject({ ok: true, stat: null });
    const retry = await RawClient.open(cluster.node(f).clientPort);
    clients.push(retry);
    retry.send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 1_000, session: { id: welcome.sessionId, secret: welcome.secret, lastRevision: created.revision } });
    expect((await retry.closedWith()).code).toBe(closeCodeOf('SESSION_EXPIRED'));
  });

  test('a client that keeps pinging keeps its session past many timeouts', async () => {
    const { client } = await session(await followerId(), { sessionTimeoutMs: 1_000 });
    client.send({ t: 'req', id: 1, op: 'create', path: '/alive', data: enc.encode(''), mode: 'ephemeral' });
    await client.response(1);
    const until = Date.now() + 3_500;
    let id = 2;
    while (Date.now() < until) {
      client.send({ t: 'req', id, op: 'ping' });
      await client.response(id++);
      await new Promise((r) => setTimeout(r, 250)); // the client's ping cadence, not synchronisation
    }
    client.send({ t: 'req', id, op: 'exists', path: '/alive' });
    expect((await client.response(id)).response).toMatchObject({ ok: true, stat: { ephemeralOwner: expect.any(Number) } });
    await waitFor('no stray close', () => (client.closed === null ? true : undefined));
  });
});

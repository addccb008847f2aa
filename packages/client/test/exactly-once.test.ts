import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isVigilError, type VigilClient } from '@vigil/client';
import { sessionWritesInFlightMax, type Request } from '@vigil/protocol';
import { twoServersFirstConnected, type FakeCluster, type FakeServer } from './support/fake-server.js';
import { nextState, text } from './support/helpers.js';

// Exactly-once writes (docs/protocol.md §5): the SDK numbers a session's writes and resends one
// whose outcome is unknown under the same number; the fake cluster, like the real store, applies a
// number once and answers every copy with the first answer.

const isWrite = (f: { t: string }): f is Request => f.t === 'req' && 'op' in f && ['create', 'set', 'delete', 'multi'].includes((f as Request).op);

describe('exactly-once writes', () => {
  let cluster: FakeCluster;
  let first: FakeServer;
  let second: FakeServer;
  let client: VigilClient;

  beforeEach(async () => {
    ({ cluster, first, second, client } = await twoServersFirstConnected());
  });
  afterEach(async () => {
    await client.close();
    await cluster.close();
  });

  /** The connection to `first` breaks; the client can only come back through `second`. */
  function failOver(): void {
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
  }

  it('numbers writes in send order, each carrying the lowest unanswered seq as its floor', async () => {
    first.hold = (request) => request.op === 'create';
    const writes = [client.create('/a'), client.create('/b'), client.create('/c')];
    await first.waitFor((f) => isWrite(f) && f.op === 'create' && f.path === '/c');
    await client.get('/');
    expect(first.frames.filter(isWrite).map((f) => ['seq' in f ? f.seq : 0, 'seqFloor' in f ? f.seqFloor : 0])).toEqual([[1, 1], [2, 1], [3, 1]]);
    first.hold = null;
    first.release();
    await Promise.all(writes);
    await client.set('/a', 'x');
    expect(first.frames.filter(isWrite).at(-1)).toMatchObject({ op: 'set', seq: 4, seqFloor: 4 });
    // Reads are not numbered.
    expect(first.frames.filter((f) => f.t === 'req' && f.op === 'get').every((f) => !('seq' in f))).toBe(true);
  });

  it('a write applied whose answer was lost with the connection is answered, once, after the reconnect', async () => {
    first.swallow = (request) => request.op === 'create';
    const write = client.create('/once', 'x');
    await first.waitFor((f) => isWrite(f) && f.op === 'create');
    expect(cluster.nodes.has('/once')).toBe(true);
    const revision = cluster.revision;
    failOver();
    const created = await write;
    expect(created.path).toBe('/once');
    expect(created.stat.czxid).toBe(revision);
    expect(cluster.revision).toBe(revision);
    const resent = await second.waitFor(isWrite);
    expect(resent).toMatchObject({ op: 'create', path: '/once', seq: 1 });
  });

  it('a server that answers TIMEOUT (outcome unknown) is left, and the write resent elsewhere gets its first answer', async () => {
    await client.create('/v');
    first.answerTimeout = (request) => request.op === 'set';
    const reconnected = nextState(client, 'reconnected');
    const stat = await client.set('/v', 'one');
    await reconnected;
    expect(client.serverId).toBe(2);
    expect(stat.version).toBe(1);
    expect(cluster.nodes.get('/v')?.stat.version).toBe(1);
    expect(second.frames.filter(isWrite)).toMatchObject([{ op: 'set', seq: 2 }]);
  });

  it('writes cut off together are resent in order and answered in the order sent', async () => {
    first.swallow = (request) => request.op === 'create' && request.path === '/w1';
    first.hold = (request) => request.op === 'create' && request.path !== '/w1';
    const answered: string[] = [];
    const writes = ['/w1', '/w2', '/w3'].map((p) => client.create(p).then(() => answered.push(p)));
    await first.waitFor((f) => isWrite(f) && f.op === 'create' && f.path === '/w3');
    failOver();
    await Promise.all(writes);
    expect(answered).toEqual(['/w1', '/w2', '/w3']);
    expect(second.frames.filter(isWrite).map((f) => (f.op === 'create' ? [f.path, f.seq] : []))).toEqual([['/w1', 1], ['/w2', 2], ['/w3', 3]]);
    expect([...cluster.nodes.keys()].filter((p) => p.startsWith('/w')).sort()).toEqual(['/w1', '/w2', '/w3']);
  });

  it(`keeps at most sessionWritesInFlightMax (${sessionWritesInFlightMax}) writes awaiting answers; the next waits for room`, async () => {
    first.hold = (request) => request.op === 'create';
    const writes = Array.from({ length: sessionWritesInFlightMax + 1 }, (_, i) => client.create(`/k${i}`));
    await first.waitFor((f) => isWrite(f) && f.op === 'create' && f.path === `/k${sessionWritesInFlightMax - 1}`);
    // Answer seq 1 only: that makes room, and the held-back write goes with the floor moved up.
    first.release((held) => {
      first.held.push(...held.slice(1));
      return held.slice(0, 1);
    });
    const last = await first.waitFor((f) => isWrite(f) && f.op === 'create' && f.path === `/k${sessionWritesInFlightMax}`);
    expect(last).toMatchObject({ seq: sessionWritesInFlightMax + 1, seqFloor: 2 });
    first.hold = null;
    first.release();
    await Promise.all(writes);
  });

  it('a write still being resent at its deadline fails TIMEOUT, saying its outcome is unknown', async () => {
    first.swallow = (request) => request.op === 'create';
    const write = client.create('/late', '', { timeoutMs: 100 });
    await first.waitFor(isWrite);
    second.refuseHello = 'SHUTTING_DOWN';
    failOver();
    const error: unknown = await write.catch((err: unknown) => err);
    expect(isVigilError(error) && error).toMatchObject({ code: 'TIMEOUT', retryable: false, message: expect.stringMatching(/unknown/) });
  });

  it('a write being resent when the session expires fails CONNECTION_LOSS; the new session numbers from 1', async () => {
    first.swallow = (request) => request.op === 'create';
    const inDoubt = client.create('/doubt');
    await first.waitFor(isWrite);
    second.refuseHello = 'SHUTTING_DOWN';
    const suspended = nextState(client, 'suspended');
    failOver();
    await suspended;
    const neverSent = client.create('/never');
    const connected = nextState(client, 'connected');
    cluster.sessions.delete(client.sessionId);
    second.refuseHello = null;
    await expect(inDoubt).rejects.toMatchObject({ code: 'CONNECTION_LOSS', cause: { code: 'SESSION_EXPIRED' } });
    await expect(neverSent).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    await connected;
    await client.create('/fresh');
    expect(second.frames.filter(isWrite).at(-1)).toMatchObject({ path: '/fresh', seq: 1, seqFloor: 1 });
  });

  it('a resend the cluster refuses as STALE_SEQUENCE is a definite failure', async () => {
    // seq 1 is lost before it is applied; seq 2 (sent after it) takes effect on its own.
    first.hold = (request) => request.op === 'create' && request.path === '/s1';
    const s1 = client.create('/s1');
    await first.waitFor((f) => isWrite(f) && f.op === 'create' && f.path === '/s1');
    const session = cluster.sessions.get(client.sessionId);
    cluster.write({ op: 'create', path: '/s2', data: new Uint8Array(0), mode: 'persistent' });
    if (session !== undefined) session.lastSeq = 2;
    failOver();
    await expect(s1).rejects.toMatchObject({ code: 'STALE_SEQUENCE', retryable: false });
    expect(cluster.nodes.has('/s1')).toBe(false);
    expect(text((await client.get('/s2')).data)).toBe('');
  });
});

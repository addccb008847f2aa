import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closeCodeOf } from '@vigil/protocol';
import { connect } from '@vigil/client';
import { TestCluster } from './support/cluster.js';
import { RawClient } from './support/raw-client.js';

/**
 * What one member lets its clients take (issue 15, hardening): `--sessions-max`, the sessions it
 * serves at once; `--client-requests-per-second`, the rate of one connection;
 * `--ephemerals-per-session-max`, the ephemeral nodes of one session; `--watches-per-session-max`,
 * the watches of one session.
 */

const requestsPerSecond = 20;

let cluster: TestCluster;
const clients: RawClient[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({
    extraArgs: ['--sessions-max', '2', '--client-requests-per-second', String(requestsPerSecond), '--ephemerals-per-session-max', '2', '--watches-per-session-max', '2'],
  });
  await cluster.leader();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster.close();
});

async function session(id: number): Promise<Awaited<ReturnType<typeof RawClient.session>>> {
  const s = await RawClient.session(cluster.node(id).clientPort);
  clients.push(s.client);
  return s;
}

describe('sessions per member', () => {
  test('a member serving --sessions-max sessions refuses the next hello TOO_MANY_SESSIONS, and serves one again once a session leaves', async () => {
    const first = await session(1);
    await session(1);
    // A connection that has not said hello yet holds no session.
    const quiet = await RawClient.open(cluster.node(1).clientPort);
    clients.push(quiet);

    const third = await RawClient.open(cluster.node(1).clientPort);
    clients.push(third);
    third.send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000 });
    const refused = await third.closedWith();
    expect(refused.code).toBe(closeCodeOf('TOO_MANY_SESSIONS'));
    expect(refused.frames[0]).toMatchObject({ t: 'error', error: { name: 'TOO_MANY_SESSIONS' } });

    // The member goes on serving the sessions it holds, and other members are not bound by it.
    first.client.send({ t: 'req', id: 1, op: 'ping' });
    expect((await first.client.response(1)).response).toMatchObject({ ok: true });
    await session(2);

    // A session that closes gives its place back (its connection is closed by the time the client sees it).
    first.client.send({ t: 'req', id: 2, op: 'close' });
    expect((await first.client.response(2)).response).toMatchObject({ ok: true, op: 'close' });
    expect((await first.client.closedWith()).code).toBe(1000);
    quiet.send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000 });
    expect(await quiet.next()).toMatchObject({ t: 'welcome', resumed: false });
  });

  test('the SDK given a full member first opens its session on the next endpoint', async () => {
    // Member 1 now serves two sessions (the test above); member 3 none.
    const client = await connect({ endpoints: [1, 3].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`), connectTimeoutMs: 10_000 });
    try {
      expect(client.serverId).toBe(3);
      await client.create('/limited', 'ok');
    } finally {
      await client.close();
    }
  });
});

describe('requests per connection', () => {
  test('a connection sending more than --client-requests-per-second is answered TOO_MANY_REQUESTS beyond its bucket; pings go through', async () => {
    const { client } = await session(3);
    const sent = 60;
    const startedMs = performance.now();
    for (let id = 1; id <= sent; id++) client.send({ t: 'req', id, op: 'exists', path: '/', consistency: 'sequential' });
    const answers = [];
    for (let id = 1; id <= sent; id++) answers.push((await client.response(id)).response);
    const elapsedS = (performance.now() - startedMs) / 1000;
    const ok = answers.filter((r) => r.ok).length;
    const refused = answers.filter((r) => !r.ok);
    // A full bucket, plus what refills while the requests arrive (the test's own clock runs longer).
    expect(ok).toBeGreaterThanOrEqual(requestsPerSecond);
    expect(ok).toBeLessThanOrEqual(requestsPerSecond + Math.ceil(requestsPerSecond * elapsedS));
    expect(refused.length).toBe(sent - ok);
    for (const r of refused) expect(r).toMatchObject({ ok: false, error: { name: 'TOO_MANY_REQUESTS', message: expect.stringContaining('a second') } });
    // The session is not punished: its pings are answered, and the connection stays open.
    client.send({ t: 'req', id: sent + 1, op: 'ping' });
    expect((await client.response(sent + 1)).response).toMatchObject({ ok: true, op: 'ping' });
  });
});

describe('ephemeral nodes per session', () => {
  test('a session may own --ephemerals-per-session-max ephemeral nodes: the next create fails TOO_MANY_EPHEMERALS, a delete makes room', async () => {
    const client = await connect({ endpoints: [`ws://127.0.0.1:${cluster.node(3).clientPort}`] });
    try {
      await client.create('/eph-a', 'a', { mode: 'ephemeral' });
      await client.create('/eph-b', 'b', { mode: 'ephemeral' });
      await expect(client.create('/eph-c', 'c', { mode: 'ephemeral' })).rejects.toMatchObject({ code: 'TOO_MANY_EPHEMERALS' });
      expect(await client.exists('/eph-c')).toBeNull();
      // Persistent nodes are not counted; a deleted ephemeral gives its place back.
      await client.create('/eph-persistent', 'p');
      await client.delete('/eph-a');
      await client.create('/eph-c', 'c', { mode: 'ephemeral' });
    } finally {
      await client.close();
    }
  });
});

describe('watches per session', () => {
  test('a session may hold --watches-per-session-max watches: the next is refused TOO_MANY_WATCHES, one removed makes room', async () => {
    const { client } = await session(3);
    const watch = async (id: number, path: string) => {
      client.send({ t: 'req', id, op: 'watch', path, mode: 'persistent' });
      return (await client.response(id)).response;
    };
    const first = await watch(1, '/w1');
    expect(first).toMatchObject({ ok: true });
    expect(await watch(2, '/w2')).toMatchObject({ ok: true });
    expect(await watch(3, '/w3')).toMatchObject({ ok: false, error: { name: 'TOO_MANY_WATCHES' } });
    client.send({ t: 'req', id: 4, op: 'unwatch', watchId: (first as { watchId: number }).watchId });
    expect((await client.response(4)).response).toMatchObject({ ok: true });
    expect(await watch(5, '/w3')).toMatchObject({ ok: true });
  });
});

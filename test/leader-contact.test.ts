import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { TestCluster, waitFor } from './support/cluster.js';
import { RawClient } from './support/raw-client.js';

/**
 * A member cut off from the leader (a leader, from its majority) cannot report the sessions it
 * hears, so the leader will expire them: it must not vouch for them. After half an election timeout
 * of silence it holds pings and resumes at the door; it answers them NO_LEADER if the silence
 * outlasts the wait, and after three election timeouts (a leader: once check-quorum makes it step
 * down and no leader follows) it ends its client connections with NO_LEADER (the SDK resumes on
 * another member) and refuses to resume a session, until it hears from a leader again (decisions
 * 29, 32, 33, 40, 43 and 46).
 */

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
});
// A test that failed with members paused or killed must not leave the next one without a majority.
afterEach(async () => {
  for (const id of cluster.live()) await cluster.resume(id);
  await cluster.heal();
});
afterAll(() => cluster.close());

test('a leader cut off from its majority ends its client connections with NO_LEADER at once and refuses resumes; it serves the session again once in touch', async () => {
  const leader = await cluster.leader();
  const followers = [1, 2, 3].filter((id) => id !== leader);
  const port = cluster.node(leader).clientPort;
  const { client, welcome } = await RawClient.session(port);
  client.send({ t: 'req', id: 1, op: 'ping' });
  expect((await client.response(1)).response.ok).toBe(true);
  const hello = { t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, session: { id: welcome.sessionId, secret: welcome.secret, lastRevision: welcome.revision } } as const;

  // The leader loses its majority. Without waiting for the client's next ping, it tells the
  // client to go elsewhere.
  for (const f of followers) await cluster.pause(f);
  const ended = await client.closedWith();
  expect(ended.frames).toContainEqual(expect.objectContaining({ t: 'error', error: expect.objectContaining({ name: 'NO_LEADER' }) }));

  const resume = await RawClient.open(port);
  resume.send(hello);
  expect(await resume.next()).toMatchObject({ t: 'error', error: { name: 'NO_LEADER' } });
  resume.ws.terminate();

  for (const f of followers) await cluster.resume(f);
  await waitFor('the session resumed on the member again', async () => {
    const again = await RawClient.open(port);
    try {
      again.send(hello);
      return (await again.next()).t === 'welcome' ? true : undefined;
    } finally {
      again.ws.terminate();
    }
  });
});

test('a resume that arrives while an election is under way waits at the door and is welcomed when it ends', async () => {
  const leader = await cluster.leader();
  const [member, other] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
  const port = cluster.node(member).clientPort;
  const { client, welcome } = await RawClient.session(port);
  const hello = { t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, session: { id: welcome.sessionId, secret: welcome.secret, lastRevision: welcome.revision } } as const;

  // The member loses its leader and cannot elect one: the others are paused.
  await cluster.pause(leader);
  await cluster.pause(other);
  await client.closedWith();

  // The leader dies; a resume arrives; the other member comes back, so an election can end. The
  // resume is not sent away with NO_LEADER: it is answered when the election ends (it waits at
  // most an election timeout, so it is sent only once nothing but the election is left to wait for).
  await cluster.kill(leader);
  const resume = await RawClient.open(port);
  resume.send(hello);
  await cluster.resume(other);
  expect(await resume.next()).toMatchObject({ t: 'welcome', sessionId: welcome.sessionId, resumed: true });
  resume.ws.terminate();
  expect([member, other]).toContain(await cluster.leader([member, other]));
});

test('a silence shorter than an election timeout only holds a ping, which is answered once the leader is heard again; the connection stays', async () => {
  // 100 ms ticks: a member holds pings from 0.6 s without its leader (and would answer them
  // NO_LEADER after holding them 0.75 s); the peer transport's keepalive (not scaled by ticks) drops a silent link after 1 s at
  // the soonest. The leader's process stops for 0.75 s (a lost packet's retransmission, a GC pause).
  const slow = await TestCluster.start({ tickMs: 100 });
  try {
    const leader = await slow.leader();
    const member = [1, 2, 3].find((id) => id !== leader) as number;
    const { client } = await RawClient.session(slow.node(member).clientPort);
    await slow.pause(leader);
    await delay(700);
    client.send({ t: 'req', id: 1, op: 'ping' });
    await delay(50);
    await slow.resume(leader);
    expect((await client.response(1)).response).toMatchObject({ ok: true, op: 'ping' });
    expect(client.closed).toBeNull();
    expect(await slow.leader()).toBe(leader);
  } finally {
    await slow.close();
  }
});

test('the leader killed: the surviving members keep their clients connected through the election, and writes sent meanwhile are answered (decision 43)', async () => {
  const own = await TestCluster.start();
  try {
    const leader = await own.leader();
    const survivors = [1, 2, 3].filter((id) => id !== leader);
    const clients = await Promise.all(survivors.map(async (id) => (await RawClient.session(own.node(id).clientPort)).client));
    for (const [i, c] of clients.entries()) {
      c.send({ t: 'req', id: 1, op: 'create', path: `/through-${i}`, data: new Uint8Array(0), mode: 'persistent', seq: 1, seqFloor: 1 });
      expect((await c.response(1)).response).toMatchObject({ ok: true });
    }
    await own.kill(leader);
    // Only a new leader can answer these: each member holds them through the election.
    for (const [i, c] of clients.entries()) c.send({ t: 'req', id: 2, op: 'set', path: `/through-${i}`, data: new Uint8Array([1]), seq: 2, seqFloor: 2 });
    for (const c of clients) {
      const { response, before } = await c.response(2);
      expect(response).toMatchObject({ ok: true, op: 'set', stat: { version: 1 } });
      expect(before).toEqual([]);
      expect(c.closed).toBeNull();
    }
    expect(survivors).toContain(await own.leader(survivors));
  } finally {
    await own.close();
  }
});

test('a member that hears no leader for two election timeouts keeps its client connections; after three it ends them (decision 46)', async () => {
  // 100 ms ticks: an election timeout is 1 s. The leader and the other follower stop, so this
  // member can neither hear a leader nor elect one: to it, that is a stalled leader.
  const slow = await TestCluster.start({ tickMs: 100 });
  try {
    const leader = await slow.leader();
    const [member, other] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    const { client } = await RawClient.session(slow.node(member).clientPort);
    await slow.pause(leader);
    await slow.pause(other);
    await delay(2_000);
    await slow.resume(leader);
    await slow.resume(other);
    client.send({ t: 'req', id: 1, op: 'ping' });
    expect((await client.response(1)).response).toMatchObject({ ok: true, op: 'ping' });
    expect(client.closed).toBeNull();

    await slow.leader();
    const others = [1, 2, 3].filter((id) => id !== member);
    for (const id of others) await slow.pause(id);
    const ended = await client.closedWith();
    expect(ended.frames).toContainEqual(expect.objectContaining({ t: 'error', error: expect.objectContaining({ name: 'NO_LEADER' }) }));
    for (const id of others) await slow.resume(id);
  } finally {
    await slow.close();
  }
});

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { aclPerms, closeCodeOf, encodeFrame, type ClientFrame } from '@vigil/protocol';
import { hashSecret, zkErr, zkOp, zkXid, type JuteWriter } from '@vigil/server';
import { digestId } from '@vigil/store';
import { fetchJson, TestCluster, waitFor } from './support/cluster.js';
import { RawClient } from './support/raw-client.js';
import { fourLetterWord, RawZooKeeper } from './support/raw-zookeeper.js';

/**
 * A cluster run with --auth (issue 15): every client authenticates in its hello, writes carry the
 * identity the member that took them authenticated (also when a follower forwards them), znode
 * ACLs are enforced, and each admin operation needs its role. Real processes and sockets.
 */

const superSecret = 'correct horse battery staple';
const basic = (user: string, secret: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` });
const asSuper = basic('super', superSecret);

let cluster: TestCluster;
let leader: number;
let follower: number;
const clients: RawClient[] = [];

beforeAll(async () => {
  const hash = await hashSecret(superSecret);
  cluster = await TestCluster.start({ extraArgs: ['--auth', '--superuser-hash', hash], httpHeaders: asSuper, zookeeper: true });
  leader = await cluster.leader();
  follower = cluster.live().find((id) => id !== leader) as number;
  for (const [name, roles] of [['alice', []], ['bob', []], ['snap', ['snapshots']]] as const) {
    const put = await fetchJson<{ created: boolean }>(cluster.url(leader, `/admin/users/${name}`), {
      method: 'PUT',
      headers: { ...asSuper, 'content-type': 'application/json' },
      body: JSON.stringify({ secret: `${name}-secret`, roles }),
    });
    expect(put).toEqual({ status: 200, body: { name, created: true, index: expect.any(Number) } });
  }
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster.close();
});

async function as(user: string, secret: string, id: number): Promise<RawClient> {
  const { client, welcome } = await RawClient.session(cluster.node(id).clientPort, { auth: { user, secret } });
  expect(welcome.user).toBe(user);
  clients.push(client);
  return client;
}

let nextId = 1;
async function call(client: RawClient, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = nextId++;
  client.send({ t: 'req', id, ...request } as ClientFrame);
  return (await client.response(id)).response as unknown as Record<string, unknown>;
}

async function refusedHello(id: number, hello: Record<string, unknown>): Promise<{ code: number; message: string }> {
  const client = await RawClient.open(cluster.node(id).clientPort);
  clients.push(client);
  client.send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, ...hello } as ClientFrame);
  const closed = await client.closedWith();
  const frame = closed.frames[0] as { t: string; error: { name: string; message: string } };
  expect(frame).toMatchObject({ t: 'error', error: { name: 'AUTH_FAILED' } });
  return { code: closed.code, message: frame.error.message };
}

describe('authentication', () => {
  test('a hello without credentials, with a wrong secret or an unknown user is refused AUTH_FAILED and closed; the member keeps serving', async () => {
    expect(await refusedHello(follower, {})).toMatchObject({ code: closeCodeOf('AUTH_FAILED'), message: expect.stringContaining('requires authentication') });
    expect(await refusedHello(follower, { auth: { user: 'alice', secret: 'wrong' } })).toMatchObject({ code: closeCodeOf('AUTH_FAILED'), message: 'unknown user or wrong secret' });
    expect(await refusedHello(leader, { auth: { user: 'mallory', secret: 'x' } })).toMatchObject({ message: 'unknown user or wrong secret' });
    expect(await refusedHello(leader, { auth: { user: 'super', secret: 'not it' } })).toMatchObject({ message: 'unknown user or wrong secret' });
    const alice = await as('alice', 'alice-secret', follower);
    expect(await call(alice, { op: 'whoami' })).toMatchObject({ ok: true, user: 'alice', superuser: false, roles: [], address: '127.0.0.1' });
    const root = await as('super', superSecret, follower);
    expect(await call(root, { op: 'whoami' })).toMatchObject({ ok: true, user: 'super', superuser: true, roles: ['admin', 'membership', 'leadership', 'snapshots', 'users'] });
  });

  test('an address that fails too often is refused without a check, even with the right secret, until its allowance comes back', async () => {
    // Each member counts the failures it sees; this one has seen none from this test yet.
    const third = cluster.live().find((id) => id !== leader && id !== follower) as number;
    for (let i = 0; i < 5; i++) expect((await refusedHello(third, { auth: { user: 'bob', secret: `guess ${i}` } })).message).toBe('unknown user or wrong secret');
    expect((await refusedHello(third, { auth: { user: 'bob', secret: 'bob-secret' } })).message).toMatch(/^too many failed attempts from 127\.0\.0\.1; try again in \d+ ms$/);
    // One attempt comes back a second later (polled, not slept: the refusal says when).
    const bob = await waitForWelcome(third, { user: 'bob', secret: 'bob-secret' });
    expect(await call(bob, { op: 'whoami' })).toMatchObject({ user: 'bob' });
  });
});

async function waitForWelcome(id: number, auth: { user: string; secret: string }): Promise<RawClient> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = await RawClient.open(cluster.node(id).clientPort);
    clients.push(client);
    client.send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, auth });
    const frame = await client.next().catch(() => undefined);
    if (frame?.t === 'welcome') return client;
    if (Date.now() > deadline) throw new Error(`no welcome within 10 s: ${JSON.stringify(frame)}`);
    const wait = /try again in (\d+) ms/.exec(JSON.stringify(frame))?.[1];
    await new Promise((r) => setTimeout(r, Number(wait ?? 100)));
  }
}

describe('ACLs through a follower', () => {
  test('a write forwarded by a follower keeps its caller: the node is its creator\'s, and others are refused NO_AUTH', async () => {
    const alice = await as('alice', 'alice-secret', follower);
    const bob = await as('bob', 'bob-secret', follower);
    expect(await call(alice, { op: 'create', path: '/alice', data: new Uint8Array([1]), mode: 'persistent' })).toMatchObject({ ok: true, path: '/alice' });
    expect(await call(bob, { op: 'getAcl', path: '/alice' })).toMatchObject({ ok: false, error: { name: 'NO_AUTH', path: '/alice' } });
    expect(await call(alice, { op: 'getAcl', path: '/alice' })).toMatchObject({ ok: true, acl: [{ scheme: 'user', id: 'alice', perms: aclPerms.all }], stat: { aversion: 0 } });
    expect(await call(bob, { op: 'get', path: '/alice' })).toMatchObject({ ok: false, error: { name: 'NO_AUTH' } });
    expect(await call(bob, { op: 'set', path: '/alice', data: new Uint8Array([2]) })).toMatchObject({ ok: false, error: { name: 'NO_AUTH' } });
    expect(await call(bob, { op: 'create', path: '/alice/x', data: new Uint8Array(0), mode: 'persistent' })).toMatchObject({ ok: false, error: { name: 'NO_AUTH', path: '/alice' } });
    expect(await call(bob, { op: 'multi', ops: [{ op: 'check', path: '/alice' }] })).toMatchObject({ ok: false, error: { name: 'NO_AUTH', opIndex: 0 } });
    expect(await call(bob, { op: 'watch', path: '/alice', mode: 'persistent' })).toMatchObject({ ok: false, error: { name: 'NO_AUTH' } });
    // exists needs no permission, as in ZooKeeper.
    expect(await call(bob, { op: 'exists', path: '/alice' })).toMatchObject({ ok: true, stat: { version: 0 } });

    // Alice grants bob read through the leader; the follower's next read sees it (linearizable).
    const viaLeader = await as('alice', 'alice-secret', leader);
    const acl = [{ scheme: 'auth', id: '', perms: aclPerms.all }, { scheme: 'user', id: 'bob', perms: aclPerms.read }];
    expect(await call(viaLeader, { op: 'setAcl', path: '/alice', acl, version: 1 })).toMatchObject({ ok: false, error: { name: 'BAD_VERSION' } });
    expect(await call(viaLeader, { op: 'setAcl', path: '/alice', acl, version: 0 })).toMatchObject({ ok: true, stat: { aversion: 1 } });
    expect(await call(bob, { op: 'get', path: '/alice' })).toMatchObject({ ok: true, data: new Uint8Array([1]) });
    expect(await call(bob, { op: 'setAcl', path: '/alice', acl: [{ scheme: 'world', id: 'anyone', perms: aclPerms.all }] })).toMatchObject({ ok: false, error: { name: 'NO_AUTH' } });
    expect(await call(alice, { op: 'setAcl', path: '/alice', acl: [{ scheme: 'ip', id: 'not-an-ip', perms: 1 }] })).toMatchObject({ ok: false, error: { name: 'INVALID_ACL' } });
  });

  test('a persistent recursive watch hears only of the nodes the session may read', async () => {
    const alice = await as('alice', 'alice-secret', leader);
    const bob = await as('bob', 'bob-secret', follower);
    expect(await call(alice, { op: 'create', path: '/shared', data: new Uint8Array(0), mode: 'persistent', acl: [{ scheme: 'world', id: 'anyone', perms: aclPerms.all }] })).toMatchObject({ ok: true });
    // A watch starts at its member's applied state (docs/protocol.md §7): bob's sync puts /shared's
    // creation behind it, so the watch cannot report it.
    expect(await call(bob, { op: 'sync' })).toMatchObject({ ok: true });
    const watch = await call(bob, { op: 'watch', path: '/shared', mode: 'persistentRecursive' });
    expect(watch).toMatchObject({ ok: true });
    expect(await call(alice, { op: 'create', path: '/shared/secret', data: new Uint8Array(0), mode: 'persistent' })).toMatchObject({ ok: true });
    expect(await call(alice, { op: 'create', path: '/shared/public', data: new Uint8Array(0), mode: 'persistent', acl: [{ scheme: 'world', id: 'anyone', perms: aclPerms.read }] })).toMatchObject({ ok: true });
    // Bob's sync makes sure both creates' events were sent to him before its answer.
    const { before } = await (async () => {
      const id = nextId++;
      bob.send({ t: 'req', id, op: 'sync' });
      return bob.response(id);
    })();
    const paths = before.flatMap((f) => (f.t === 'watch' ? f.events.map((e) => `${e.kind} ${e.path}`) : []));
    // A recursive watch reports no childrenChanged (as ZooKeeper's); /shared/secret is alice's alone.
    expect(paths).toEqual(['created /shared/public']);
  });
});

describe('the admin API with --auth', () => {
  test('an operation needs its role; probes stay open; users are listed without hashes', async () => {
    const post = (headers: Record<string, string>) => fetchJson<{ error?: { code: string } }>(cluster.url(follower, '/admin/snapshot'), { method: 'POST', headers });
    expect(await post({})).toMatchObject({ status: 401, body: { error: { code: 'AUTH_FAILED' } } });
    expect(await post(basic('alice', 'nope'))).toMatchObject({ status: 401, body: { error: { code: 'AUTH_FAILED' } } });
    expect(await post(basic('alice', 'alice-secret'))).toMatchObject({ status: 403, body: { error: { code: 'NO_AUTH' } } });
    expect((await post(basic('snap', 'snap-secret'))).status).toBe(200);
    expect((await fetchJson(cluster.url(follower, '/readyz'))).status).toBe(200);
    expect((await fetchJson(cluster.url(follower, '/status'))).status).toBe(401);
    const users = await fetchJson<{ users: unknown[] }>(cluster.url(follower, '/admin/users'), { headers: asSuper });
    expect(users.body.users).toEqual(expect.arrayContaining([{ name: 'alice', roles: [] }, { name: 'snap', roles: ['snapshots'] }]));
    expect(JSON.stringify(users.body)).not.toContain('scrypt');
    expect((await fetchJson(cluster.url(follower, '/admin/users'), { headers: basic('snap', 'snap-secret') })).status).toBe(403);
    expect((await fetchJson(cluster.url(follower, '/admin/leader/transfer'), { method: 'POST', headers: basic('snap', 'snap-secret') })).status).toBe(403);
  });

  test('the JSON znode API authenticates with HTTP Basic and enforces the same ACLs', async () => {
    const get = (headers: Record<string, string>) => fetchJson<{ error?: { code: string } }>(cluster.url(follower, '/v1/znodes/alice'), { headers });
    expect((await get({})).status).toBe(401);
    expect(await get(basic('snap', 'snap-secret'))).toMatchObject({ status: 403, body: { error: { code: 'NO_AUTH' } } });
    expect((await get(basic('bob', 'bob-secret'))).status).toBe(200);
    const put = await fetchJson<{ error?: { code: string } }>(cluster.url(follower, '/v1/znodes/alice'), { method: 'PUT', headers: { ...basic('bob', 'bob-secret'), 'content-type': 'application/json' }, body: JSON.stringify({ data: 'AA==' }) });
    expect(put).toMatchObject({ status: 403, body: { error: { code: 'NO_AUTH' } } });
  });

  test('a deleted user can no longer authenticate, and its open connection is closed at its next request', async () => {
    const bob = await as('bob', 'bob-secret', follower);
    const del = await fetchJson(cluster.url(leader, '/admin/users/bob'), { method: 'DELETE', headers: asSuper });
    expect(del.status).toBe(200);
    expect((await fetchJson(cluster.url(leader, '/admin/users/bob'), { method: 'DELETE', headers: asSuper })).status).toBe(404);
    expect((await refusedHello(leader, { auth: { user: 'bob', secret: 'bob-secret' } })).message).toBe('unknown user or wrong secret');
    // The follower applies the delete by the time a linearizable read through it returns.
    const alice = await as('alice', 'alice-secret', follower);
    expect(await call(alice, { op: 'sync' })).toMatchObject({ ok: true });
    bob.send({ t: 'req', id: nextId++, op: 'whoami' });
    const closed = await bob.closedWith();
    expect(closed.code).toBe(closeCodeOf('AUTH_FAILED'));
    expect(closed.frames.at(-1)).toMatchObject({ t: 'error', error: { name: 'AUTH_FAILED', message: expect.stringContaining('authenticate again') } });
  });
});

describe('fuzzed handshakes', () => {
  test('random and mutated hellos get an error frame and a close, never a session, and the member keeps serving', async () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const valid = encodeFrame({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, auth: { user: 'alice', secret: 'alice-secret' } });
    const cases: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const bytes = new Uint8Array(valid);
      for (let flips = 1 + random(4); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
      cases.push(bytes);
    }
    for (let i = 0; i < 10; i++) cases.push(new Uint8Array(Array.from({ length: 1 + random(64) }, () => random(256))));
    cases.push(encodeFrame({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, auth: { user: 'a'.repeat(65), secret: 'x' } } as ClientFrame));
    cases.push(encodeFrame({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, auth: { user: 'alice', secret: 'x'.repeat(1025) } } as ClientFrame));
    cases.push(encodeFrame({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, auth: { user: 'alice' } } as unknown as ClientFrame));
    let welcomed = 0;
    for (const bytes of cases) {
      const client = await RawClient.open(cluster.node(leader).clientPort);
      clients.push(client);
      client.sendBytes(bytes);
      const first = await client.next();
      // A mutation may leave the frame a valid hello of alice (a flipped byte of the session timeout).
      if (first.t === 'welcome') {
        expect(first.user).toBe('alice');
        welcomed++;
        client.close();
        continue;
      }
      expect(first).toMatchObject({ t: 'error' });
      expect((await client.closedWith()).code).toBeGreaterThanOrEqual(4000);
    }
    expect(welcomed).toBeLessThan(cases.length / 4);
    // Mutated secrets count as failures of this address: the member serves it again once its allowance is back.
    const alice = await waitForWelcome(leader, { user: 'alice', secret: 'alice-secret' });
    expect(await call(alice, { op: 'whoami' })).toMatchObject({ ok: true, user: 'alice' });
  });
});

describe('the ZooKeeper port with --auth', () => {
  test('a session opens without credentials and sees only what world and ip allow; addauth digest with a user\'s secret acts as that user; a wrong one is AUTHFAILED and closed', async () => {
    const alice = await as('alice', 'alice-secret', leader);
    expect(await call(alice, { op: 'create', path: '/zk-alice', data: new Uint8Array([1]), mode: 'persistent' })).toMatchObject({ ok: true });
    const zk = await RawZooKeeper.open(cluster.node(follower).zookeeperPort as number);
    await zk.handshake();
    const getAlice = (w: JuteWriter): void => void w.string('/zk-alice').bool(false);
    // alice wrote through the leader; a sync makes the follower catch up before the reads.
    expect((await zk.request(zkOp.sync, (w) => void w.string('/zk-alice'))).err).toBe(zkErr.ok);
    expect((await zk.request(zkOp.getData, getAlice)).err).toBe(zkErr.noAuth);
    zk.send(zkOp.auth, (w) => void w.int(0).string('digest').buffer(Buffer.from('alice:alice-secret')), zkXid.auth);
    // Requests sent behind the addauth run as its identity.
    const read = zk.send(zkOp.getData, getAlice);
    expect(await zk.reply()).toMatchObject({ xid: zkXid.auth, err: zkErr.ok });
    expect(await zk.reply()).toMatchObject({ xid: read, err: zkErr.ok });
    // `auth` stands for every identity the connection holds: the user and its digest.
    const made = await zk.request(zkOp.create, (w) => void w.string('/zk-auth').buffer(Buffer.alloc(0)).int(1).int(31).string('auth').string('').int(0));
    expect(made.err).toBe(zkErr.ok);
    const acl = await zk.request(zkOp.getACL, (w) => void w.string('/zk-auth'));
    expect(Array.from({ length: acl.body.int() }, () => [acl.body.int(), acl.body.string(), acl.body.string()])).toEqual([
      [31, 'user', 'alice'],
      [31, 'digest', digestId('alice', 'alice-secret')],
    ]);
    zk.destroy();

    const wrong = await RawZooKeeper.open(cluster.node(follower).zookeeperPort as number);
    await wrong.handshake();
    wrong.send(zkOp.auth, (w) => void w.int(0).string('digest').buffer(Buffer.from('alice:not-it')), zkXid.auth);
    expect(await wrong.reply()).toMatchObject({ xid: zkXid.auth, err: zkErr.authFailed });
    await waitFor('the refused connection to close', () => wrong.closed || undefined);
  });

  test('four-letter words: ruok and srvr are answered, the ones that show settings and counts are not', async () => {
    const port = cluster.node(leader).zookeeperPort as number;
    expect(await fourLetterWord(port, 'ruok')).toBe('imok');
    expect(await fourLetterWord(port, 'srvr')).toContain('Mode: leader');
    for (const word of ['conf', 'mntr', 'stat', 'envi']) expect(await fourLetterWord(port, word)).toBe(`${word} is not executed because it is not in the whitelist.\n`);
  });
});

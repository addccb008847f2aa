import { afterEach, describe, expect, it } from 'vitest';
import { aclPerms, acls, connect, isVigilError, type AclEntry, type VigilClient } from '@vigil/client';
import type { HelloFrame, Request } from '@vigil/protocol';
import { resolveOptions } from '../src/options.js';
import { FakeCluster, type FakeServer } from './support/fake-server.js';
import { nextState, recordStates } from './support/helpers.js';

// Authentication and ACLs (docs/client.md §1 "auth", §2.1): the credentials go in every hello, a
// refusal ends the client, and the ACL calls are ordinary reads and exactly-once writes.

const isHello = (f: { t: string }): f is HelloFrame => f.t === 'hello';
const isReq = (op: string) => (f: { t: string }): f is Request => f.t === 'req' && (f as Request).op === op;

const alice = { user: 'alice', secret: 'wonderland' };
const fast = { reconnectBackoff: { baseMs: 1, maxMs: 5 } } as const;

/** A cluster that runs "with --auth": alice and bob are users, super the superuser. */
function securedCluster(): FakeCluster {
  const cluster = new FakeCluster();
  cluster.requireAuth = true;
  cluster.users.set('alice', { secret: 'wonderland', roles: ['snapshots'] });
  cluster.users.set('bob', { secret: 'builder', roles: [] });
  cluster.users.set('super', { secret: 'root', roles: [] });
  return cluster;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

describe('authentication', () => {
  let cluster: FakeCluster;
  const clients: VigilClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await cluster.close();
  });
  const track = (client: VigilClient): VigilClient => {
    clients.push(client);
    return client;
  };

  it('sends the credentials in the hello, and whoami reports the user the server took', async () => {
    cluster = securedCluster();
    const server = await cluster.startServer();
    const client = track(await connect({ endpoints: [server.url], auth: alice }));
    expect(await server.waitFor(isHello)).toMatchObject({ auth: alice });
    expect(await client.whoami()).toEqual({ user: 'alice', superuser: false, roles: ['snapshots'], address: '127.0.0.1' });
  });

  it('without credentials the hello carries none and whoami is anonymous', async () => {
    cluster = new FakeCluster();
    const server = await cluster.startServer();
    const client = track(await connect({ endpoints: [server.url] }));
    expect(await server.waitFor(isHello)).not.toHaveProperty('auth');
    expect(await client.whoami()).toEqual({ superuser: false, roles: [], address: '127.0.0.1' });
  });

  it('sends the credentials again when it resumes the session on another member', async () => {
    cluster = securedCluster();
    const first = await cluster.startServer();
    const second = await cluster.startServer();
    second.refuseHello = 'SHUTTING_DOWN';
    const client = track(await connect({ endpoints: [first.url, second.url], auth: alice, ...fast }));
    second.refuseHello = null;
    const reconnected = nextState(client, 'reconnected');
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
    await reconnected;
    const resume = second.frames.filter(isHello).at(-1);
    expect(resume).toMatchObject({ auth: alice, session: { id: client.sessionId } });
  });

  it('connect() rejects AUTH_FAILED at the first refusal, without trying the other endpoints', async () => {
    cluster = securedCluster();
    const first = await cluster.startServer();
    const second = await cluster.startServer();
    const error = await failure(connect({ endpoints: [first.url, second.url], auth: { user: 'alice', secret: 'wrong' }, connectTimeoutMs: 30_000, ...fast }));
    expect(isVigilError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'AUTH_FAILED', retryable: false });
    expect([...first.frames, ...second.frames].filter(isHello)).toHaveLength(1);
  });

  it('connect() without credentials to a server that requires them rejects AUTH_FAILED', async () => {
    cluster = securedCluster();
    const server = await cluster.startServer();
    await expect(connect({ endpoints: [server.url], connectTimeoutMs: 30_000, ...fast })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('a reconnect refused AUTH_FAILED closes the client: pending and later calls and watch streams fail with it', async () => {
    cluster = securedCluster();
    const server = await cluster.startServer();
    const client = track(await connect({ endpoints: [server.url], auth: alice, ...fast }));
    const stream = client.watch('/');
    await stream.ready;
    const states = recordStates(client);
    server.hold = (request) => request.op === 'get';
    const pending = client.get('/');
    await server.waitFor(isReq('get'));
    // The user's secret changes while the client is away: its next hello is refused.
    cluster.users.set('alice', { secret: 'changed', roles: [] });
    const closed = nextState(client, 'closed');
    server.dropConnections();
    await closed;
    expect(states).toEqual(['suspended', 'closed']);
    expect(client.state).toBe('closed');
    await expect(pending).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(client.exists('/')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect(server.frames.filter(isHello)).toHaveLength(2);
  });

  it('a write being resent when the reconnect is refused fails AUTH_FAILED saying its outcome is unknown', async () => {
    cluster = securedCluster();
    const server = await cluster.startServer();
    const client = track(await connect({ endpoints: [server.url], auth: alice, ...fast }));
    server.swallow = (request) => request.op === 'create';
    const write = client.create('/w');
    await server.waitFor(isReq('create'));
    cluster.users.delete('alice');
    server.dropConnections();
    const error = await failure(write);
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect((error as Error).message).toMatch(/whether it took effect is unknown/);
  });

  it('a connection the server closes AUTH_FAILED (its user was removed) ends the client; a write in flight says its outcome is unknown', async () => {
    cluster = securedCluster();
    const server = await cluster.startServer();
    const client = track(await connect({ endpoints: [server.url], auth: alice, ...fast }));
    server.swallow = (request) => request.op === 'create';
    const write = client.create('/w');
    await server.waitFor(isReq('create'));
    cluster.users.delete('alice');
    const states = recordStates(client);
    const read = client.get('/');
    const error = await failure(write);
    expect(error).toMatchObject({ code: 'AUTH_FAILED' });
    expect((error as Error).message).toMatch(/create was sent when the client ended .*whether it took effect is unknown/);
    await expect(read).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.not.stringMatching(/unknown/) as unknown });
    expect(states).toEqual(['closed']);
    // Nothing was dialled again: the refusal is final.
    expect(server.frames.filter(isHello)).toHaveLength(1);
  });

  it('refuses unusable credentials with BAD_ARGUMENTS before any socket is opened', () => {
    expect(() => resolveOptions({ endpoints: ['h:1'], auth: { user: '', secret: 's' } })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENTS' }));
    expect(() => resolveOptions({ endpoints: ['h:1'], auth: { user: 'a'.repeat(65), secret: 's' } })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENTS' }));
    expect(() => resolveOptions({ endpoints: ['h:1'], auth: { user: 'a', secret: 'x'.repeat(1025) } })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENTS' }));
    expect(resolveOptions({ endpoints: ['h:1'], auth: alice }).auth).toEqual(alice);
    expect(resolveOptions({ endpoints: ['h:1'] }).auth).toBeNull();
  });
});

describe('ready-made ACLs', () => {
  it('the ready-made lists are ZooKeeper\'s, with ZooKeeper\'s permission bits', () => {
    expect(aclPerms).toEqual({ read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 });
    expect(acls.open).toEqual([{ scheme: 'world', id: 'anyone', perms: 31 }]);
    expect(acls.creatorAll).toEqual([{ scheme: 'auth', id: '', perms: 31 }]);
    expect(acls.readOnly).toEqual([{ scheme: 'world', id: 'anyone', perms: 1 }]);
    expect(Object.isFrozen(acls.open) && Object.isFrozen(acls.open[0])).toBe(true);
  });
});

describe('ACLs', () => {
  let cluster: FakeCluster;
  let server: FakeServer;
  const clients: VigilClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await cluster.close();
  });
  async function as(auth: { user: string; secret: string }, namespace?: string): Promise<VigilClient> {
    const client = await connect({ endpoints: [server.url], auth, ...fast, ...(namespace === undefined ? {} : { namespace }) });
    clients.push(client);
    return client;
  }
  async function secured(): Promise<void> {
    cluster = securedCluster();
    server = await cluster.startServer();
  }

  it('create with an acl sends it, and getAcl returns the stored list with the stat', async () => {
    await secured();
    const client = await as(alice);
    await client.create('/mine', 'x', { acl: acls.creatorAll });
    expect(server.frames.filter(isReq('create')).at(-1)).toMatchObject({ acl: [{ scheme: 'auth', id: '', perms: 31 }] });
    const { acl, stat } = await client.getAcl('/mine');
    expect(acl).toEqual([{ scheme: 'user', id: 'alice', perms: aclPerms.all }]);
    expect(stat).toMatchObject({ aversion: 0, dataLength: 1 });
  });

  it('setAcl replaces the list, compares the expected aversion, and answers the new stat', async () => {
    await secured();
    const client = await as(alice);
    await client.create('/n', '', { acl: acls.creatorAll });
    const next: AclEntry[] = [{ scheme: 'user', id: 'alice', perms: aclPerms.all }, { scheme: 'world', id: 'anyone', perms: aclPerms.read }];
    const stat = await client.setAcl('/n', next, { version: 0 });
    expect(stat.aversion).toBe(1);
    expect((await client.getAcl('/n')).acl).toEqual(next);
    await expect(client.setAcl('/n', acls.open, { version: 0 })).rejects.toMatchObject({ code: 'BAD_VERSION', path: '/n' });
    expect(server.frames.filter(isReq('setAcl')).at(-1)).toMatchObject({ path: '/n', acl: [...acls.open], version: 0 });
  });

  it('a node the ACL closes to a user fails NO_AUTH for that user, with the path', async () => {
    await secured();
    const owner = await as(alice);
    await owner.create('/private', 'secret', { acl: acls.creatorAll });
    const other = await as({ user: 'bob', secret: 'builder' });
    await expect(other.get('/private')).rejects.toMatchObject({ code: 'NO_AUTH', path: '/private', retryable: false });
    await expect(other.setAcl('/private', acls.open)).rejects.toMatchObject({ code: 'NO_AUTH' });
    const root = await as({ user: 'super', secret: 'root' });
    expect(await root.whoami()).toMatchObject({ user: 'super', superuser: true });
    expect((await root.get('/private')).stat.dataLength).toBe(6);
  });

  it('multi create ops carry their acl', async () => {
    await secured();
    const client = await as(alice);
    await client.multi([{ op: 'create', path: '/m', acl: acls.readOnly }]);
    expect(server.frames.filter(isReq('multi')).at(-1)).toMatchObject({ ops: [{ op: 'create', path: '/m', acl: [{ scheme: 'world', id: 'anyone', perms: 1 }] }] });
    expect((await client.getAcl('/m')).acl).toEqual(acls.readOnly);
  });

  it('with a namespace, ACL calls take and give paths relative to it', async () => {
    await secured();
    const admin = await as(alice);
    await admin.create('/app', '', { acl: acls.open });
    const client = await as(alice, '/app');
    await client.create('/x', '', { acl: acls.creatorAll });
    expect(server.frames.filter(isReq('create')).at(-1)).toMatchObject({ path: '/app/x' });
    expect((await client.getAcl('/x')).acl).toEqual([{ scheme: 'user', id: 'alice', perms: 31 }]);
    await client.setAcl('/x', [{ scheme: 'user', id: 'bob', perms: aclPerms.read }]);
    expect(server.frames.filter(isReq('setAcl')).at(-1)).toMatchObject({ path: '/app/x' });
    await expect(client.getAcl('/x')).rejects.toMatchObject({ code: 'NO_AUTH', path: '/x' });
  });

  it('refuses a malformed acl with BAD_ARGUMENTS before sending it, and sends only the wire fields', async () => {
    cluster = new FakeCluster();
    server = await cluster.startServer();
    const client = await connect({ endpoints: [server.url] });
    clients.push(client);
    await client.create('/a');
    const bad = [
      [{ scheme: 'sasl', id: 'x', perms: 1 }],
      [{ scheme: 'world', id: 'anyone', perms: 32 }],
      [{ scheme: 'world', id: 'anyone', perms: 1.5 }],
      [{ scheme: 'user', id: 7, perms: 1 }],
    ] as unknown as AclEntry[][];
    for (const acl of bad) {
      await expect(client.setAcl('/a', acl)).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
      await expect(client.create('/b', '', { acl })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    }
    expect(server.frames.filter(isReq('setAcl'))).toHaveLength(0);
    const withExtra: AclEntry[] = [Object.assign({ scheme: 'world', id: 'anyone', perms: 1 } as const, { note: 'mine' })];
    await client.setAcl('/a', withExtra);
    expect(server.frames.filter(isReq('setAcl')).at(-1)).toMatchObject({ acl: [{ scheme: 'world', id: 'anyone', perms: 1 }] });
    const sent = server.frames.filter(isReq('setAcl')).at(-1);
    expect(sent?.op === 'setAcl' ? sent.acl[0] : undefined).not.toHaveProperty('note');
  });

  it('setAcl is exactly-once: an answer lost with the connection is recovered by a resend under the same seq', async () => {
    cluster = new FakeCluster();
    const first = await cluster.startServer(1);
    const second = await cluster.startServer(2);
    second.refuseHello = 'SHUTTING_DOWN';
    const client = await connect({ endpoints: [first.url, second.url], ...fast });
    clients.push(client);
    second.refuseHello = null;
    await client.create('/a');
    first.swallow = (request) => request.op === 'setAcl';
    const write = client.setAcl('/a', acls.readOnly);
    const sent = await first.waitFor(isReq('setAcl'));
    expect(cluster.nodes.get('/a')?.stat.aversion).toBe(1);
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
    expect((await write).aversion).toBe(1);
    expect(cluster.nodes.get('/a')?.stat.aversion).toBe(1);
    const resent = await second.waitFor(isReq('setAcl'));
    expect(resent).toMatchObject({ seq: (sent as { seq: number }).seq });
    expect((sent as { seq: number }).seq).toBe(2);
  });
});

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withDeadline } from '../scripts/bench/processes.js';
import { waitFor } from './support/cluster.js';
import {
  type Client, closeClient, codeOf, commit, containerFlags, create, createContainer, exists, getACL, getChildren, getData, long, mkdirp, openClient, remove,
  sessionIdOf, sessionTimeoutMs, setACL, setData, sync, watcher, zookeeper, type ZkEvent,
} from './support/zookeeper-node-client.js';
import { memberOnZooKeeperPort, startTarget, type ZooKeeperTarget, zookeeperTargetNames } from './support/zookeeper-target.js';

/**
 * node-zookeeper-client (a pure-JavaScript client of ZooKeeper's wire protocol) against a real
 * ZooKeeper 3.8 and against Vigil's ZooKeeper listener: the same assertions for both, one server
 * per target shared by the file's tests, each test under a root of its own.
 */

const { CreateMode, Exception, Event, Permission, ACL, Id } = zookeeper;

describe.each(zookeeperTargetNames())('node-zookeeper-client against %s', (name) => {
  let target: ZooKeeperTarget;
  let a: Client;
  let b: Client;
  beforeAll(async () => {
    target = await startTarget(name);
    a = await openClient(target.connectString);
    b = await openClient(target.connectString);
  });
  afterAll(async () => {
    if (a !== undefined) await closeClient(a);
    if (b !== undefined) await closeClient(b);
    await target?.stop();
  });

  test('a session has a non-zero 64-bit id and the 4 s timeout it asked for', async () => {
    expect(a.getSessionId()).toHaveLength(8);
    expect(sessionIdOf(a)).not.toBe(0n);
    expect(sessionIdOf(a)).not.toBe(sessionIdOf(b));
    expect(a.getSessionPassword()).toHaveLength(16);
    expect(a.getSessionTimeout()).toBe(sessionTimeoutMs);
    expect(a.getState().name).toBe('SYNC_CONNECTED');
  });

  test('create: persistent, ephemeral, sequential and container nodes; NODE_EXISTS and NO_NODE', async () => {
    expect(await create(a, '/create', 'root')).toBe('/create');
    expect(await create(a, '/create/p', 'persistent')).toBe('/create/p');
    expect(await codeOf(create(a, '/create/p'))).toBe(Exception.NODE_EXISTS);
    expect(await codeOf(create(a, '/create/missing/child'))).toBe(Exception.NO_NODE);

    expect(await create(a, '/create/e', 'eph', CreateMode.EPHEMERAL)).toBe('/create/e');
    expect(long((await getData(a, '/create/e')).stat.ephemeralOwner)).toBe(sessionIdOf(a));
    expect(long((await getData(a, '/create/p')).stat.ephemeralOwner)).toBe(0n);
    // An ephemeral node has no children.
    expect(await codeOf(create(a, '/create/e/child'))).toBe(Exception.NO_CHILDREN_FOR_EPHEMERALS);

    expect(await create(a, '/create/s-', 'seq', CreateMode.PERSISTENT_SEQUENTIAL)).toMatch(/^\/create\/s-\d{10}$/);
    expect(await create(a, '/create/es-', 'seq', CreateMode.EPHEMERAL_SEQUENTIAL)).toMatch(/^\/create\/es-\d{10}$/);

    // A container is removed by the server once its last child goes (ZooKeeper's reaper runs
    // every znode.container.checkIntervalMs, 100 ms in the test server). It takes the
    // createContainer op: container flags (4) on a plain create make a plain persistent node,
    // which the same reaper pass leaves alone. Clients see ephemeralOwner 0 for both.
    expect(await create(a, '/create/not-c', '', containerFlags)).toBe('/create/not-c');
    expect(await createContainer(a, '/create/c')).toBe('/create/c');
    expect(long((await getData(a, '/create/c')).stat.ephemeralOwner)).toBe(0n);
    for (const parent of ['/create/not-c', '/create/c']) {
      await create(a, `${parent}/child`);
      await remove(a, `${parent}/child`);
    }
    await waitFor('the empty container to be removed', async () => ((await exists(a, '/create/c')) === null ? true : undefined), 10_000, 50);
    expect(await exists(a, '/create/not-c')).not.toBeNull();
    // node-zookeeper-client cannot create TTL nodes (it has no CreateTTLRequest): see the C client's test.
  });

  test('mkdirp creates every missing ancestor and accepts an existing path', async () => {
    expect(await mkdirp(a, '/mk/a/b/c', 'leaf')).toBe('/mk/a/b/c');
    expect((await getChildren(a, '/mk/a')).children).toEqual(['b']);
    expect((await getData(a, '/mk/a/b/c')).data).toBe('leaf');
    expect(await mkdirp(a, '/mk/a/b/c')).toBe('/mk/a/b/c');
  });

  test('exists: a stat when present, null when absent; a watch on an absent node fires NodeCreated', async () => {
    await create(a, '/ex', 'x');
    expect((await exists(a, '/ex'))?.dataLength).toBe(1);
    const w = watcher('exists');
    expect(await exists(a, '/ex/later', w.fn)).toBeNull();
    await create(b, '/ex/later', 'now');
    const event = await w.event;
    expect(event.type).toBe(Event.NODE_CREATED);
    expect(event.name).toBe('NODE_CREATED');
    expect(event.path).toBe('/ex/later');
  });

  test('a data watch fires NodeDataChanged on setData and NodeDeleted on delete, once each', async () => {
    await create(a, '/dw', 'one');
    const changed = watcher('data');
    const seen: ZkEvent[] = [];
    expect((await getData(a, '/dw', (e) => { seen.push(e); changed.fn(e); })).data).toBe('one');
    await setData(b, '/dw', 'two');
    expect((await changed.event).type).toBe(Event.NODE_DATA_CHANGED);
    expect((await changed.event).path).toBe('/dw');
    // One-shot: a second change without re-arming fires nothing; re-armed, delete fires NodeDeleted.
    await setData(b, '/dw', 'three');
    const deleted = watcher('data');
    // a's member may not have applied b's write yet: a syncs before it reads (ZooKeeper's rule).
    await sync(a, '/dw');
    expect((await getData(a, '/dw', deleted.fn)).data).toBe('three');
    await remove(b, '/dw');
    expect((await deleted.event).type).toBe(Event.NODE_DELETED);
    await sync(a, '/');
    expect(seen).toHaveLength(1);
  });

  test('setData checks the version: the current one succeeds, another is BAD_VERSION, -1 always succeeds, -2 is BAD_VERSION', async () => {
    await create(a, '/sv', 'v0');
    expect((await setData(a, '/sv', 'v1', 0)).version).toBe(1);
    expect(await codeOf(setData(a, '/sv', 'stale', 0))).toBe(Exception.BAD_VERSION);
    expect(await codeOf(setData(a, '/sv', 'future', 7))).toBe(Exception.BAD_VERSION);
    expect(await codeOf(setData(a, '/sv', 'minus two', -2))).toBe(Exception.BAD_VERSION);
    expect((await setData(a, '/sv', 'any', -1)).version).toBe(2);
    expect(await codeOf(setData(a, '/sv/none', 'x'))).toBe(Exception.NO_NODE);
    expect((await getData(a, '/sv')).data).toBe('any');
  });

  test('delete checks the version, refuses a node with children (NOT_EMPTY) and an absent node (NO_NODE)', async () => {
    await create(a, '/del', 'p');
    await create(a, '/del/child', 'c');
    expect(await codeOf(remove(a, '/del'))).toBe(Exception.NOT_EMPTY);
    await setData(a, '/del/child', 'c1');
    expect(await codeOf(remove(a, '/del/child', 0))).toBe(Exception.BAD_VERSION);
    await remove(a, '/del/child', 1);
    expect(await codeOf(remove(a, '/del/child'))).toBe(Exception.NO_NODE);
    await remove(a, '/del', 0);
    expect(await exists(a, '/del')).toBeNull();
  });

  test('getChildren lists the children with the parent stat; a child watch fires NodeChildrenChanged', async () => {
    await create(a, '/gc', 'parent');
    await create(a, '/gc/b');
    await create(a, '/gc/a');
    const listed = await getChildren(a, '/gc');
    expect(listed.children).toEqual(['a', 'b']);
    expect(listed.stat.numChildren).toBe(2);
    expect(listed.stat.cversion).toBe(2);
    expect(listed.stat.dataLength).toBe('parent'.length);
    expect(await codeOf(getChildren(a, '/gc/none'))).toBe(Exception.NO_NODE);

    const w = watcher('child');
    await getChildren(a, '/gc', w.fn);
    // A data change of the parent does not fire a child watch; a new child does.
    await setData(b, '/gc', 'parent2');
    await create(b, '/gc/c');
    const event = await w.event;
    expect(event.type).toBe(Event.NODE_CHILDREN_CHANGED);
    expect(event.path).toBe('/gc');
  });

  test('stat fields: zxid order, versions, child counts, data length', async () => {
    await create(a, '/st', 'abc');
    const created = (await getData(a, '/st')).stat;
    expect(created.version).toBe(0);
    expect(created.cversion).toBe(0);
    expect(created.aversion).toBe(0);
    expect(created.dataLength).toBe(3);
    expect(created.numChildren).toBe(0);
    expect(long(created.mzxid)).toBe(long(created.czxid));
    expect(long(created.pzxid)).toBe(long(created.czxid));
    expect(long(created.mtime)).toBe(long(created.ctime));
    expect(long(created.ctime)).toBeGreaterThan(0n);

    const afterSet = await setData(a, '/st', 'abcdef');
    expect(long(afterSet.czxid)).toBe(long(created.czxid));
    expect(long(afterSet.mzxid)).toBeGreaterThan(long(created.czxid));
    expect(afterSet.version).toBe(1);
    expect(afterSet.dataLength).toBe(6);
    expect(long(afterSet.pzxid)).toBe(long(created.pzxid));

    await create(a, '/st/kid');
    const kid = (await getData(a, '/st/kid')).stat;
    const parent = (await getData(a, '/st')).stat;
    expect(long(kid.czxid)).toBeGreaterThan(long(afterSet.mzxid));
    // A child's create moves the parent's pzxid to the child's czxid, not its mzxid or version.
    expect(long(parent.pzxid)).toBe(long(kid.czxid));
    expect(long(parent.mzxid)).toBe(long(afterSet.mzxid));
    expect(parent.version).toBe(1);
    expect(parent.cversion).toBe(1);
    expect(parent.numChildren).toBe(1);

    await remove(a, '/st/kid');
    const afterDelete = (await getData(a, '/st')).stat;
    expect(long(afterDelete.pzxid)).toBeGreaterThan(long(kid.czxid));
    expect(afterDelete.cversion).toBe(2);
    expect(afterDelete.numChildren).toBe(0);
    // Root-level zxids are shared by all nodes: a later write anywhere has a larger zxid.
    await create(b, '/st-later');
    // Another session's write: a sync makes this session's member catch up first, as in ZooKeeper.
    await sync(a, '/st-later');
    expect(long((await getData(a, '/st-later')).stat.czxid)).toBeGreaterThan(long(afterDelete.pzxid));
  });

  test('a sequential suffix is 10 digits and counts the parent\'s creates: a delete does not use up a number', async () => {
    await create(a, '/seq');
    const first = await create(a, '/seq/n-', '', CreateMode.PERSISTENT_SEQUENTIAL);
    const second = await create(a, '/seq/n-', '', CreateMode.PERSISTENT_SEQUENTIAL);
    expect([first, second]).toEqual(['/seq/n-0000000000', '/seq/n-0000000001']);
    await remove(a, second);
    // The parent's cversion counts deletes too (3 now), yet ZooKeeper 3.8 hands out 2 next: the
    // suffix is not the cversion read back through the API.
    expect((await getChildren(a, '/seq')).stat.cversion).toBe(3);
    expect(await create(a, '/seq/n-', '', CreateMode.PERSISTENT_SEQUENTIAL)).toBe('/seq/n-0000000002');
    // Every name under the parent shares one counter: a plain child also takes a number.
    await create(a, '/seq/plain');
    expect(await create(a, '/seq/other-', '', CreateMode.EPHEMERAL_SEQUENTIAL)).toBe('/seq/other-0000000004');
    expect((await getChildren(a, '/seq')).stat.cversion).toBe(6);
  });

  test('a multi applies all of its ops (check, create, setData, delete) and returns a result per op', async () => {
    await create(a, '/multi');
    await create(a, '/multi/doomed');
    await create(a, '/multi/x', 'x0');
    await setData(a, '/multi/x', 'x1');
    const { error, results } = await commit((t) => t
      .check('/multi/x', 1)
      .create('/multi/new', Buffer.from('n'))
      .create('/multi/s-', Buffer.from(''), CreateMode.PERSISTENT_SEQUENTIAL)
      .setData('/multi/x', Buffer.from('x2'), 1)
      .remove('/multi/doomed', -1), a);
    expect(error).toBeNull();
    expect(results.map((r) => r.type)).toEqual([13, 1, 1, 5, 2]);
    expect(results[1]!.path).toBe('/multi/new');
    expect(results[2]!.path).toMatch(/^\/multi\/s-\d{10}$/);
    expect(results[3]!.stat!.version).toBe(2);
    expect((await getData(a, '/multi/x')).data).toBe('x2');
    expect(await exists(a, '/multi/doomed')).toBeNull();
    expect((await getChildren(a, '/multi')).children).toEqual(['new', results[2]!.path!.slice('/multi/'.length), 'x'].sort());
  });

  test('a failed multi applies nothing: the failing op has its code, earlier ops 0, later ops RUNTIME_INCONSISTENCY', async () => {
    await create(a, '/mfail');
    await create(a, '/mfail/x', 'x0');
    const { error, results } = await commit((t) => t
      .create('/mfail/a', Buffer.from('a'))
      .setData('/mfail/x', Buffer.from('changed'), -1)
      .create('/mfail/x', Buffer.from('again'))
      .remove('/mfail/x', -1), a);
    expect(error?.code).toBe(Exception.NODE_EXISTS);
    expect(results).toEqual([
      { type: -1, err: Exception.OK },
      { type: -1, err: Exception.OK },
      { type: -1, err: Exception.NODE_EXISTS },
      { type: -1, err: Exception.RUNTIME_INCONSISTENCY },
    ]);
    expect(await exists(a, '/mfail/a')).toBeNull();
    expect((await getData(a, '/mfail/x')).data).toBe('x0');

    // A check of a wrong version fails the whole multi with BAD_VERSION.
    const checked = await commit((t) => t.create('/mfail/b').check('/mfail/x', 5), a);
    expect(checked.error?.code).toBe(Exception.BAD_VERSION);
    expect(checked.results.map((r) => r.err)).toEqual([Exception.OK, Exception.BAD_VERSION]);
    expect(await exists(a, '/mfail/b')).toBeNull();
    expect((await getChildren(a, '/mfail')).stat.cversion).toBe(1);
  });

  test('ACLs: world:anyone by default, setACL checks the ACL version, digest ACLs need addAuthInfo', async () => {
    await create(a, '/acl', 'open');
    const open = await getACL(a, '/acl');
    expect(open.acls).toEqual([{ permission: Permission.ALL, id: { scheme: 'world', id: 'anyone' } }]);
    expect(open.stat.aversion).toBe(0);

    // Read-only for everyone: writes are refused with NO_AUTH, reads still work; aversion counts.
    expect(await codeOf(setACL(a, '/acl', ACL.READ_ACL_UNSAFE, 3))).toBe(Exception.BAD_VERSION);
    const readOnly = await setACL(a, '/acl', ACL.READ_ACL_UNSAFE, 0);
    expect(readOnly.aversion).toBe(1);
    expect(readOnly.version).toBe(0);
    // The ACL is checked before the version: without ADMIN, even a stale version gets NO_AUTH.
    expect(await codeOf(setACL(a, '/acl', ACL.OPEN_ACL_UNSAFE, 0))).toBe(Exception.NO_AUTH);
    expect(await codeOf(setData(b, '/acl', 'nope'))).toBe(Exception.NO_AUTH);
    expect((await getData(b, '/acl')).data).toBe('open');
    expect((await getACL(b, '/acl')).acls).toEqual([{ permission: Permission.READ, id: { scheme: 'world', id: 'anyone' } }]);

    // digest:user:base64(sha1("user:password")) — only a session that added that identity gets in.
    const digest = `vigil:${createHash('sha1').update('vigil:secret').digest('base64')}`;
    await create(a, '/acl-private', 'hidden', CreateMode.PERSISTENT, [new ACL(Permission.ALL, new Id('digest', digest))]);
    // Each session below reads a node another session made: it syncs first, as a ZooKeeper
    // application must (its member may not have applied the create yet).
    await sync(b, '/acl-private');
    expect(await codeOf(getData(b, '/acl-private'))).toBe(Exception.NO_AUTH);
    // Reading an ACL takes READ or ADMIN on the node (ZooKeeper 3.8).
    expect(await codeOf(getACL(b, '/acl-private'))).toBe(Exception.NO_AUTH);
    const authed = await openClient(target.connectString);
    try {
      authed.addAuthInfo('digest', Buffer.from('vigil:secret'));
      await sync(authed, '/acl-private');
      expect((await getData(authed, '/acl-private')).data).toBe('hidden');
      expect((await getACL(authed, '/acl-private')).acls).toEqual([{ permission: Permission.ALL, id: { scheme: 'digest', id: digest } }]);
      expect((await setData(authed, '/acl-private', 'seen')).version).toBe(1);
    } finally {
      await closeClient(authed);
    }
    // A wrong password is just another identity: still NO_AUTH.
    const wrong = await openClient(target.connectString);
    try {
      wrong.addAuthInfo('digest', Buffer.from('vigil:guess'));
      await sync(wrong, '/acl-private');
      expect(await codeOf(getData(wrong, '/acl-private'))).toBe(Exception.NO_AUTH);
    } finally {
      await closeClient(wrong);
    }
  });

  test('sync, then a read on another session, sees a write that session did not make', async () => {
    await create(a, '/sync', 'before');
    await setData(b, '/sync', 'after');
    await sync(a, '/sync');
    expect((await getData(a, '/sync')).data).toBe('after');
    expect(await codeOf(sync(a, '/sync'))).toBe(Exception.OK);
  });

  test('a watch event reaches the client before the reply of a later read that sees the change', async () => {
    await create(a, '/order', '0');
    const order: string[] = [];
    const w = watcher('data');
    await getData(a, '/order', (e) => {
      order.push(`event ${e.name}`);
      w.fn(e);
    });
    await setData(b, '/order', '1');
    // Poll on the watching session until a read sees the new value: the event must be logged first.
    await waitFor('session a to read the change', async () => {
      const { data } = await getData(a, '/order');
      order.push(`read ${data}`);
      return data === '1' ? true : undefined;
    }, 10_000, 10);
    const firstNew = order.indexOf('read 1');
    expect(order.indexOf('event NODE_DATA_CHANGED')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('event NODE_DATA_CHANGED')).toBeLessThan(firstNew);
    await w.event;
  });

  test('an ephemeral node goes when its session is closed, and a watcher on it sees NodeDeleted', async () => {
    const owner = await openClient(target.connectString);
    let closed = false;
    try {
      await create(owner, '/eph-owner', 'held', CreateMode.EPHEMERAL);
      await create(a, '/eph-parent');
      await create(owner, '/eph-parent/member-', '', CreateMode.EPHEMERAL_SEQUENTIAL);
      const w = watcher('exists');
      await sync(a, '/eph-owner');
      const stat = await exists(a, '/eph-owner', w.fn);
      expect(long(stat!.ephemeralOwner)).toBe(sessionIdOf(owner));
      await closeClient(owner);
      closed = true;
      const event = await w.event;
      expect(event.type).toBe(Event.NODE_DELETED);
      expect(await exists(a, '/eph-owner')).toBeNull();
      expect((await getChildren(a, '/eph-parent')).children).toEqual([]);
    } finally {
      if (!closed) await closeClient(owner);
    }
  });
});

/**
 * Vigil only: a session outlives the member it was connected to. It needs three members; the
 * real-ZooKeeper target is a standalone server, so this describe is generated for Vigil alone
 * (not skipped): to run the same against ZooKeeper would take a three-member ensemble.
 */
describe.each(zookeeperTargetNames().filter((n) => n === 'vigil'))('node-zookeeper-client against %s, a member killed', (name) => {
  let target: ZooKeeperTarget;
  beforeAll(async () => {
    target = await startTarget(name);
  });
  afterAll(async () => {
    await target?.stop();
  });

  test('a client moves to another member with the same session, its ephemeral node and its armed watch', async () => {
    const cluster = target.cluster!;
    const client = await openClient(target.connectString, { sessionTimeoutMs: 10_000 });
    let writer: Client | undefined;
    try {
      const port = (client.connectionManager as unknown as { socket: { remotePort: number } }).socket.remotePort;
      const member = memberOnZooKeeperPort(cluster, port);
      const session = sessionIdOf(client);
      await create(client, '/moved', 'v0');
      await create(client, '/moved-eph', '', CreateMode.EPHEMERAL);
      const w = watcher('data');
      await getData(client, '/moved', w.fn);

      const reconnected = new Promise<void>((resolve) => client.once('disconnected', () => client.once('connected', () => resolve())));
      await cluster.kill(member);
      await withDeadline(reconnected, 20_000, 'the client to reconnect to another member');
      expect(sessionIdOf(client)).toBe(session);
      const newPort = (client.connectionManager as unknown as { socket: { remotePort: number } }).socket.remotePort;
      expect(newPort).not.toBe(port);

      writer = await openClient(cluster.zookeeperConnectString(cluster.live()));
      await sync(writer, '/moved-eph');
      expect(long((await exists(writer, '/moved-eph'))!.ephemeralOwner)).toBe(session);
      await setData(writer, '/moved', 'v1');
      expect(await w.event).toMatchObject({ type: Event.NODE_DATA_CHANGED, path: '/moved' });
      expect((await getData(client, '/moved')).data).toBe('v1');
      await cluster.heal();
    } finally {
      if (writer !== undefined) await closeClient(writer);
      await closeClient(client);
    }
  }, 60_000);

  test('creates in flight when the client\'s member is killed, and more at once after it moves: each one answered took effect, under its own path (decision 61)', async () => {
    const cluster = target.cluster!;
    const client = await openClient(target.connectString, { sessionTimeoutMs: 10_000 });
    try {
      await create(client, '/inflight');
      const port = (client.connectionManager as unknown as { socket: { remotePort: number } }).socket.remotePort;
      const member = memberOnZooKeeperPort(cluster, port);
      const wave = (n: number): Promise<{ asked: string; got: string | null }>[] =>
        Array.from({ length: 100 }, (_, i) => `/inflight/w${n}-${i}`).map((asked) => create(client, asked).then((got) => ({ asked, got }), () => ({ asked, got: null })));
      const reconnected = new Promise<void>((resolve) => client.once('disconnected', () => client.once('connected', () => resolve())));
      const first = wave(1);
      await cluster.kill(member);
      await withDeadline(reconnected, 20_000, 'the client to reconnect to another member');
      const second = wave(2);
      const answers = await Promise.all([...first, ...second]);
      // The writes sent after the move all take effect; those cut off by the kill may or may not have.
      expect(answers.slice(100).filter((a) => a.got === null)).toEqual([]);
      const answered = answers.filter((a) => a.got !== null);
      expect(answered.filter((a) => a.got !== a.asked)).toEqual([]);
      await sync(client, '/inflight');
      const { children } = await getChildren(client, '/inflight');
      expect(answered.map((a) => a.asked.slice('/inflight/'.length)).filter((name) => !children.includes(name))).toEqual([]);
      // No write of the lost connection took effect after one of the new connection's.
      const czxid = async (name: string): Promise<bigint> => long((await exists(client, `/inflight/${name}`))!.czxid);
      const firstWave = await Promise.all(children.filter((c) => c.startsWith('w1-')).map(czxid));
      const secondWave = await Promise.all(children.filter((c) => c.startsWith('w2-')).map(czxid));
      expect(secondWave).toHaveLength(100);
      const secondStart = secondWave.reduce((m, z) => (z < m ? z : m));
      expect(firstWave.filter((z) => z > secondStart)).toEqual([]);
      await cluster.heal();
    } finally {
      await closeClient(client);
    }
  }, 60_000);
});

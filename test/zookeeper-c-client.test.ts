import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from './support/cluster.js';
import { addAuth, bounded, type CClient, cWatcher, mkdirp, openCClient, rcOf, zk } from './support/zookeeper-c-client.js';
import { startTarget, type ZooKeeperTarget, zookeeperTargetNames } from './support/zookeeper-target.js';

/**
 * ZooKeeper's own C client (the `zookeeper` npm package builds it from source) against a real
 * ZooKeeper 3.8 and against Vigil's ZooKeeper listener. The package exposes no multi/transaction,
 * persistent watches or removeWatches (7.3.0), so those are covered by node-zookeeper-client
 * (multi) or not at all.
 */

describe.each(zookeeperTargetNames())('the ZooKeeper C client against %s', (name) => {
  let target: ZooKeeperTarget;
  let a: CClient;
  let b: CClient;
  beforeAll(async () => {
    target = await startTarget(name);
    a = await openCClient(target.connectString);
    b = await openCClient(target.connectString);
  });
  afterAll(async () => {
    a?.close();
    b?.close();
    await target?.stop();
  });

  test('a session: a non-zero id, a 16-byte password, the negotiated 4 s timeout, connected state', () => {
    expect(a.client_id).toMatch(/^[0-9a-f]+$/);
    expect(BigInt(`0x${a.client_id}`)).not.toBe(0n);
    expect(a.client_id).not.toBe(b.client_id);
    expect(a.client_password).toMatch(/^[0-9A-F]{32}$/);
    expect(a.timeout).toBe(4_000);
    expect(a.state).toBe(zk['ZOO_CONNECTED_STATE']);
  });

  test('create, get, exists, set and delete_ with their error codes', async () => {
    expect(await bounded(a.create('/c', 'hello', zk['ZOO_PERSISTENT']!))).toBe('/c');
    expect(await rcOf(a.create('/c', 'again', zk['ZOO_PERSISTENT']!))).toBe(zk['ZNODEEXISTS']);
    expect(await rcOf(a.create('/c/missing/x', '', zk['ZOO_PERSISTENT']!))).toBe(zk['ZNONODE']);
    const [stat, data] = await bounded(a.get('/c', false));
    expect(data).toBe('hello');
    expect(stat).toMatchObject({ version: 0, cversion: 0, aversion: 0, dataLength: 5, numChildren: 0, ephemeralOwner: '0' });
    expect(stat.mzxid).toBe(stat.czxid);
    expect(stat.ctime.getTime()).toBe(stat.mtime.getTime());
    // The C client reports an absent node as ZNONODE, not as a null stat.
    expect(await rcOf(a.exists('/c/none', false))).toBe(zk['ZNONODE']);
    // Session b reads what a wrote: it syncs first, as a ZooKeeper application must (its server
    // may not have applied the create yet).
    await bounded(b.sync('/c'));
    expect((await bounded(b.exists('/c', false))).dataLength).toBe(5);

    const set = await bounded(b.set('/c', 'world!', 0));
    expect(set.version).toBe(1);
    expect(set.czxid).toBe(stat.czxid);
    expect(set.mzxid).toBeGreaterThan(stat.mzxid);
    expect(await rcOf(b.set('/c', 'stale', 0))).toBe(zk['ZBADVERSION']);
    expect(await rcOf(b.set('/c', 'minus two', -2))).toBe(zk['ZBADVERSION']);
    expect(await rcOf(b.set('/c/none', 'x', -1))).toBe(zk['ZNONODE']);

    await bounded(a.create('/c/kid', '', zk['ZOO_PERSISTENT']!));
    expect(await rcOf(a.delete_('/c', -1))).toBe(zk['ZNOTEMPTY']);
    expect(await rcOf(a.delete_('/c/kid', 3))).toBe(zk['ZBADVERSION']);
    await bounded(a.delete_('/c/kid', 0));
    expect(await rcOf(a.delete_('/c/kid', -1))).toBe(zk['ZNONODE']);
    await bounded(a.delete_('/c', 1));
    expect(await rcOf(a.exists('/c', false))).toBe(zk['ZNONODE']);
  });

  test('ephemeral and sequential nodes: owner is the session, suffix 10 digits, no children under an ephemeral', async () => {
    await bounded(a.create('/es', '', zk['ZOO_PERSISTENT']!));
    expect(await bounded(a.create('/es/e', 'x', zk['ZOO_EPHEMERAL']!))).toBe('/es/e');
    const [stat] = await bounded(a.get('/es/e', false));
    expect(stat.ephemeralOwner).toBe(a.client_id);
    expect(stat.createdInThisSession).toBe(true);
    expect(await rcOf(a.create('/es/e/kid', '', zk['ZOO_PERSISTENT']!))).toBe(zk['ZNOCHILDRENFOREPHEMERALS']);
    expect(await bounded(a.create('/es/s-', '', zk['ZOO_PERSISTENT_SEQUENTIAL']!))).toBe('/es/s-0000000001');
    expect(await bounded(a.create('/es/q-', '', zk['ZOO_EPHEMERAL_SEQUENTIAL']!))).toBe('/es/q-0000000002');
    const [children, parent] = await bounded(a.get_children2('/es', false));
    expect([...children].sort()).toEqual(['e', 'q-0000000002', 's-0000000001']);
    expect(parent.numChildren).toBe(3);
    expect(parent.cversion).toBe(3);
  });

  test('container and TTL nodes are removed by the server once empty or expired', async () => {
    expect(await bounded(a.create('/box', '', zk['ZOO_CONTAINER']!))).toBe('/box');
    await bounded(a.create('/box/item', '', zk['ZOO_PERSISTENT']!));
    await bounded(a.delete_('/box/item', -1));
    // A TTL of 300 ms: the node goes once unmodified that long with no children.
    expect(await bounded(a.create('/ttl', 'short-lived', zk['ZOO_PERSISTENT_WITH_TTL']!, 300))).toBe('/ttl');
    expect(await bounded(a.create('/ttl-seq-', '', zk['ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL']!, 300))).toMatch(/^\/ttl-seq-\d{10}$/);
    await waitFor('the empty container and the expired TTL nodes to be removed', async () => {
      const gone = await Promise.all(['/box', '/ttl'].map(async (p) => (await rcOf(a.exists(p, false))) === zk['ZNONODE']));
      const left = (await bounded(a.get_children('/', false))).filter((n) => n.startsWith('ttl-seq-'));
      return gone.every(Boolean) && left.length === 0 ? true : undefined;
    }, 15_000, 50);
  });

  test('mkdirp creates every missing ancestor (with the library\'s own placeholder data)', async () => {
    await mkdirp(a, '/mk/x/y');
    expect(await bounded(a.get_children('/mk/x', false))).toEqual(['y']);
    expect((await bounded(a.get('/mk/x/y', false)))[1]).toBe('created by zk-mkdir-p');
    await mkdirp(a, '/mk/x/y');
  });

  test('watches: NodeCreated through w_exists, NodeDataChanged and NodeDeleted through w_get, NodeChildrenChanged through w_get_children', async () => {
    const created = cWatcher('exists');
    expect(await rcOf(a.w_exists('/w', created.fn))).toBe(zk['ZNONODE']);
    await bounded(b.create('/w', 'v0', zk['ZOO_PERSISTENT']!));
    expect(await created.event).toEqual({ type: zk['ZOO_CREATED_EVENT'], path: '/w' });

    const changed = cWatcher('data');
    expect((await bounded(a.w_get('/w', changed.fn)))[1]).toBe('v0');
    await bounded(b.set('/w', 'v1', -1));
    expect(await changed.event).toEqual({ type: zk['ZOO_CHANGED_EVENT'], path: '/w' });

    const children = cWatcher('child');
    expect(await bounded(a.w_get_children('/w', children.fn))).toEqual([]);
    await bounded(b.create('/w/kid', '', zk['ZOO_PERSISTENT']!));
    expect(await children.event).toEqual({ type: zk['ZOO_CHILD_EVENT'], path: '/w' });

    const children2 = cWatcher('child2');
    const [listed, stat] = await bounded(a.w_get_children2('/w', children2.fn));
    expect(listed).toEqual(['kid']);
    expect(stat.numChildren).toBe(1);
    const deleted = cWatcher('data');
    await bounded(a.w_get('/w/kid', deleted.fn));
    await bounded(b.delete_('/w/kid', -1));
    expect(await deleted.event).toEqual({ type: zk['ZOO_DELETED_EVENT'], path: '/w/kid' });
    expect(await children2.event).toEqual({ type: zk['ZOO_CHILD_EVENT'], path: '/w' });
  });

  test('a watch event is delivered before the reply of a later read that sees the change', async () => {
    await bounded(a.create('/order', '0', zk['ZOO_PERSISTENT']!));
    const order: string[] = [];
    const w = cWatcher('data');
    await bounded(a.w_get('/order', (type, state, path) => {
      order.push(`event ${type}`);
      w.fn(type, state, path);
    }));
    await bounded(b.set('/order', '1', -1));
    await waitFor('session a to read the change', async () => {
      const [, data] = await bounded(a.get('/order', false));
      order.push(`read ${data}`);
      return data === '1' ? true : undefined;
    }, 10_000, 10);
    expect(order.indexOf(`event ${zk['ZOO_CHANGED_EVENT']}`)).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(`event ${zk['ZOO_CHANGED_EVENT']}`)).toBeLessThan(order.indexOf('read 1'));
  });

  test('sync returns the path, and a read after it sees another session\'s write', async () => {
    await bounded(a.create('/sync', 'before', zk['ZOO_PERSISTENT']!));
    await bounded(b.set('/sync', 'after', -1));
    expect(await bounded(a.sync('/sync'))).toBe('/sync');
    expect((await bounded(a.get('/sync', false)))[1]).toBe('after');
  });

  test('ACLs: get_acl, set_acl with its version, a digest ACL opened by add_auth', async () => {
    await bounded(a.create('/acl', 'open', zk['ZOO_PERSISTENT']!));
    const [acl, stat] = await bounded(a.get_acl('/acl'));
    expect(acl).toEqual([{ perms: zk['ZOO_PERM_ALL'], scheme: 'world', auth: 'anyone' }]);
    expect(stat.aversion).toBe(0);
    const digest = `c-client:${createHash('sha1').update('c-client:pw').digest('base64')}`;
    const privateAcl = [{ perms: zk['ZOO_PERM_ALL']!, scheme: 'digest', auth: digest }];
    expect(await rcOf(a.set_acl('/acl', 4, privateAcl))).toBe(zk['ZBADVERSION']);
    await bounded(a.set_acl('/acl', 0, privateAcl));
    await bounded(b.sync('/acl'));
    expect(await rcOf(b.get('/acl', false))).toBe(zk['ZNOAUTH']);
    expect(await rcOf(b.set('/acl', 'x', -1))).toBe(zk['ZNOAUTH']);
    const authed = await openCClient(target.connectString);
    try {
      await addAuth(authed, 'digest', 'c-client:pw');
      await bounded(authed.sync('/acl'));
      expect((await bounded(authed.get('/acl', false)))[1]).toBe('open');
      const [after, afterStat] = await bounded(authed.get_acl('/acl'));
      expect(after).toEqual(privateAcl);
      expect(afterStat.aversion).toBe(1);
    } finally {
      authed.close();
    }
  });

  test('closing a session removes its ephemeral nodes and fires the watches on them', async () => {
    const owner = await openCClient(target.connectString);
    let closed = false;
    try {
      await bounded(owner.create('/held', '', zk['ZOO_EPHEMERAL']!));
      const w = cWatcher('exists');
      await bounded(a.sync('/held'));
      await bounded(a.w_exists('/held', w.fn));
      owner.close();
      closed = true;
      expect(await w.event).toEqual({ type: zk['ZOO_DELETED_EVENT'], path: '/held' });
      expect(await rcOf(a.exists('/held', false))).toBe(zk['ZNONODE']);
    } finally {
      if (!closed) owner.close();
    }
  });
});

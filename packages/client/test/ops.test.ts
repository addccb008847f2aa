import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, VigilError, type VigilClient } from '@vigil/client';
import type { Request } from '@vigil/protocol';
import { FakeCluster, type FakeServer } from './support/fake-server.js';
import { text } from './support/helpers.js';

describe('operations', () => {
  let cluster: FakeCluster;
  let server: FakeServer;
  let client: VigilClient;
  beforeEach(async () => {
    cluster = new FakeCluster();
    server = await cluster.startServer();
    client = await connect({ endpoints: [server.url] });
  });
  afterEach(async () => {
    await client.close();
    await cluster.close();
  });

  it('create returns the created path and its stat; string data is UTF-8', async () => {
    const created = await client.create('/a', 'héllo');
    expect(created.path).toBe('/a');
    expect(created.stat).toMatchObject({ czxid: 1, version: 0, dataLength: 6, ephemeralOwner: 0 });
    const { data, stat } = await client.get('/a');
    expect(text(data)).toBe('héllo');
    expect(stat.czxid).toBe(1);
  });

  it('create passes mode, ttl and createParents; sequential paths come back with their suffix', async () => {
    const seq = await client.create('/p/q-', new Uint8Array([1]), { mode: 'ephemeral-sequential', createParents: true });
    expect(seq.path).toBe('/p/q-0000000000');
    expect(seq.stat.ephemeralOwner).toBe(client.sessionId);
    await client.create('/t', 'x', { mode: 'ttl', ttlMs: 60_000 });
    const request = await server.waitFor((f): f is Request => f.t === 'req' && f.op === 'create' && f.path === '/t');
    expect(request).toMatchObject({ mode: 'ttl', ttlMs: 60_000 });
  });

  it('set and delete take an expected version; a mismatch is BAD_VERSION with the path', async () => {
    await client.create('/a', 'one');
    const stat = await client.set('/a', 'two', { version: 0 });
    expect(stat.version).toBe(1);
    const error = await client.set('/a', 'three', { version: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VigilError);
    expect(error).toMatchObject({ code: 'BAD_VERSION', path: '/a', retryable: false });
    await expect(client.delete('/a', { version: 7 })).rejects.toMatchObject({ code: 'BAD_VERSION' });
    await client.delete('/a', { version: 1 });
    expect(await client.exists('/a')).toBeNull();
  });

  it('maps store errors to their codes', async () => {
    await expect(client.get('/missing')).rejects.toMatchObject({ code: 'NO_NODE', path: '/missing' });
    await client.create('/a');
    await expect(client.create('/a')).rejects.toMatchObject({ code: 'NODE_EXISTS' });
    await client.create('/a/b');
    await expect(client.delete('/a')).rejects.toMatchObject({ code: 'NOT_EMPTY' });
    await client.create('/e', '', { mode: 'ephemeral' });
    await expect(client.create('/e/x')).rejects.toMatchObject({ code: 'NO_CHILDREN_FOR_EPHEMERALS' });
  });

  it('exists returns the stat or null', async () => {
    expect(await client.exists('/a')).toBeNull();
    await client.create('/a', 'x');
    expect(await client.exists('/a')).toMatchObject({ dataLength: 1 });
  });

  it('children follows next pages and returns every name, with stats when asked', async () => {
    await client.create('/dir');
    for (const name of ['c', 'a', 'b']) await client.create(`/dir/${name}`, name);
    const lastCreate = (await client.exists('/dir/b'))!.czxid;
    const listing = await client.children('/dir');
    expect(listing).toEqual({ names: ['a', 'b', 'c'], revision: expect.any(Number) });
    // The revision the listing observed: at least the last change it shows.
    expect(listing.revision).toBeGreaterThanOrEqual(lastCreate);
    const withStats = await client.children('/dir', { withStats: true, consistency: 'sequential' });
    expect(withStats.names).toEqual(['a', 'b', 'c']);
    expect(withStats.stats?.map((s) => s.dataLength)).toEqual([1, 1, 1]);
    const request = await server.waitFor((f): f is Request => f.t === 'req' && f.op === 'children' && f.withStats === true);
    expect(request).toMatchObject({ consistency: 'sequential' });
  });

  it('children of a node with more than one page asks again with after', async () => {
    await client.create('/big');
    const names = Array.from({ length: 25 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    await client.multi(names.map((n) => ({ op: 'create' as const, path: `/big/${n}` })));
    // Pages of 10, as a server keeping its frames small may answer.
    const original = cluster.execute.bind(cluster);
    cluster.execute = (request, connection) => original(request.op === 'children' ? { ...request, limit: 10 } : request, connection);
    const listed = await client.children('/big');
    expect(listed.names).toEqual(names);
    const pages = server.frames.filter((f) => f.t === 'req' && f.op === 'children');
    expect(pages.map((p) => (p.t === 'req' && p.op === 'children' ? p.after : null))).toEqual([undefined, 'n009', 'n019']);
  });

  it('multi applies all ops at one revision or fails with the index of the first failing op', async () => {
    await client.create('/a', 'x');
    const results = await client.multi([
      { op: 'create', path: '/b', data: 'b' },
      { op: 'set', path: '/a', data: 'y', version: 0 },
      { op: 'check', path: '/a', version: 1 },
      { op: 'delete', path: '/b' },
    ]);
    expect(results.map((r) => r.op)).toEqual(['create', 'set', 'check', 'delete']);
    expect(results[0]).toMatchObject({ op: 'create', path: '/b' });
    const error = await client.multi([{ op: 'create', path: '/c' }, { op: 'check', path: '/a', version: 0 }]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BAD_VERSION', opIndex: 1 });
    expect(await client.exists('/c')).toBeNull();
  });

  it('sync resolves and lastRevision follows the highest revision seen', async () => {
    await client.create('/a');
    cluster.write({ op: 'create', path: '/b', data: new Uint8Array(0), mode: 'persistent' });
    expect(client.lastRevision).toBe(1);
    await client.sync();
    expect(client.lastRevision).toBe(2);
  });

  it('pipelines requests and matches answers by id, whatever their order', async () => {
    await client.create('/a', 'A');
    await client.create('/b', 'B');
    await client.create('/c', 'C');
    server.hold = (request) => request.op === 'get';
    const reads = ['/a', '/b', '/c'].map((path) => client.get(path));
    await server.waitFor((f) => f.t === 'req' && f.op === 'get' && f.path === '/c');
    expect(server.held).toHaveLength(3);
    const ids = server.held.map((h) => h.request.id);
    expect(new Set(ids).size).toBe(3);
    server.release((held) => [...held].reverse());
    const values = await Promise.all(reads);
    expect(values.map((v) => text(v.data))).toEqual(['A', 'B', 'C']);
  });
});

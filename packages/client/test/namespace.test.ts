import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type PersistentWatchEvent, type VigilClient, type WatchEvent } from '@vigil/client';
import type { Request } from '@vigil/protocol';
import { Namespace, parseNamespace } from '../src/paths.js';
import { FakeCluster, type FakeServer } from './support/fake-server.js';
import { deferred } from './support/helpers.js';

describe('Namespace', () => {
  it('maps / to the namespace itself and other paths below it', () => {
    const ns = new Namespace('/app');
    expect(ns.toServer('/')).toBe('/app');
    expect(ns.toServer('/x/y')).toBe('/app/x/y');
    expect(ns.fromServer('/app')).toBe('/');
    expect(ns.fromServer('/app/x')).toBe('/x');
    expect(ns.fromServer('/apple')).toBe('/apple');
  });

  it('without a namespace paths are unchanged, and relative paths are refused', () => {
    const ns = new Namespace(parseNamespace(''));
    expect(ns.toServer('/x')).toBe('/x');
    expect(() => ns.toServer('x')).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENTS' }));
    expect(parseNamespace('/')).toBe('');
  });

  it('refuses relative namespaces, trailing slashes and empty segments', () => {
    for (const bad of ['app', '/app/', '/a//b']) expect(() => parseNamespace(bad)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENTS' }));
  });
});

describe('a client with a namespace', () => {
  let cluster: FakeCluster;
  let server: FakeServer;
  let client: VigilClient;
  beforeEach(async () => {
    cluster = new FakeCluster();
    server = await cluster.startServer();
    cluster.write({ op: 'create', path: '/app', data: new Uint8Array(0), mode: 'persistent' });
    client = await connect({ endpoints: [server.url], namespace: '/app' });
  });
  afterEach(async () => {
    await client.close();
    await cluster.close();
  });

  it('sends every path under the namespace and strips it from results', async () => {
    const created = await client.create('/lock-', 'x', { mode: 'persistent-sequential' });
    expect(created.path).toBe('/lock-0000000000');
    expect(cluster.nodes.has('/app/lock-0000000000')).toBe(true);
    expect((await client.children('/')).names).toEqual(['lock-0000000000']);
    const results = await client.multi([{ op: 'create', path: '/m' }, { op: 'check', path: '/m' }]);
    expect(results[0]).toMatchObject({ path: '/m' });
    const sent = server.frames.filter((f): f is Request => f.t === 'req' && 'path' in f).map((f) => ('path' in f ? f.path : ''));
    expect(sent).toEqual(['/app/lock-', '/app']);
  });

  it('strips the namespace from error paths', async () => {
    await expect(client.get('/nope')).rejects.toMatchObject({ code: 'NO_NODE', path: '/nope' });
  });

  it('strips the namespace from watch event paths', async () => {
    const fired = deferred<WatchEvent>();
    await client.exists('/w', { watch: (e) => fired.resolve(e) });
    const persistent: PersistentWatchEvent[] = [];
    const stream = client.watch('/', { recursive: true });
    await stream.ready;
    await client.create('/w');
    expect(await fired.promise).toMatchObject({ kind: 'created', path: '/w' });
    for await (const event of stream) {
      persistent.push(event);
      break;
    }
    expect(persistent).toEqual([{ kind: 'created', path: '/w', revision: 2 }]);
  });
});

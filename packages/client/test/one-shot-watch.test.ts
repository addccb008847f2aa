import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type VigilClient, type WatchEvent } from '@vigil/client';
import { twoServersFirstConnected, type FakeCluster, type FakeServer } from './support/fake-server.js';
import { deferred, nextState } from './support/helpers.js';


describe('one-shot watches', () => {
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

  /** Drops the connection; `whileAway` runs while no server accepts the client; then it resumes on `second`. */
  async function reconnect(whileAway: () => void): Promise<void> {
    first.refuseHello = 'SHUTTING_DOWN';
    second.refuseHello = 'SHUTTING_DOWN';
    const suspended = nextState(client, 'suspended');
    first.dropConnections();
    await suspended;
    whileAway();
    const reconnected = nextState(client, 'reconnected');
    second.refuseHello = null;
    await reconnected;
  }

  it('a data watch set by get fires once, on the first change', async () => {
    await client.create('/a', 'x');
    const events: WatchEvent[] = [];
    const fired = deferred<void>();
    await client.get('/a', { watch: (e) => (events.push(e), fired.resolve()) });
    expect(await first.waitFor((f) => f.t === 'req' && f.op === 'get')).toMatchObject({ watch: true });
    await client.set('/a', 'y');
    await fired.promise;
    await client.set('/a', 'z');
    await client.sync();
    expect(events).toEqual([{ kind: 'dataChanged', path: '/a', revision: 2 }]);
  });

  it('an exists watch on a missing node fires created', async () => {
    const fired = deferred<WatchEvent>();
    expect(await client.exists('/n', { watch: fired.resolve })).toBeNull();
    await client.create('/n');
    expect(await fired.promise).toEqual({ kind: 'created', path: '/n', revision: 1 });
  });

  it('a children watch fires childrenChanged', async () => {
    await client.create('/p');
    const fired = deferred<WatchEvent>();
    await client.children('/p', { watch: fired.resolve });
    await client.create('/p/c');
    expect(await fired.promise).toEqual({ kind: 'childrenChanged', path: '/p', revision: 2 });
  });

  it('is armed again after a reconnect and fires on a later change', async () => {
    await client.create('/a', 'x');
    const fired = deferred<WatchEvent>();
    await client.get('/a', { watch: fired.resolve });
    await reconnect(() => undefined);
    await second.waitFor((f) => f.t === 'req' && f.op === 'get' && f.watch === true);
    await client.set('/a', 'y');
    expect(await fired.promise).toEqual({ kind: 'dataChanged', path: '/a', revision: 2 });
  });

  it('a data change missed while away is delivered by the client, once', async () => {
    await client.create('/a', 'x');
    const events: WatchEvent[] = [];
    const fired = deferred<void>();
    await client.get('/a', { watch: (e) => (events.push(e), fired.resolve()) });
    await reconnect(() => cluster.write({ op: 'set', path: '/a', data: new Uint8Array([1]) }));
    await fired.promise;
    await client.set('/a', 'again');
    await client.sync();
    expect(events).toEqual([{ kind: 'dataChanged', path: '/a', revision: 2 }]);
  });

  it('a deletion missed while away is delivered as deleted', async () => {
    await client.create('/a', 'x');
    const fired = deferred<WatchEvent>();
    await client.get('/a', { watch: fired.resolve });
    await reconnect(() => cluster.write({ op: 'delete', path: '/a' }));
    expect(await fired.promise).toMatchObject({ kind: 'deleted', path: '/a' });
  });

  it('a creation missed while away fires an exists watch as created', async () => {
    const fired = deferred<WatchEvent>();
    await client.exists('/n', { watch: fired.resolve });
    await reconnect(() => cluster.write({ op: 'create', path: '/n', data: new Uint8Array(0), mode: 'persistent' }));
    expect(await fired.promise).toEqual({ kind: 'created', path: '/n', revision: 1 });
  });

  it('a children change missed while away fires childrenChanged', async () => {
    await client.create('/p');
    const fired = deferred<WatchEvent>();
    await client.children('/p', { watch: fired.resolve });
    await reconnect(() => cluster.write({ op: 'create', path: '/p/c', data: new Uint8Array(0), mode: 'persistent' }));
    expect(await fired.promise).toEqual({ kind: 'childrenChanged', path: '/p', revision: 2 });
  });

  it('an unchanged children watch is armed again and fires on a later change', async () => {
    await client.create('/p');
    const events: WatchEvent[] = [];
    const fired = deferred<void>();
    await client.children('/p', { watch: (e) => (events.push(e), fired.resolve()) });
    await reconnect(() => undefined);
    await second.waitFor((f) => f.t === 'req' && f.op === 'exists');
    await client.sync();
    expect(events).toEqual([]);
    await client.create('/p/c');
    await fired.promise;
    expect(events).toEqual([{ kind: 'childrenChanged', path: '/p', revision: 2 }]);
  });
});

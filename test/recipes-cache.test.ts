import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  connect,
  isVigilError,
  ServiceRegistry,
  TreeCache,
  type RegistrationEvent,
  type ServiceInstance,
  type TreeCacheEvent,
  type TreeChange,
  type VigilClient,
} from '@vigil/client';
import { TestCluster, waitFor } from './support/cluster.js';

/**
 * TreeCache and ServiceRegistry against a real three-node cluster of processes: a cache converges
 * on the tree while writes race with its load, follows every change across the loss of its
 * server, reloads after a resume past the server's history and after an expiry; instances are
 * registered, discovered, followed, vanish with their session and come back after an expiry.
 */

const historyEvents = 64;
let cluster: TestCluster;
let clients: VigilClient[] = [];
let caches: TreeCache[] = [];
const paused = new Set<number>();

beforeAll(async () => {
  cluster = await TestCluster.start({ extraArgs: ['--watch-history-events', String(historyEvents)] });
  await cluster.leader();
});
afterEach(async () => {
  for (const cache of caches) cache.close();
  caches = [];
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  clients = [];
  for (const id of paused) await cluster.resume(id);
  paused.clear();
  await cluster.heal();
});
afterAll(async () => {
  await cluster.close();
});

const endpoint = (id: number): string => `ws://127.0.0.1:${cluster.node(id).clientPort}`;
const allEndpoints = (): string[] => [1, 2, 3].filter((id) => cluster.live().includes(id)).map(endpoint);
const othersThan = (id: number): string[] => [1, 2, 3].filter((other) => other !== id).map(endpoint);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

async function client(options: Partial<Parameters<typeof connect>[0]> = {}): Promise<VigilClient> {
  const c = await connect({ endpoints: allEndpoints(), sessionTimeoutMs: 10_000, ...options });
  clients.push(c);
  return c;
}

/** A member that is not the leader (pausing or killing it leaves the cluster writable at once). */
async function follower(): Promise<number> {
  const leader = await cluster.leader();
  return [1, 2, 3].find((id) => id !== leader) as number;
}

function cacheOf(c: VigilClient, path: string): { cache: TreeCache; events: TreeCacheEvent[] } {
  const cache = new TreeCache(c, path);
  caches.push(cache);
  const events: TreeCacheEvent[] = [];
  cache.on('change', (e) => events.push(e));
  return { cache, events };
}

interface Mirrored {
  readonly data: string;
  readonly czxid: number;
  readonly mzxid: number;
}

/** The subtree as a fresh walk of linearizable reads sees it. */
async function readTree(c: VigilClient, root: string): Promise<Map<string, Mirrored>> {
  const tree = new Map<string, Mirrored>();
  let level = [root];
  while (level.length > 0) {
    const next: string[] = [];
    for (const path of level) {
      const { data, stat } = await c.get(path);
      tree.set(path, { data: text(data), czxid: stat.czxid, mzxid: stat.mzxid });
      for (const name of (await c.children(path)).names) next.push(`${path}/${name}`);
    }
    level = next;
  }
  return new Map([...tree].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The subtree as the cache holds it, walked down from the root through `children()`. */
function cacheTree(cache: TreeCache, root: string): Map<string, Mirrored> {
  const tree = new Map<string, Mirrored>();
  let level = [root];
  while (level.length > 0) {
    const next: string[] = [];
    for (const path of level) {
      const node = cache.get(path);
      if (node === undefined) continue;
      tree.set(path, { data: text(node.data), czxid: node.stat.czxid, mzxid: node.stat.mzxid });
      for (const name of cache.children(path) ?? []) next.push(`${path}/${name}`);
    }
    level = next;
  }
  return new Map([...tree].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const isChange = (e: TreeCacheEvent): e is TreeChange => e.type === 'created' || e.type === 'changed' || e.type === 'deleted';

/**
 * What every stream of cache events must satisfy: revisions never go back, no change is reported
 * twice, per path the types alternate (created, changed…, deleted), a `created` event is the
 * creation of the node it carries. Replaying the changes onto `start` must give `end`.
 */
function checkEvents(events: readonly TreeCacheEvent[], start: Map<string, Mirrored>, end: Map<string, Mirrored>): void {
  let last = 0;
  const seen = new Set<string>();
  const state = new Map(start);
  for (const e of events) {
    expect(e.revision).toBeGreaterThanOrEqual(last);
    last = e.revision;
    if (!isChange(e)) continue;
    const key = `${e.type} ${e.path} ${e.revision}`;
    expect(seen.has(key), key).toBe(false);
    seen.add(key);
    const held = state.has(e.path);
    if (e.type === 'created') {
      expect(held, `created ${e.path} while held`).toBe(false);
      if (!e.reloaded) expect(e.stat.czxid).toBe(e.revision);
      state.set(e.path, { data: text(e.data), czxid: e.stat.czxid, mzxid: e.stat.mzxid });
    } else if (e.type === 'changed') {
      const before = state.get(e.path);
      expect(before, `changed ${e.path} while not held`).toBeDefined();
      // A change the mirror already reflected is not reported again.
      expect(e.stat.mzxid, `changed ${e.path} again`).toBeGreaterThan(before!.mzxid);
      expect(e.stat.czxid).toBe(before!.czxid);
      if (!e.reloaded) {
        expect(e.revision).toBeGreaterThan(before!.mzxid);
        expect(e.stat.mzxid).toBeGreaterThanOrEqual(e.revision);
      }
      state.set(e.path, { data: text(e.data), czxid: e.stat.czxid, mzxid: e.stat.mzxid });
    } else {
      expect(held, `deleted ${e.path} while not held`).toBe(true);
      // The deletion of the incarnation held, not of an older one.
      if (!e.reloaded) expect(e.stat.czxid, `deleted ${e.path} before its creation`).toBeLessThan(e.revision);
      state.delete(e.path);
    }
  }
  expect(new Map([...state].sort(([a], [b]) => (a < b ? -1 : 1)))).toEqual(end);
}

/** A create that survives failovers: an unknown outcome is checked, a retryable refusal sent again. */
async function ensureCreated(c: VigilClient, path: string, data = ''): Promise<void> {
  await waitFor(`create ${path}`, async () => {
    try {
      await c.create(path, data);
      return true;
    } catch (err) {
      if (isVigilError(err) && err.code === 'NODE_EXISTS') return true;
      throw err;
    }
  }, 20_000, 20);
}

/** Random writes (seeded) under `dir`: leaves come, change, go and are re-created in one revision; small subtrees come and go. */
async function churn(c: VigilClient, dir: string, leaves: readonly string[], steps: number, seed: number): Promise<void> {
  let s = seed >>> 0;
  const rand = (n: number): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) | 0;
  };
  const live = new Set(leaves.map((name) => `${dir}/${name}`));
  const subtrees = new Set<string>();
  const pick = (set: Set<string>): string | undefined => [...set][rand(Math.max(1, set.size))];
  for (let i = 0; i < steps; i++) {
    const leaf = pick(live);
    const sub = pick(subtrees);
    switch (rand(7)) {
      case 0:
      case 1: {
        const path = `${dir}/n${i}`;
        await c.create(path, `c${i}`);
        live.add(path);
        break;
      }
      case 2:
        if (leaf !== undefined) await c.set(leaf, `v${i}`);
        break;
      case 3:
        if (leaf !== undefined) {
          await c.delete(leaf);
          live.delete(leaf);
        }
        break;
      case 4:
        // Deleted and created again at one revision.
        if (leaf !== undefined) await c.multi([{ op: 'delete', path: leaf }, { op: 'create', path: leaf, data: `r${i}` }]);
        break;
      case 5: {
        const path = `${dir}/s${i}`;
        await c.create(path, `s${i}`);
        await c.create(`${path}/c`, `sc${i}`);
        subtrees.add(path);
        break;
      }
      case 6:
        if (sub === undefined) break;
        if (rand(2) === 0) {
          // The parent and its child replaced at one revision: new incarnations of both.
          await c.multi([
            { op: 'delete', path: `${sub}/c` },
            { op: 'delete', path: sub },
            { op: 'create', path: sub, data: `rs${i}` },
            { op: 'create', path: `${sub}/c`, data: `rsc${i}` },
          ]);
        } else {
          await c.delete(`${sub}/c`);
          await c.delete(sub);
          subtrees.delete(sub);
        }
        break;
    }
  }
}

describe('TreeCache', () => {
  test('converges on the tree while writes race with its load; events come in revision order, once each', async () => {
    const writer = await client();
    const reader = await client();
    await writer.create('/tc', 'root');
    const leaves = Array.from({ length: 60 }, (_, i) => `l${i}`);
    for (let w = 0; w < 3; w++) {
      await writer.create(`/tc/d${w}`, `d${w}`);
      await Promise.all(leaves.map((leaf) => writer.create(`/tc/d${w}/${leaf}`, leaf)));
    }
    // Three writers on their own directories; caches start one after another while they write,
    // so that many loads race with changes (some seen by the load, some not).
    let writing = true;
    const writers = Promise.all([0, 1, 2].map((w) => churn(writer, `/tc/d${w}`, leaves, 250, 1000 + w))).finally(() => (writing = false));
    const started: { cache: TreeCache; events: TreeCacheEvent[]; atInit: Map<string, Mirrored> }[] = [];
    const startsMax = 8;
    while (writing && started.length < startsMax) {
      const { cache, events } = cacheOf(reader, '/tc');
      let atInit: Map<string, Mirrored> | null = null;
      cache.on('change', (e) => {
        if (e.type === 'initialized') atInit = cacheTree(cache, '/tc');
      });
      await cache.start();
      expect(events[0]).toMatchObject({ type: 'initialized' });
      started.push({ cache, events, atInit: atInit! });
    }
    await writers;
    expect(started.length).toBeGreaterThan(1);
    await writer.create('/tc/marker', 'end');
    for (const { events } of started) {
      await waitFor('the marker in the cache', () => (events.some((e) => e.type === 'created' && e.path === '/tc/marker') ? true : undefined));
    }

    const truth = await readTree(writer, '/tc');
    expect(truth.size).toBeGreaterThan(150);
    for (const { cache, events, atInit } of started) {
      expect(cacheTree(cache, '/tc')).toEqual(truth);
      expect(cache.size).toBe(truth.size);
      checkEvents(events, atInit, truth);
      expect(events.some((e) => e.type === 'reloaded')).toBe(false);
    }
    const [first] = started;
    expect(first!.cache.children('/tc')).toEqual(['d0', 'd1', 'd2', 'marker']);
    expect(first!.cache.get('/tc/nope')).toBeUndefined();
    expect(first!.cache.children('/tc/nope')).toBeUndefined();
    expect(first!.events.filter(isChange).length).toBeGreaterThan(100);
  });

  test('follows every change across the kill of the server it is connected to', async () => {
    const reader = await client();
    const victim = reader.serverId;
    const writer = await client({ endpoints: othersThan(victim) });
    await writer.create('/failover', '');
    const { cache, events } = cacheOf(reader, '/failover');
    await cache.start();
    const before = cacheTree(cache, '/failover');
    // Fewer events after the kill than the server's history holds: the resume must be gapless.
    const n = 30;
    for (let i = 0; i < n; i++) {
      if (i === 10) await cluster.kill(victim);
      await ensureCreated(writer, `/failover/k${String(i).padStart(2, '0')}`, String(i));
    }
    await ensureCreated(writer, '/failover/marker');
    await waitFor('the marker in the cache', () => (cache.get('/failover/marker') !== undefined ? true : undefined), 20_000);
    expect(reader.serverId).not.toBe(victim);

    const truth = await readTree(writer, '/failover');
    expect(cacheTree(cache, '/failover')).toEqual(truth);
    const created = events.filter((e): e is TreeChange => e.type === 'created');
    expect(created.map((e) => e.path)).toEqual([...Array.from({ length: n }, (_, i) => `/failover/k${String(i).padStart(2, '0')}`), '/failover/marker']);
    expect(events.some((e) => e.type === 'reloaded')).toBe(false);
    checkEvents(events, before, truth);
  });

  test('a resume past the server’s history reloads the cache and reports the differences', async () => {
    const leader = await cluster.leader();
    const followers = [1, 2, 3].filter((id) => id !== leader);
    // On one follower, able to resume only on the other: that one will have applied every write
    // before the resume reaches it, so the events missed are certainly out of its history.
    const reader = await client({ endpoints: followers.map(endpoint), sessionTimeoutMs: 30_000 });
    const victim = reader.serverId;
    const survivor = followers.find((id) => id !== victim) as number;
    const writer = await client({ endpoints: [endpoint(survivor)] });
    await writer.create('/compacting', '');
    for (let i = 0; i < 10; i++) await writer.create(`/compacting/a${i}`, 'old');
    const { cache, events } = cacheOf(reader, '/compacting');
    await cache.start();
    const before = cacheTree(cache, '/compacting');
    const states: string[] = [];
    reader.on('state', (s) => states.push(s));

    // Frozen, the victim sends nothing more, and the reader's heartbeat is far from noticing.
    await cluster.pause(victim);
    paused.add(victim);
    for (let i = 0; i < 5; i++) await writer.delete(`/compacting/a${i}`);
    for (let i = 5; i < 10; i++) await writer.set(`/compacting/a${i}`, 'new');
    for (let i = 0; i < historyEvents + 20; i++) await writer.create(`/compacting/b${i}`, 'b');
    await writer.create('/compacting/marker', '');
    await cluster.kill(victim);
    paused.delete(victim);

    await waitFor('the reload', () => (events.some((e) => e.type === 'reloaded') ? true : undefined), 20_000);
    await waitFor('the marker in the cache', () => (cache.get('/compacting/marker') !== undefined ? true : undefined));
    expect(reader.serverId).toBe(survivor);
    expect(states).toContain('reconnected');
    expect(states).not.toContain('expired');
    const reload = events.find((e) => e.type === 'reloaded');
    expect(reload).toMatchObject({ type: 'reloaded', reason: 'HISTORY_COMPACTED' });

    const reloaded = events.filter((e): e is TreeChange => isChange(e) && e.reloaded);
    const paths = (type: string): string[] => reloaded.filter((e) => e.type === type).map((e) => e.path).sort();
    expect(paths('deleted')).toEqual(['/compacting/a0', '/compacting/a1', '/compacting/a2', '/compacting/a3', '/compacting/a4']);
    expect(paths('changed')).toEqual(['/compacting/a5', '/compacting/a6', '/compacting/a7', '/compacting/a8', '/compacting/a9']);
    expect(paths('created')).toEqual([...Array.from({ length: historyEvents + 20 }, (_, i) => `/compacting/b${i}`), '/compacting/marker'].sort());
    // One revision for the whole reload, and no change reported by the watch as well.
    expect(new Set(reloaded.map((e) => e.revision)).size).toBe(1);
    expect(events.filter((e) => isChange(e) && !e.reloaded)).toEqual([]);

    const truth = await readTree(writer, '/compacting');
    expect(cacheTree(cache, '/compacting')).toEqual(truth);
    checkEvents(events, before, truth);
  });

  test('after its session expires, the cache reloads on the new session and drops the old session’s ephemerals', async () => {
    const victim = await follower();
    const reader = await client({ endpoints: [endpoint(victim)], sessionTimeoutMs: 2_000 });
    const writer = await client({ endpoints: othersThan(victim) });
    await writer.create('/expiring', '');
    await reader.create('/expiring/mine', 'ephemeral', { mode: 'ephemeral' });
    await writer.create('/expiring/kept', 'v1');
    const { cache, events } = cacheOf(reader, '/expiring');
    await cache.start();
    const before = cacheTree(cache, '/expiring');
    expect(before.has('/expiring/mine')).toBe(true);
    const firstSession = reader.sessionId;

    let resolveGone: () => void = () => undefined;
    const gone = new Promise<void>((resolve) => (resolveGone = resolve));
    expect(await writer.exists('/expiring/mine', { watch: (e) => e.kind === 'deleted' && resolveGone() })).not.toBeNull();
    await cluster.pause(victim);
    paused.add(victim);
    // The cluster expires the cut-off session: its ephemeral goes.
    await gone;
    await writer.create('/expiring/after', 'x');
    await writer.set('/expiring/kept', 'v2');
    await cluster.resume(victim);
    paused.delete(victim);

    await waitFor('the reload', () => (events.some((e) => e.type === 'reloaded') ? true : undefined), 30_000);
    expect(reader.sessionId).not.toBe(firstSession);
    expect(events.find((e) => e.type === 'reloaded')).toMatchObject({ reason: 'SESSION_EXPIRED' });
    // The resumed member may replay some of these before it learns of the expiry; the rest come
    // from the reload. Either way each is reported once.
    const changes = events.filter(isChange).map((e) => `${e.type} ${e.path}`);
    expect(changes.sort()).toEqual(['changed /expiring/kept', 'created /expiring/after', 'deleted /expiring/mine']);

    // The cache goes on following on the new session.
    await writer.create('/expiring/later', '');
    await waitFor('a change after the reload', () => (cache.get('/expiring/later') !== undefined ? true : undefined));
    const truth = await readTree(writer, '/expiring');
    expect(cacheTree(cache, '/expiring')).toEqual(truth);
    checkEvents(events, before, truth);
    expect(cache.failure).toBeNull();
  });

  test('a subtree larger than nodesMax fails the cache with BAD_ARGUMENTS', async () => {
    const c = await client();
    await c.create('/bounded', '');
    for (let i = 0; i < 3; i++) await c.create(`/bounded/n${i}`, '');
    const small = new TreeCache(c, '/bounded', { nodesMax: 3 });
    caches.push(small);
    const errors: string[] = [];
    small.on('error', (err) => errors.push(err.code));
    await expect(small.start()).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    expect(errors).toEqual(['BAD_ARGUMENTS']);

    const exact = new TreeCache(c, '/bounded', { nodesMax: 4 });
    caches.push(exact);
    const failed = new Promise<string>((resolve) => exact.on('error', (err) => resolve(err.code)));
    await exact.start();
    await c.create('/bounded/n3', '');
    expect(await failed).toBe('BAD_ARGUMENTS');
    expect(exact.failure?.code).toBe('BAD_ARGUMENTS');
    exact.close();
    exact.close();
  });
});

describe('ServiceRegistry', () => {
  const ids = (instances: readonly ServiceInstance[] | undefined): string[] | undefined => instances?.map((i) => i.id);

  test('instances are registered, discovered and followed; bad data is skipped; a closed client’s instance vanishes', async () => {
    const a = await client();
    const b = await client();
    const observer = await client();
    const registryA = new ServiceRegistry(a, '/reg');
    const registryB = new ServiceRegistry(b, '/reg');
    const view = new ServiceRegistry(observer, '/reg');

    await expect(registryA.register('a/b', { address: 'h' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(registryA.register('', { address: 'h' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(registryA.register('api', { id: '..', address: 'h' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(registryA.register('api', { id: 'x/y', address: 'h' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(registryA.register('api', { address: '' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(registryA.register('api', { address: 'h', port: 70_000 })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(view.discover('a/b')).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    expect(() => view.watch('', () => undefined)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENTS' }));
    expect(await view.discover('api')).toEqual([]);

    const seen: ServiceInstance[][] = [];
    const unwatch = view.watch('api', (instances) => seen.push(instances));
    await waitFor('the first instance set', () => (seen.length > 0 ? true : undefined));
    expect(seen).toEqual([[]]);

    const r1 = await registryA.register('api', { id: 'a1', address: '10.0.0.1', port: 80, metadata: { zone: 'x' } });
    const r2 = await registryB.register('api', { address: '10.0.0.2' });
    expect(r1.isRegistered()).toBe(true);
    expect(r2.id).toMatch(/^[0-9a-f-]{36}$/);
    await observer.create('/reg/api/junk', 'not json');
    await observer.create('/reg/api/no-address', '{"port":1}');

    const both = ['a1', r2.id].sort();
    const discovered = await view.discover('api');
    expect(discovered.map((i) => i.id)).toEqual(both);
    expect(discovered.find((i) => i.id === 'a1')).toEqual({ service: 'api', id: 'a1', address: '10.0.0.1', port: 80, metadata: { zone: 'x' }, path: '/reg/api/a1' });
    expect(discovered.find((i) => i.id === r2.id)).toEqual({ service: 'api', id: r2.id, address: '10.0.0.2', path: `/reg/api/${r2.id}` });
    await waitFor('both instances watched', () => (JSON.stringify(ids(seen.at(-1))) === JSON.stringify(both) ? true : undefined));
    expect((await observer.exists('/reg/api/a1'))?.ephemeralOwner).toBe(a.sessionId);

    await expect(registryB.register('api', { id: 'a1', address: 'impostor' })).rejects.toMatchObject({ code: 'NODE_EXISTS' });
    await r1.update({ zone: 'y' });
    await waitFor('the update watched', () => (seen.at(-1)?.find((i) => i.id === 'a1')?.metadata?.['zone'] === 'y' ? true : undefined));
    expect((await view.discover('api')).find((i) => i.id === 'a1')?.metadata).toEqual({ zone: 'y' });

    await b.close();
    await waitFor('the closed client’s instance gone', () => (JSON.stringify(ids(seen.at(-1))) === '["a1"]' ? true : undefined));
    await r1.unregister();
    await r1.unregister();
    expect(r1.isRegistered()).toBe(false);
    await waitFor('the unregistered instance gone', () => (seen.at(-1)?.length === 0 ? true : undefined));
    expect(await observer.exists('/reg/api/a1')).toBeNull();
    await expect(r1.update({})).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    // No set is reported twice in a row.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toEqual(seen[i - 1]);
    unwatch();
  });

  test('an instance is registered again when its client opens a new session after an expiry', async () => {
    const victim = await follower();
    const holder = await client({ endpoints: [endpoint(victim)], sessionTimeoutMs: 2_000 });
    const observer = await client({ endpoints: othersThan(victim) });
    const registration = await new ServiceRegistry(holder).register('db', { id: 'primary', address: 'h1', port: 5432 });
    const firstOwner = (await observer.exists(registration.path))?.ephemeralOwner;
    expect(firstOwner).toBe(holder.sessionId);
    const happened: RegistrationEvent['type'][] = [];
    registration.on((e) => happened.push(e.type));
    const seen: ServiceInstance[][] = [];
    new ServiceRegistry(observer).watch('db', (instances) => seen.push(instances));
    await waitFor('the instance watched', () => (ids(seen.at(-1))?.[0] === 'primary' ? true : undefined));

    await cluster.pause(victim);
    paused.add(victim);
    await waitFor('the expired instance gone', () => (seen.at(-1)?.length === 0 ? true : undefined), 20_000);
    await cluster.resume(victim);
    paused.delete(victim);
    await waitFor('the instance back', () => (ids(seen.at(-1))?.[0] === 'primary' ? true : undefined), 30_000);

    const owner = (await observer.exists(registration.path))?.ephemeralOwner;
    expect(owner).not.toBe(firstOwner);
    expect(owner).toBe(holder.sessionId);
    expect(registration.isRegistered()).toBe(true);
    expect(happened).toEqual(['lost', 'registered']);
    expect(seen.at(-1)).toEqual([{ service: 'db', id: 'primary', address: 'h1', port: 5432, path: '/services/db/primary' }]);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PersistentWatchEvent, type VigilClient, type WatchStream } from '@vigil/client';
import type { Request, WatchRequest } from '@vigil/protocol';
import { twoServersFirstConnected, type FakeCluster, type FakeServer } from './support/fake-server.js';
import { nextState } from './support/helpers.js';

const isWatchRequest = (f: { t: string }): f is WatchRequest => f.t === 'req' && (f as Request).op === 'watch';

/** Reads `count` events from a stream without closing it. */
async function take(stream: WatchStream, count: number): Promise<PersistentWatchEvent[]> {
  const iterator = stream[Symbol.asyncIterator]();
  const events: PersistentWatchEvent[] = [];
  while (events.length < count) {
    const next = await iterator.next();
    if (next.done === true) break;
    events.push(next.value);
  }
  return events;
}

describe('persistent watches', () => {
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

  async function failOver(): Promise<void> {
    const reconnected = nextState(client, 'reconnected');
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
    await reconnected;
  }

  it('an async iterator yields the events of the path in revision order', async () => {
    const stream = client.watch('/a');
    await stream.ready;
    await client.create('/a', 'x');
    await client.set('/a', 'y');
    await client.create('/a/child');
    await client.delete('/a/child');
    expect(await take(stream, 4)).toEqual([
      { kind: 'created', path: '/a', revision: 1 },
      { kind: 'dataChanged', path: '/a', revision: 2 },
      { kind: 'childrenChanged', path: '/a', revision: 3 },
      { kind: 'childrenChanged', path: '/a', revision: 4 },
    ]);
    stream.close();
    expect(await stream[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
  });

  it('a recursive watch sees the subtree, and break unsubscribes with unwatch', async () => {
    const stream = client.watch('/r', { recursive: true });
    await stream.ready;
    const watchRequest = await first.waitFor(isWatchRequest);
    expect(watchRequest).toMatchObject({ path: '/r', mode: 'persistentRecursive' });
    await client.create('/r', '', { createParents: true });
    await client.create('/r/x/y', '', { createParents: true });
    const seen: PersistentWatchEvent[] = [];
    for await (const event of stream) {
      seen.push(event);
      if (seen.length === 3) break;
    }
    expect(seen.map((e) => `${e.kind} ${e.path}`)).toEqual(['created /r', 'created /r/x', 'created /r/x/y']);
    await first.waitFor((f) => f.t === 'req' && f.op === 'unwatch');
  });

  it('the callback form delivers events and returns its unsubscribe', async () => {
    const events: PersistentWatchEvent[] = [];
    const unsubscribe = client.watch('/c', {}, (e) => events.push(e));
    await first.waitFor(isWatchRequest);
    await client.sync();
    await client.create('/c');
    await client.sync();
    expect(events).toEqual([{ kind: 'created', path: '/c', revision: 1 }]);
    unsubscribe();
    await first.waitFor((f) => f.t === 'req' && f.op === 'unwatch');
    await client.set('/c', 'x');
    await client.sync();
    expect(events).toHaveLength(1);
  });

  it('after a reconnect it resumes from the last delivered revision, without gaps or duplicates', async () => {
    const stream = client.watch('/w', { recursive: true });
    await stream.ready;
    await client.create('/w');
    expect(await take(stream, 1)).toEqual([{ kind: 'created', path: '/w', revision: 1 }]);
    first.refuseHello = 'SHUTTING_DOWN';
    second.refuseHello = 'SHUTTING_DOWN';
    const suspended = nextState(client, 'suspended');
    first.dropConnections();
    await suspended;
    // Written by others while this client is away.
    cluster.write({ op: 'set', path: '/w', data: new Uint8Array([1]) });
    cluster.write({ op: 'create', path: '/w/k', data: new Uint8Array(0), mode: 'persistent' });
    const reconnected = nextState(client, 'reconnected');
    second.refuseHello = null;
    await reconnected;
    const resume = await second.waitFor(isWatchRequest);
    // The last delivered revision was a revision with events, so the resume starts one before it
    // and skips the one event of it already delivered.
    expect(resume).toMatchObject({ path: '/w', mode: 'persistentRecursive', fromRevision: 0 });
    await client.set('/w/k', 'live');
    expect(await take(stream, 3)).toEqual([
      { kind: 'dataChanged', path: '/w', revision: 2 },
      { kind: 'created', path: '/w/k', revision: 3 },
      { kind: 'dataChanged', path: '/w/k', revision: 4 },
    ]);
  });

  it('a watch that never saw an event resumes from the revision it started after', async () => {
    cluster.write({ op: 'create', path: '/x', data: new Uint8Array(0), mode: 'persistent' });
    const stream = client.watch('/q');
    await stream.ready;
    await failOver();
    expect(await second.waitFor(isWatchRequest)).toMatchObject({ path: '/q', fromRevision: 1 });
    stream.close();
  });

  it('passes fromRevision and replays what happened after it', async () => {
    await client.create('/f', 'a');
    await client.set('/f', 'b');
    const stream = client.watch('/f', { fromRevision: 1 });
    expect(await take(stream, 1)).toEqual([{ kind: 'dataChanged', path: '/f', revision: 2 }]);
    expect(await first.waitFor(isWatchRequest)).toMatchObject({ fromRevision: 1 });
    stream.close();
  });

  it('when history was compacted it yields historyCompacted before the later events', async () => {
    const stream = client.watch('/h');
    await stream.ready;
    await client.create('/h');
    expect(await take(stream, 1)).toHaveLength(1);
    first.refuseHello = 'SHUTTING_DOWN';
    second.refuseHello = 'SHUTTING_DOWN';
    const suspended = nextState(client, 'suspended');
    first.dropConnections();
    await suspended;
    cluster.write({ op: 'set', path: '/h', data: new Uint8Array([1]) });
    cluster.write({ op: 'set', path: '/h', data: new Uint8Array([2]) });
    cluster.compactHistory();
    const reconnected = nextState(client, 'reconnected');
    second.refuseHello = null;
    await reconnected;
    await client.set('/h', 'after');
    expect(await take(stream, 2)).toEqual([
      { kind: 'historyCompacted', path: '/h', floor: 3, revision: 3 },
      { kind: 'dataChanged', path: '/h', revision: 4 },
    ]);
  });

  it('a watch created while suspended registers at the reconnect', async () => {
    first.refuseHello = 'SHUTTING_DOWN';
    second.refuseHello = 'SHUTTING_DOWN';
    const suspended = nextState(client, 'suspended');
    first.dropConnections();
    await suspended;
    const stream = client.watch('/later');
    second.refuseHello = null;
    await stream.ready;
    await client.create('/later');
    expect(await take(stream, 1)).toEqual([{ kind: 'created', path: '/later', revision: 1 }]);
  });

  it('an expired session ends its streams with SESSION_EXPIRED', async () => {
    const stream = client.watch('/s');
    await stream.ready;
    const next = stream[Symbol.asyncIterator]().next();
    cluster.expireSession(client.sessionId);
    await expect(next).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
  });

  it('closing the client ends its streams', async () => {
    const stream = client.watch('/s');
    await stream.ready;
    const next = stream[Symbol.asyncIterator]().next();
    await client.close();
    expect(await next).toEqual({ done: true, value: undefined });
  });

  it('an abort signal closes the stream', async () => {
    const controller = new AbortController();
    const stream = client.watch('/sig', { signal: controller.signal });
    await stream.ready;
    controller.abort();
    expect(await stream[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
    await first.waitFor((f) => f.t === 'req' && f.op === 'unwatch');
  });
});

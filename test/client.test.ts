import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { connect, isVigilError, type PersistentWatchEvent, type VigilClient, type WatchEvent } from '@vigil/client';
import { TestCluster, waitFor } from './support/cluster.js';

/**
 * The SDK against a real three-node cluster of processes: every operation and error, session
 * order across reconnects, ephemeral lifetime (a killed and a paused client process, and a server
 * failover), and watches across the loss of the server a client is connected to.
 */

const historyEvents = 64;
let cluster: TestCluster;
let clients: VigilClient[] = [];
const holders: ChildProcess[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ extraArgs: ['--watch-history-events', String(historyEvents)] });
  await cluster.leader();
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  clients = [];
  for (const h of holders.splice(0)) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
  // A test that failed after killing a member must not leave the next one without a majority.
  await cluster.heal();
});
afterAll(async () => {
  await cluster.close();
});

const endpoint = (id: number): string => `ws://127.0.0.1:${cluster.node(id).clientPort}`;
const allEndpoints = (): string[] => [1, 2, 3].filter((id) => cluster.live().includes(id)).map(endpoint);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

async function client(options: Partial<Parameters<typeof connect>[0]> = {}): Promise<VigilClient> {
  const c = await connect({ endpoints: allEndpoints(), sessionTimeoutMs: 10_000, ...options });
  clients.push(c);
  return c;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
}


describe('operations', () => {
  test('every operation, with ZooKeeper semantics and typed errors', async () => {
    const c = await client();
    const created = await c.create('/ops', 'root');
    expect(created.path).toBe('/ops');
    expect(created.stat).toMatchObject({ version: 0, dataLength: 4, numChildren: 0, ephemeralOwner: 0 });
    expect(await codeOf(c.create('/ops', 'again'))).toBe('NODE_EXISTS');
    expect(await codeOf(c.create('/missing/child'))).toBe('NO_NODE');
    expect((await c.create('/deep/er/node', 'x', { createParents: true })).path).toBe('/deep/er/node');

    const seq1 = await c.create('/ops/job-', '', { mode: 'persistent-sequential' });
    const seq2 = await c.create('/ops/job-', '', { mode: 'ephemeral-sequential' });
    expect(seq1.path).toMatch(/^\/ops\/job-\d{10}$/);
    expect(seq2.path > seq1.path).toBe(true);
    expect(seq2.stat.ephemeralOwner).toBe(c.sessionId);
    expect(await codeOf(c.create(`${seq2.path}/child`))).toBe('NO_CHILDREN_FOR_EPHEMERALS');
    expect((await c.create('/ops/ttl', '', { mode: 'ttl', ttlMs: 60_000 })).path).toBe('/ops/ttl');
    expect(await codeOf(c.create('/ops/ttl2', '', { mode: 'ttl' }))).toBe('BAD_ARGUMENTS');

    const { data, stat } = await c.get('/ops');
    expect(text(data)).toBe('root');
    const next = await c.set('/ops', 'v1', { version: stat.version });
    expect(next.version).toBe(1);
    expect(await codeOf(c.set('/ops', 'v2', { version: 0 }))).toBe('BAD_VERSION');
    expect(text((await c.get('/ops', { consistency: 'sequential' })).data)).toBe('v1');

    expect(await c.exists('/nope')).toBeNull();
    expect((await c.exists('/ops'))?.version).toBe(1);
    const kids = await c.children('/ops', { withStats: true });
    expect(kids.names).toEqual(['job-' + seq1.path.slice(-10), 'job-' + seq2.path.slice(-10), 'ttl'].sort());
    expect(kids.stats).toHaveLength(3);

    expect(await codeOf(c.delete('/ops'))).toBe('NOT_EMPTY');
    expect(await codeOf(c.delete('/nope'))).toBe('NO_NODE');
    expect(await codeOf(c.get('relative'))).toBe('BAD_ARGUMENTS');

    // multi: all or nothing, the first failing op named.
    const failed = c.multi([
      { op: 'create', path: '/ops/m1', data: new Uint8Array() },
      { op: 'set', path: '/ops', data: new Uint8Array(), version: 99 },
    ]);
    await expect(failed).rejects.toMatchObject({ code: 'BAD_VERSION' });
    expect(await c.exists('/ops/m1')).toBeNull();
    const results = await c.multi([
      { op: 'check', path: '/ops', version: 1 },
      { op: 'create', path: '/ops/m1', data: new Uint8Array([1]) },
      { op: 'delete', path: '/ops/ttl' },
    ]);
    expect(results.map((r) => r.op)).toEqual(['check', 'create', 'delete']);
    await c.sync();
    expect(c.lastRevision).toBeGreaterThanOrEqual(results.length);
  });

  test('children are paged through transparently', async () => {
    const c = await client();
    await c.create('/many');
    const n = 300;
    await Promise.all(Array.from({ length: n }, (_, i) => c.create(`/many/c${String(i).padStart(4, '0')}`)));
    const { names } = await c.children('/many');
    expect(names).toHaveLength(n);
    expect(names[0]).toBe('c0000');
    expect(names[n - 1]).toBe(`c${String(n - 1).padStart(4, '0')}`);
  });

  test('a namespace roots every path, result and event', async () => {
    const root = await client();
    await root.create('/tenant');
    const c = await client({ namespace: '/tenant' });
    const seen: WatchEvent[] = [];
    await c.exists('/cfg', { watch: (e) => seen.push(e) });
    expect((await c.create('/cfg', 'x')).path).toBe('/cfg');
    expect(text((await root.get('/tenant/cfg')).data)).toBe('x');
    expect((await c.children('/')).names).toEqual(['cfg']);
    await waitFor('the exists watch', () => (seen.length > 0 ? true : undefined));
    expect(seen).toEqual([{ kind: 'created', path: '/cfg', revision: expect.any(Number) }]);
  });

  test('deadlines and aborts reject with typed errors', async () => {
    const c = await client();
    const aborted = new AbortController();
    aborted.abort();
    expect(await codeOf(c.get('/', { signal: aborted.signal }))).toBe('CANCELLED');
    await c.close();
    expect(await codeOf(c.get('/'))).toBe('CLOSED');
  });
});

describe('watches', () => {
  test('a one-shot watch fires exactly once', async () => {
    const c = await client();
    await c.create('/one', 'a');
    const fired: WatchEvent[] = [];
    await c.get('/one', { watch: (e) => fired.push(e) });
    await c.set('/one', 'b');
    await c.set('/one', 'c');
    await c.sync();
    await waitFor('the watch', () => (fired.length > 0 ? true : undefined));
    const marker = await c.set('/one', 'd');
    await c.get('/one');
    expect(fired).toEqual([{ kind: 'dataChanged', path: '/one', revision: expect.any(Number) }]);
    expect(fired[0]!.revision).toBeLessThan(marker.mzxid);
  });

  test('a persistent recursive watch sees every event in order across the kill of its server', async () => {
    const watcher = await client();
    const writer = await client();
    const parent = await writer.create('/stream');
    const got: PersistentWatchEvent[] = [];
    // From the parent's creation on: the watcher's server may not have applied it yet, and a watch
    // starts where its server is, so without fromRevision it may also see '/stream' created.
    const stream = watcher.watch('/stream', { recursive: true, fromRevision: parent.stat.czxid });
    await stream.ready;
    const consumed = (async () => {
      for await (const e of stream) {
        got.push(e);
        if (e.kind === 'created' && e.path === '/stream/k0199') break;
      }
    })();
    const victim = watcher.serverId;
    const writes = (async () => {
      for (let i = 0; i < 200; i++) {
        // Late enough that the writes after the kill fit the watch history (64 events), however
        // long the watcher takes to resume on another member.
        if (i === 150) await cluster.kill(victim);
        for (;;) {
          try {
            await writer.create(`/stream/k${String(i).padStart(4, '0')}`);
            break;
          } catch (err) {
            // A write cut off by the kill has an unknown outcome: check before resending.
            if (!isVigilError(err) || err.code !== 'CONNECTION_LOSS') throw err;
            if ((await writer.exists(`/stream/k${String(i).padStart(4, '0')}`)) !== null) break;
          }
        }
      }
    })();
    await writes;
    await consumed;
    expect(got.every((e) => e.kind === 'created')).toBe(true);
    expect(got.map((e) => e.path)).toEqual(Array.from({ length: 200 }, (_, i) => `/stream/k${String(i).padStart(4, '0')}`));
    const revisions = got.map((e) => e.revision);
    expect([...revisions].sort((a, b) => a - b)).toEqual(revisions);
    expect(watcher.serverId).not.toBe(victim);
  });

  test('resuming from a revision older than the history yields historyCompacted', async () => {
    const c = await client();
    const start = (await c.create('/compact')).stat.czxid;
    for (let i = 0; i < historyEvents * 2; i++) await c.set('/compact', String(i));
    const stream = c.watch('/compact', { fromRevision: start });
    const first = await stream[Symbol.asyncIterator]().next();
    expect(first.value).toMatchObject({ kind: 'historyCompacted', path: '/compact' });
    expect((first.value as { floor: number }).floor).toBeGreaterThan(start);
    stream.close();
  });
});

describe('sessions and failover', () => {
  test('read-your-writes and monotonic reads across a forced reconnect to another server', async () => {
    const c = await client();
    await c.create('/ryw', '0');
    const states: string[] = [];
    c.on('state', (s) => states.push(s));
    const before = c.serverId;
    let last = 0;
    for (let i = 1; i <= 20; i++) {
      if (i === 10) await cluster.kill(before);
      let stat;
      try {
        stat = await c.set('/ryw', String(i));
      } catch (err) {
        if (!isVigilError(err) || err.code !== 'CONNECTION_LOSS') throw err;
        stat = await c.set('/ryw', String(i));
      }
      const read = await c.get('/ryw', { consistency: 'sequential' });
      expect(text(read.data)).toBe(String(i));
      expect(read.stat.mzxid).toBeGreaterThanOrEqual(stat.mzxid);
      expect(c.lastRevision).toBeGreaterThanOrEqual(last);
      last = c.lastRevision;
    }
    expect(c.serverId).not.toBe(before);
    expect(states).toContain('suspended');
    expect(states).toContain('reconnected');
  });

  test('ephemeral nodes survive a server failover shorter than the session timeout', async () => {
    const c = await client({ sessionTimeoutMs: 10_000 });
    const { stat } = await c.create('/survivor', '', { mode: 'ephemeral' });
    const states: string[] = [];
    c.on('state', (s) => states.push(s));
    await cluster.kill(c.serverId);
    await cluster.leader();
    await waitFor('reconnected', () => (states.includes('reconnected') ? true : undefined), 20_000);
    expect((await c.exists('/survivor'))?.ephemeralOwner).toBe(stat.ephemeralOwner);
    expect(states).not.toContain('expired');
  });

  async function holder(path: string, timeoutMs: number): Promise<{ proc: ChildProcess; lines: string[]; sessionId: number }> {
    const script = fileURLToPath(new URL('./support/session-holder.ts', import.meta.url));
    const proc = spawn(process.execPath, ['--import', 'tsx', script, String(timeoutMs), path, ...allEndpoints()], { stdio: ['pipe', 'pipe', 'inherit'] });
    holders.push(proc);
    const lines: string[] = [];
    createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
    const ready = await waitFor('the holder to be ready', () => lines.find((l) => l.startsWith('ready ')), 20_000);
    return { proc, lines, sessionId: Number(ready.split(' ')[1]) };
  }

  /** Arms an exists watch on a node that must exist now; resolves with the time it is deleted. */
  async function deletedAfter(observer: VigilClient, path: string): Promise<{ deleted: Promise<number> }> {
    let resolveDeleted: (at: number) => void = () => undefined;
    const deleted = new Promise<number>((resolve) => (resolveDeleted = resolve));
    const stat = await observer.exists(path, { watch: (e) => e.kind === 'deleted' && resolveDeleted(Date.now()) });
    expect(stat).not.toBeNull();
    return { deleted };
  }

  test('an ephemeral node vanishes when its killed client process’s session expires, not before', async () => {
    const timeoutMs = 2_000;
    const observer = await client();
    const h = await holder('/held-kill', timeoutMs);
    expect((await observer.exists('/held-kill'))?.ephemeralOwner).toBe(h.sessionId);
    const { deleted } = await deletedAfter(observer, '/held-kill');
    const killedAt = Date.now();
    h.proc.kill('SIGKILL');
    // Still there right after the kill: the session outlives its client by its timeout.
    expect(await observer.exists('/held-kill')).not.toBeNull();
    const goneAt = await deleted;
    // The session ends a timeout after the server last heard from the client, which pings every
    // third of a timeout: at least half a timeout after the kill (room for a ping sent late).
    expect(goneAt - killedAt).toBeGreaterThanOrEqual(timeoutMs / 2);
  });

  test('close() ends the session at once: its ephemerals are gone when it returns', async () => {
    const observer = await client();
    const c = await connect({ endpoints: allEndpoints(), sessionTimeoutMs: 60_000 });
    await c.create('/closing', '', { mode: 'ephemeral' });
    await c.close();
    expect(c.state).toBe('closed');
    expect(await observer.exists('/closing')).toBeNull();
  });

  test('a new leader expires the session of a client that died under the old one', async () => {
    const timeoutMs = 2_000;
    const leader = await cluster.leader();
    const observerId = [1, 2, 3].find((id) => id !== leader) as number;
    const observer = await client({ endpoints: [endpoint(observerId)] });
    const h = await holder('/held-leader-change', timeoutMs);
    const { deleted } = await deletedAfter(observer, '/held-leader-change');
    h.proc.kill('SIGKILL');
    await cluster.kill(leader);
    await cluster.leader();
    await deleted;
    expect(await observer.exists('/held-leader-change')).toBeNull();
  });

  test('a client process paused past its timeout loses its ephemeral node and learns it expired', async () => {
    const timeoutMs = 2_000;
    const observer = await client();
    const h = await holder('/held-pause', timeoutMs);
    const { deleted } = await deletedAfter(observer, '/held-pause');
    h.proc.kill('SIGSTOP');
    await deleted;
    h.proc.kill('SIGCONT');
    await waitFor('the holder to see its session expire', () => (h.lines.includes('state expired') ? true : undefined), 20_000);
  });
});

import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Barrier, Counter, DoubleBarrier, ReadWriteLock, Semaphore, connect, isVigilError, type Lease, type VigilClient } from '@vigil/client';
import { TestCluster, waitFor } from './support/cluster.js';

/**
 * The synchronisation recipes — read-write lock, semaphore, barriers, counter — against a real
 * three-node cluster of processes, with several clients each: their guarantees under concurrency,
 * deadlines and cancellation (and the cleanup of the waiter's node), try-acquire, and what a
 * holder's expired session or closed client does to the others.
 */

let cluster: TestCluster;
let clients: VigilClient[] = [];
const relays: Relay[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  clients = [];
  for (const r of relays.splice(0)) await r.close();
  // A test that failed after killing a member must not leave the next one without a majority.
  await cluster.heal();
});
afterAll(async () => {
  await cluster.close();
});

const endpoint = (id: number): string => `ws://127.0.0.1:${cluster.node(id).clientPort}`;
const allEndpoints = (): string[] => [1, 2, 3].filter((id) => cluster.live().includes(id)).map(endpoint);

async function client(options: Partial<Parameters<typeof connect>[0]> = {}): Promise<VigilClient> {
  const c = await connect({ endpoints: allEndpoints(), ...options });
  clients.push(c);
  return c;
}

async function clientsOf(n: number): Promise<VigilClient[]> {
  return Promise.all(Array.from({ length: n }, () => client()));
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

/** The names of `dir`'s children that start with `prefix`. */
async function childrenOf(c: VigilClient, dir: string, prefix: string): Promise<string[]> {
  try {
    return (await c.children(dir)).names.filter((n) => n.startsWith(prefix));
  } catch (err) {
    if (isVigilError(err) && err.code === 'NO_NODE') return [];
    throw err;
  }
}

/** Waits until `dir` has exactly `count` children named `prefix…` (a participant is queued). */
async function queued(c: VigilClient, dir: string, prefix: string, count: number): Promise<void> {
  await waitFor(`${count} × ${prefix} in ${dir}`, async () => ((await childrenOf(c, dir, prefix)).length === count ? true : undefined));
}

/** A promise whose settlement can be looked at without awaiting it. */
function track<T>(p: Promise<T>): { readonly promise: Promise<T>; done: boolean; value?: T } {
  const t: { promise: Promise<T>; done: boolean; value?: T } = { promise: p, done: false };
  p.then(
    (v) => {
      t.done = true;
      t.value = v;
    },
    () => {
      t.done = true;
    },
  );
  return t;
}

/**
 * A TCP relay between one client and one server that the test can sever: the client's connection
 * drops and new ones are refused, so its session expires on the cluster while it stays in the
 * test's process; `mend()` lets it reconnect and learn of the expiry.
 */
class Relay {
  private readonly sockets = new Set<Socket>();
  private severed = false;
  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<Relay> {
    const server = createServer();
    const relay = new Relay(server);
    server.on('connection', (downstream) => relay.accept(downstream, targetPort));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    relays.push(relay);
    return relay;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  sever(): void {
    this.severed = true;
    for (const s of this.sockets) s.destroy();
  }

  mend(): void {
    this.severed = false;
  }

  async close(): Promise<void> {
    this.sever();
    this.server.close();
    await once(this.server, 'close');
  }

  private accept(downstream: Socket, targetPort: number): void {
    if (this.severed) {
      downstream.destroy();
      return;
    }
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    for (const [a, b] of [[downstream, upstream], [upstream, downstream]] as const) {
      this.sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
    }
  }
}

/**
 * A client whose only way to the cluster is a relay the test can sever, with the shortest session
 * timeout the cluster grants and quick reconnects.
 */
async function severableClient(): Promise<{ c: VigilClient; relay: Relay }> {
  const relay = await Relay.start(cluster.node(await cluster.leader()).clientPort);
  const c = await client({ endpoints: [relay.url], sessionTimeoutMs: 1_500, reconnectBackoff: { baseMs: 20, maxMs: 200 } });
  return { c, relay };
}

/** Counts holders of each kind as they come and go, and remembers every overlap it was shown. */
class Occupancy {
  readers = 0;
  writers = 0;
  readersMax = 0;
  readonly violations: string[] = [];

  enter(kind: 'read' | 'write', who: string): void {
    if (kind === 'write' && (this.readers > 0 || this.writers > 0)) this.violations.push(`${who} wrote alongside ${this.readers}r/${this.writers}w`);
    if (kind === 'read' && this.writers > 0) this.violations.push(`${who} read alongside a writer`);
    if (kind === 'read') this.readersMax = Math.max(this.readersMax, ++this.readers);
    else this.writers++;
  }

  leave(kind: 'read' | 'write'): void {
    if (kind === 'read') this.readers--;
    else this.writers--;
  }
}

describe('ReadWriteLock', () => {
  test('readers share, a writer waits for them, and readers that came after the writer wait behind it', async () => {
    const [a, b, w, late] = await clientsOf(4);
    const dir = '/rw/fair';
    const occupancy = new Occupancy();
    const order: string[] = [];
    const hold = async (c: VigilClient, kind: 'read' | 'write', who: string): Promise<Lease> => {
      const lock = new ReadWriteLock(c, dir);
      const lease = await (kind === 'read' ? lock.readLock : lock.writeLock).acquire({ timeoutMs: 15_000 });
      occupancy.enter(kind, who);
      order.push(who);
      return lease;
    };
    const release = async (lease: Lease, kind: 'read' | 'write'): Promise<void> => {
      occupancy.leave(kind);
      await lease.release();
    };

    const r1 = await hold(a!, 'read', 'r1');
    const r2 = await hold(b!, 'read', 'r2');
    expect(occupancy.readers).toBe(2);
    const writer = track(hold(w!, 'write', 'w'));
    await queued(a!, dir, 'write-', 1);
    const r3 = track(hold(late!, 'read', 'r3'));
    await queued(a!, dir, 'read-', 3);

    await release(r1, 'read');
    await release(r2, 'read');
    const wLease = await writer.promise;
    expect(r3.done).toBe(false);
    await release(wLease, 'write');
    const r3Lease = await r3.promise;
    await release(r3Lease, 'read');

    expect(order).toEqual(['r1', 'r2', 'w', 'r3']);
    expect(occupancy.violations).toEqual([]);
    expect(wLease.token).toBeGreaterThan(r2.token);
    expect(r3Lease.token).toBeGreaterThan(wLease.token);
    expect(await childrenOf(a!, dir, '')).toEqual([]);
  });

  test('under contention from several clients a writer never overlaps anyone', async () => {
    const cs = await clientsOf(5);
    const dir = '/rw/contention';
    const occupancy = new Occupancy();
    const rounds = 4;
    await Promise.all(
      cs.map(async (c, i) => {
        const lock = new ReadWriteLock(c, dir);
        for (let round = 0; round < rounds; round++) {
          const kind = (i + round) % 3 === 0 ? 'write' : 'read';
          const lease = await (kind === 'read' ? lock.readLock : lock.writeLock).acquire({ timeoutMs: 20_000 });
          occupancy.enter(kind, `client ${i} round ${round}`);
          expect(lease.isHeld()).toBe(true);
          await c.multi([lease.fence(), { op: 'check', path: dir }]);
          occupancy.leave(kind);
          await lease.release();
        }
      }),
    );
    expect(occupancy.violations).toEqual([]);
    expect(occupancy.readers + occupancy.writers).toBe(0);
  });

  test('tryAcquire: readers join readers, a writer does not, and a refused try leaves no node', async () => {
    const [a, b] = await clientsOf(2);
    const dir = '/rw/try';
    const reader = await new ReadWriteLock(a!, dir).readLock.tryAcquire();
    expect(reader).not.toBeNull();
    const other = new ReadWriteLock(b!, dir);
    expect(await other.writeLock.tryAcquire()).toBeNull();
    expect(other.writeLock.isHeld()).toBe(false);
    const second = await other.readLock.tryAcquire();
    expect(second).not.toBeNull();
    expect(other.readLock.isHeld()).toBe(true);
    expect((await childrenOf(a!, dir, '')).length).toBe(2);
    await reader!.release();
    await second!.release();
    expect(other.readLock.isHeld()).toBe(false);
    const writer = await other.writeLock.tryAcquire();
    expect(writer).not.toBeNull();
    expect(await new ReadWriteLock(a!, dir).readLock.tryAcquire()).toBeNull();
    await writer!.release();
  });

  test('a waiting writer gives up with TIMEOUT or CANCELLED and its node is deleted', async () => {
    const [a, b] = await clientsOf(2);
    const dir = '/rw/deadline';
    const reader = await new ReadWriteLock(a!, dir).readLock.acquire();
    const lock = new ReadWriteLock(b!, dir);
    expect(await codeOf(lock.writeLock.acquire({ timeoutMs: 300 }))).toBe('TIMEOUT');
    expect(await childrenOf(a!, dir, 'write-')).toEqual([]);
    const abort = new AbortController();
    const waiting = codeOf(lock.writeLock.acquire({ signal: abort.signal }));
    await queued(a!, dir, 'write-', 1);
    abort.abort();
    expect(await waiting).toBe('CANCELLED');
    expect(await childrenOf(a!, dir, 'write-')).toEqual([]);
    expect(reader.isHeld()).toBe(true);
    await reader.release();
  });

  test('a writer whose session expires learns it first, then the waiting reader gets in; fenced writes of the old holder fail', async () => {
    const { c: holder, relay } = await severableClient();
    const other = await client();
    const dir = '/rw/expiry';
    const lease = await new ReadWriteLock(holder, dir).writeLock.acquire();
    const events: string[] = [];
    lease.signal.addEventListener('abort', () => events.push('holder lost'));
    const reader = track(new ReadWriteLock(other, dir).readLock.acquire({ timeoutMs: 20_000 }).then((l) => (events.push('reader in'), l)));
    await queued(other, dir, 'read-', 1);
    expect(reader.done).toBe(false);

    const firstSession = holder.sessionId;
    relay.sever();
    const readerLease = await reader.promise;
    expect(events).toEqual(['holder lost', 'reader in']);
    expect(lease.lostReason).toBe('suspended');
    expect(lease.isHeld()).toBe(false);

    relay.mend();
    await waitFor('the holder to open a new session', () => (holder.state === 'connected' && holder.sessionId !== firstSession ? true : undefined));
    expect(await holder.exists(lease.path)).toBeNull();
    expect(await codeOf(holder.multi([lease.fence(), { op: 'set', path: dir, data: 'stale' }]))).toBe('NO_NODE');
    await readerLease.release();
  });
});

describe('Semaphore', () => {
  test('at most n hold at once, and permits go in arrival order whoever releases', async () => {
    const cs = await clientsOf(5);
    const dir = '/sem/fifo';
    const permits = 2;
    let holding = 0;
    let holdingMax = 0;
    const order: string[] = [];
    const take = async (c: VigilClient, who: string): Promise<Lease> => {
      const lease = await new Semaphore(c, dir, { permits }).acquire({ timeoutMs: 15_000 });
      holdingMax = Math.max(holdingMax, ++holding);
      order.push(who);
      return lease;
    };
    const give = async (lease: Lease): Promise<void> => {
      holding--;
      await lease.release();
    };

    const p1 = await take(cs[0]!, 'p1');
    const p2 = await take(cs[1]!, 'p2');
    expect(holding).toBe(2);
    expect(await new Semaphore(cs[2]!, dir, { permits }).tryAcquire()).toBeNull();
    expect((await childrenOf(cs[0]!, dir, 'permit-')).length).toBe(2);

    const p3 = track(take(cs[2]!, 'p3'));
    await queued(cs[0]!, dir, 'permit-', 3);
    const p4 = track(take(cs[3]!, 'p4'));
    await queued(cs[0]!, dir, 'permit-', 4);
    const p5 = track(take(cs[4]!, 'p5'));
    await queued(cs[0]!, dir, 'permit-', 5);

    // The oldest holder leaves, not the one just ahead of the first waiter: the head must hear it.
    await give(p1);
    const l3 = await p3.promise;
    // p4 now waits behind a holder (p3) and must hear p2's release.
    await give(p2);
    const l4 = await p4.promise;
    expect(p5.done).toBe(false);
    await give(l3);
    const l5 = await p5.promise;

    expect(order).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
    expect(holdingMax).toBe(permits);
    expect([l3.token, l4.token, l5.token]).toEqual([...[l3.token, l4.token, l5.token]].sort((x, y) => x - y));
    await give(l4);
    await give(l5);
  });

  test('several clients looping over acquire and release never exceed the permits', async () => {
    const cs = await clientsOf(6);
    const dir = '/sem/contention';
    const permits = 2;
    const rounds = 4;
    let holding = 0;
    let holdingMax = 0;
    let done = 0;
    await Promise.all(
      cs.map(async (c) => {
        const semaphore = new Semaphore(c, dir, { permits });
        for (let round = 0; round < rounds; round++) {
          const lease = await semaphore.acquire({ timeoutMs: 20_000 });
          holdingMax = Math.max(holdingMax, ++holding);
          await c.multi([lease.fence(), { op: 'check', path: dir }]);
          holding--;
          await lease.release();
          done++;
        }
      }),
    );
    expect(done).toBe(cs.length * rounds);
    expect(holdingMax).toBeLessThanOrEqual(permits);
    expect(holdingMax).toBeGreaterThan(0);
    expect(await childrenOf(cs[0]!, dir, 'permit-')).toEqual([]);
  });

  test('every participant must agree on the permit count', async () => {
    const [a, b] = await clientsOf(2);
    const dir = '/sem/agree';
    const lease = await new Semaphore(a!, dir, { permits: 3 }).acquire();
    expect(new TextDecoder().decode((await a!.get(dir)).data)).toBe('3');
    expect(await codeOf(new Semaphore(b!, dir, { permits: 2 }).acquire())).toBe('BAD_ARGUMENTS');
    expect(await codeOf(new Semaphore(b!, dir, { permits: 2 }).tryAcquire())).toBe('BAD_ARGUMENTS');
    expect(() => new Semaphore(b!, dir, { permits: 0 })).toThrow(/permits/);
    expect((await childrenOf(a!, dir, 'permit-')).length).toBe(1);
    await lease.release();
  });

  test('a waiter gives up with TIMEOUT or CANCELLED and its node is deleted', async () => {
    const [a, b] = await clientsOf(2);
    const dir = '/sem/deadline';
    const held = await new Semaphore(a!, dir, { permits: 1 }).acquire();
    const semaphore = new Semaphore(b!, dir, { permits: 1 });
    expect(await codeOf(semaphore.acquire({ timeoutMs: 300 }))).toBe('TIMEOUT');
    expect((await childrenOf(a!, dir, 'permit-')).length).toBe(1);
    const abort = new AbortController();
    const waiting = codeOf(semaphore.acquire({ signal: abort.signal }));
    await queued(a!, dir, 'permit-', 2);
    abort.abort();
    expect(await waiting).toBe('CANCELLED');
    expect((await childrenOf(a!, dir, 'permit-')).length).toBe(1);
    expect(semaphore.isHeld()).toBe(false);
    await held.release();
  });

  test('when a holder’s client closes, its permit passes to the next in line', async () => {
    const [holder, next] = await clientsOf(2);
    const dir = '/sem/close';
    const lease = await new Semaphore(holder!, dir, { permits: 1 }).acquire();
    const waiting = track(new Semaphore(next!, dir, { permits: 1 }).acquire({ timeoutMs: 15_000 }));
    await queued(next!, dir, 'permit-', 2);
    expect(waiting.done).toBe(false);
    await holder!.close();
    // The close ends the session: the node's deletion or the state change, whichever the lease hears first.
    expect(['closed', 'deleted']).toContain(lease.lostReason);
    const nextLease = await waiting.promise;
    expect(nextLease.isHeld()).toBe(true);
    expect(nextLease.token).toBeGreaterThan(lease.token);
    await nextLease.release();
  });

  test('a holder whose session expires loses its permit, and the waiter gets it', async () => {
    const { c: holder, relay } = await severableClient();
    const next = await client();
    const dir = '/sem/expiry';
    const lease = await new Semaphore(holder, dir, { permits: 1 }).acquire();
    const events: string[] = [];
    lease.signal.addEventListener('abort', () => events.push('holder lost'));
    const waiting = new Semaphore(next, dir, { permits: 1 }).acquire({ timeoutMs: 20_000 }).then((l) => (events.push('next in'), l));
    await queued(next, dir, 'permit-', 2);
    relay.sever();
    const nextLease = await waiting;
    expect(events).toEqual(['holder lost', 'next in']);
    expect(lease.lostReason).toBe('suspended');
    await nextLease.release();
  });
});

describe('Barrier', () => {
  test('waiters pass only once the barrier is removed; a wait on no barrier passes at once', async () => {
    const [a, b, c] = await clientsOf(3);
    const path = '/barrier/gate';
    await new Barrier(a!, path).set();
    await new Barrier(a!, path).set();
    expect(await new Barrier(b!, path).isSet()).toBe(true);
    const waiters = [b!, c!].map((x) => ({ x, wait: track(new Barrier(x, path).wait({ timeoutMs: 15_000 }).then(() => x.lastRevision)) }));
    expect(await codeOf(new Barrier(c!, path).wait({ timeoutMs: 200 }))).toBe('TIMEOUT');
    expect(waiters.some((w) => w.wait.done)).toBe(false);
    await new Barrier(a!, path).remove();
    await new Barrier(a!, path).remove();
    const removedAt = (await a!.exists('/barrier'))!.pzxid;
    for (const w of waiters) expect(await w.wait.promise).toBeGreaterThanOrEqual(removedAt);
    await new Barrier(c!, path).wait({ timeoutMs: 1_000 });
    const abort = new AbortController();
    await new Barrier(a!, path).set();
    const aborted = codeOf(new Barrier(b!, path).wait({ signal: abort.signal }));
    abort.abort();
    expect(await aborted).toBe('CANCELLED');
  });
});

describe('DoubleBarrier', () => {
  test('no member passes enter before count members entered, and no one passes leave before all left', async () => {
    const cs = await clientsOf(4);
    const dir = '/double/round';
    const count = cs.length;
    const members = cs.map((c, i) => new DoubleBarrier(c, dir, { count, id: `m${i}` }));
    let lastEnterStarted = false;
    const enter = (i: number): Promise<{ early: boolean; revision: number }> =>
      members[i]!.enter({ timeoutMs: 15_000 }).then(() => ({ early: !lastEnterStarted, revision: cs[i]!.lastRevision }));
    const early = [0, 1, 2].map(enter);
    await queued(cs[0]!, dir, 'member-', 3);
    expect(await cs[0]!.exists(`${dir}/ready`)).toBeNull();
    lastEnterStarted = true;
    const entered = await Promise.all([...early, enter(3)]);
    const readyAt = (await cs[0]!.exists(`${dir}/ready`))!.czxid;
    for (const e of entered) {
      expect(e.early).toBe(false);
      // Each member saw the ready node's creation (or made it) before it passed.
      expect(e.revision).toBeGreaterThanOrEqual(readyAt);
    }

    let lastLeaveStarted = false;
    const leave = (i: number): Promise<{ early: boolean; revision: number }> =>
      members[i]!.leave({ timeoutMs: 15_000 }).then(() => ({ early: !lastLeaveStarted, revision: cs[i]!.lastRevision }));
    const leaving = [0, 1, 2].map(leave);
    // The first of them to have entered stays until the end; the other two are gone.
    await queued(cs[0]!, dir, 'member-', 2);
    lastLeaveStarted = true;
    const left = await Promise.all([...leaving, leave(3)]);
    expect(await childrenOf(cs[0]!, dir, '')).toEqual([]);
    const lastLeftAt = (await cs[0]!.exists(dir))!.pzxid;
    for (const l of left) {
      expect(l.early).toBe(false);
      expect(l.revision).toBeGreaterThanOrEqual(lastLeftAt);
    }
  });

  test('enter gives up with TIMEOUT, its node deleted so that it does not count', async () => {
    const [a, b] = await clientsOf(2);
    const dir = '/double/deadline';
    expect(await codeOf(new DoubleBarrier(a!, dir, { count: 2 }).enter({ timeoutMs: 300 }))).toBe('TIMEOUT');
    expect(await childrenOf(a!, dir, 'member-')).toEqual([]);
    const abort = new AbortController();
    const waiting = codeOf(new DoubleBarrier(a!, dir, { count: 2 }).enter({ signal: abort.signal }));
    await queued(b!, dir, 'member-', 1);
    abort.abort();
    expect(await waiting).toBe('CANCELLED');
    expect(await childrenOf(a!, dir, 'member-')).toEqual([]);
    expect(await codeOf(new DoubleBarrier(b!, dir, { count: 2 }).enter({ timeoutMs: 300 }))).toBe('TIMEOUT');
    expect(() => new DoubleBarrier(a!, dir, { count: 0 })).toThrow(/count/);
  });

  test('a member whose client closes counts as left, so the others’ leave completes', async () => {
    const [a, b, c] = await clientsOf(3);
    const dir = '/double/close';
    const members = [c!, a!, b!].map((x) => new DoubleBarrier(x, dir, { count: 3 }));
    // c enters first: it is the member the others wait for when they leave.
    const entering = [members[0]!.enter({ timeoutMs: 15_000 })];
    await queued(a!, dir, 'member-', 1);
    entering.push(...[members[1]!, members[2]!].map((m) => m.enter({ timeoutMs: 15_000 })));
    await Promise.all(entering);
    const leaving = [members[1]!, members[2]!].map((m) => track(m.leave({ timeoutMs: 15_000 })));
    await queued(a!, dir, 'member-', 1);
    expect(leaving.some((l) => l.done)).toBe(false);
    await c!.close();
    await Promise.all(leaving.map((l) => l.promise));
    expect(await childrenOf(a!, dir, '')).toEqual([]);
  });
});

describe('Counter', () => {
  test('N clients × M concurrent adds give exactly N·M, each add seeing its own new value', async () => {
    const cs = await clientsOf(4);
    const path = '/counter/hits';
    const adds = 25;
    const results = await Promise.all(cs.flatMap((c) => {
      const counter = new Counter(c, path);
      return Array.from({ length: adds }, () => counter.add(1));
    }));
    const total = cs.length * adds;
    expect(await new Counter(cs[0]!, path).get()).toBe(total);
    // Every add(1) linearized from 0 sees a distinct value: exactly 1..N·M.
    expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  test('separate Counter objects outbidding each other still lose nothing', async () => {
    const cs = await clientsOf(3);
    const path = '/counter/contended';
    const objectsPerClient = 3;
    const addsPerObject = 4;
    const results: number[] = [];
    await Promise.all(cs.flatMap((c) => Array.from({ length: objectsPerClient }, async () => {
      const counter = new Counter(c, path);
      for (let i = 0; i < addsPerObject; i++) results.push(await counter.add(2));
    })));
    const total = cs.length * objectsPerClient * addsPerObject;
    expect(await new Counter(cs[0]!, path).get()).toBe(2 * total);
    expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => 2 * (i + 1)));
  });

  test('get, set, compareAndSet and bad values', async () => {
    const c = await client();
    const path = '/counter/ops';
    const counter = new Counter(c, path);
    expect(await counter.get()).toBe(0);
    expect(await c.exists(path)).toBeNull();
    expect(await counter.compareAndSet(1, 5)).toBe(false);
    expect(await counter.compareAndSet(0, 5)).toBe(true);
    expect(await counter.get()).toBe(5);
    expect(new TextDecoder().decode((await c.get(path)).data)).toBe('5');
    await counter.set(-3);
    expect(await counter.add(-2)).toBe(-5);
    expect(await counter.compareAndSet(5, 6)).toBe(false);
    expect(await counter.get()).toBe(-5);
    expect(await codeOf(counter.add(1.5))).toBe('BAD_ARGUMENTS');
    expect(await codeOf(counter.set(Number.MAX_SAFE_INTEGER + 2))).toBe('BAD_ARGUMENTS');
    await counter.set(Number.MAX_SAFE_INTEGER);
    expect(await codeOf(counter.add(1))).toBe('BAD_ARGUMENTS');
    expect(await counter.get()).toBe(Number.MAX_SAFE_INTEGER);
    await c.set(path, 'twelve');
    expect(await codeOf(counter.get())).toBe('BAD_ARGUMENTS');
    expect(await codeOf(counter.add(1))).toBe('BAD_ARGUMENTS');
  });

  test('adds in flight when the connected server dies are each counted exactly once', async () => {
    // Connected to a follower, so that the cluster keeps its leader and the test its pace.
    const leader = await cluster.leader();
    let c = await client();
    for (let attempt = 0; attempt < 16 && c.serverId === leader; attempt++) c = await client();
    expect(c.serverId).not.toBe(leader);
    const observer = await client();
    const path = '/counter/failover';
    const objects = 8;
    const addsPerObject = 12;
    const results: number[] = [];
    let started = 0;
    const victim = c.serverId;
    const work = Promise.all(Array.from({ length: objects }, async () => {
      const counter = new Counter(c, path);
      for (let i = 0; i < addsPerObject; i++) {
        started++;
        results.push(await counter.add(1));
      }
    }));
    await waitFor('adds under way', () => (started >= objects * 3 ? true : undefined), 15_000, 1);
    await cluster.kill(victim);
    await work;
    const total = objects * addsPerObject;
    expect(await new Counter(observer, path).get()).toBe(total);
    expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(c.serverId).not.toBe(victim);
    cluster.spawn(victim);
    await cluster.leader();
  });
});

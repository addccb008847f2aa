import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { connect, isVigilError, LeaderElection, Lock, type LeaderInfo, type VigilClient } from '@vigil/client';
import { TestCluster, waitFor } from './support/cluster.js';

/**
 * Locks and leader election against a real three-node cluster, with contenders in several client
 * processes: mutual exclusion and fencing-token order, a holder paused past its session timeout,
 * a holder killed, the Vigil leader killed mid-contention, a reconnect in the middle of a wait,
 * no herd on release, and one leader per token with an observer that sees every handover.
 */

let cluster: TestCluster;
let clients: VigilClient[] = [];
const workers: ChildProcess[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  clients = [];
  for (const w of workers.splice(0)) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  // A test that failed after killing a member must not leave the next one without a majority.
  await cluster.heal();
});
afterAll(async () => {
  await cluster.close();
});

const endpoint = (id: number): string => `ws://127.0.0.1:${cluster.node(id).clientPort}`;
const allEndpoints = (): string[] => [1, 2, 3].filter((id) => cluster.live().includes(id)).map(endpoint);
const hrtimeMs = (ns: string | bigint): number => Number(BigInt(ns) / 1000n) / 1000;

async function client(options: Partial<Parameters<typeof connect>[0]> = {}): Promise<VigilClient> {
  const c = await connect({ endpoints: allEndpoints(), sessionTimeoutMs: 10_000, ...options });
  clients.push(c);
  return c;
}

interface WorkerEvent {
  readonly e: string;
  readonly at: string;
  readonly [field: string]: unknown;
}

function worker(options: Record<string, unknown>): { proc: ChildProcess; events: WorkerEvent[] } {
  const script = fileURLToPath(new URL('./support/recipe-worker.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify({ endpoints: allEndpoints(), ...options })], { stdio: ['pipe', 'pipe', 'inherit'] });
  workers.push(proc);
  const events: WorkerEvent[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => events.push(JSON.parse(l) as WorkerEvent));
  return { proc, events };
}

const eventOf = (events: readonly WorkerEvent[], e: string): WorkerEvent | undefined => events.find((x) => x.e === e);

interface Held {
  readonly token: number;
  readonly fromMs: number;
  readonly toMs: number;
}

/** Intervals in acquisition order must not overlap, and tokens must strictly increase along them. */
function expectExclusive(held: readonly Held[]): void {
  const ordered = [...held].sort((a, b) => a.fromMs - b.fromMs);
  for (let i = 1; i < ordered.length; i++) {
    const prev = ordered[i - 1]!;
    const next = ordered[i]!;
    expect(next.fromMs, `holder ${next.token} began before ${prev.token} ended`).toBeGreaterThan(prev.toMs);
    expect(next.token, 'fencing tokens increase from holder to holder').toBeGreaterThan(prev.token);
  }
}

describe('Lock', () => {
  test('mutual exclusion among contenders in three processes, with strictly increasing tokens', async () => {
    const setup = await client();
    await setup.create('/mutex-guard', '');
    const processes = [0, 1, 2].map(() => worker({ mode: 'contend', path: '/mutex', guard: '/mutex-guard', sessionTimeoutMs: 10_000, contenders: 4, rounds: 8 }));
    await waitFor('every contender to finish', () => (processes.every((p) => eventOf(p.events, 'done') !== undefined) ? true : undefined), 60_000);
    const held = processes.flatMap((p) => p.events.filter((x) => x.e === 'held').map((x) => ({ token: x.token as number, fromMs: hrtimeMs(x.from as string), toMs: hrtimeMs(x.to as string) })));
    expect(held).toHaveLength(3 * 4 * 8);
    expectExclusive(held);
    expect(new Set(held.map((h) => h.token)).size).toBe(held.length);
    // Every contender's node is gone: nothing was left behind by retries.
    expect((await setup.children('/mutex')).names).toEqual([]);
  });

  test('a holder paused past its session timeout loses the lock: its lease aborts before it acts again, and its fenced write is refused', async () => {
    const timeoutMs = 2_000;
    const observer = await client();
    await observer.create('/paused-guard', '');
    const h = worker({ mode: 'hold', path: '/paused', guard: '/paused-guard', sessionTimeoutMs: timeoutMs, everyMs: 20 });
    const acquired = await waitFor('the holder to acquire', () => eventOf(h.events, 'acquired'), 20_000);
    await waitFor('a fenced write', () => (h.events.some((x) => x.e === 'wrote' && x.ok === true) ? true : undefined));
    h.proc.kill('SIGSTOP');
    const next = await new Lock(observer, '/paused').acquire({ timeoutMs: 20_000 });
    expect(next.token).toBeGreaterThan(acquired.token as number);
    const resumedAt = process.hrtime.bigint();
    h.proc.kill('SIGCONT');
    const fenced = await waitFor('the old holder to try its fenced write', () => eventOf(h.events, 'fenced'), 20_000);
    expect(fenced.code).not.toBe('ok');
    const lost = eventOf(h.events, 'lost')!;
    expect(lost.aborted).toBe(true);
    expect(['suspended', 'expired', 'deleted']).toContain(lost.reason);
    // Nothing was attempted after the resume before the loss was known.
    const actedAfterResume = h.events.filter((x) => x.e === 'wrote' && BigInt(x.sent as string) > resumedAt);
    expect(actedAfterResume).toEqual([]);
    // Every write the old holder made is older than the new holder's grant.
    for (const w of h.events.filter((x) => x.e === 'wrote' && x.ok === true)) expect(w.revision as number).toBeLessThan(next.token);
    expect(next.isHeld()).toBe(true);
    await next.release();
  });

  test('a killed holder’s lock passes on once its session expires, not before', async () => {
    const timeoutMs = 2_000;
    const observer = await client();
    await observer.create('/killed-guard', '');
    const h = worker({ mode: 'hold', path: '/killed', guard: '/killed-guard', sessionTimeoutMs: timeoutMs, everyMs: 200 });
    await waitFor('the holder to acquire', () => eventOf(h.events, 'acquired'), 20_000);
    const waiting = new Lock(observer, '/killed').acquire({ timeoutMs: 20_000 });
    const killedAt = Date.now();
    h.proc.kill('SIGKILL');
    const lease = await waiting;
    const handoverMs = Date.now() - killedAt;
    // The session outlives its process by up to its timeout: at least half of it (the client pings
    // every third of a timeout; half leaves room for a ping a loaded machine sent late). On top of
    // the timeout, two seconds at most for the leader's expiry check, the commit, the watch and the
    // waiter's listing.
    expect(handoverMs).toBeGreaterThanOrEqual(timeoutMs / 2);
    expect(handoverMs).toBeLessThanOrEqual(timeoutMs + 2_000);
    await lease.release();
  });

  test('contention goes on through a kill -9 of the Vigil leader: still exclusive, tokens still increasing', async () => {
    const contenders = await Promise.all([0, 1, 2, 3].map(() => client()));
    await contenders[0]!.create('/failover-guard', '');
    const held: Held[] = [];
    const leader = await cluster.leader();
    let stop = false;
    const loops = contenders.map(async (c) => {
      const lock = new Lock(c, '/failover');
      while (!stop) {
        const lease = await lock.acquire({ timeoutMs: 30_000 });
        const fromMs = performance.now();
        try {
          await c.multi([lease.fence(), { op: 'set', path: '/failover-guard', data: String(lease.token) }]);
        } catch (err) {
          // The write's outcome is unknown when the connection breaks under it; the lease may be fine.
          if (!isVigilError(err) || (err.code !== 'CONNECTION_LOSS' && err.code !== 'TIMEOUT')) throw err;
        }
        const toMs = performance.now();
        await lease.release();
        held.push({ token: lease.token, fromMs, toMs });
      }
    });
    await waitFor('some rounds', () => (held.length >= 10 ? true : undefined));
    await cluster.kill(leader);
    const before = held.length;
    await waitFor('rounds after the failover', () => (held.length >= before + 20 ? true : undefined), 30_000);
    stop = true;
    await Promise.all(loops);
    expectExclusive(held);
  });

  test('a waiter whose server is lost mid-wait still gets the lock when it is released', async () => {
    const holderClient = await client();
    const waiterClient = await client();
    const holding = await new Lock(holderClient, '/midwait').acquire();
    const states: string[] = [];
    waiterClient.on('state', (s) => states.push(s));
    const waiting = new Lock(waiterClient, '/midwait').acquire({ timeoutMs: 30_000 });
    await waitFor('the waiter to queue', async () => ((await holderClient.children('/midwait')).names.length === 2 ? true : undefined));
    const lostServer = waiterClient.serverId;
    await cluster.kill(lostServer);
    await waitFor('the waiter to reconnect', () => (states.includes('reconnected') ? true : undefined), 20_000);
    expect(waiterClient.serverId).not.toBe(lostServer);
    await holding.release();
    const lease = await waiting;
    expect(lease.token).toBeGreaterThan(holding.token);
    await lease.release();
  });

  test('a release wakes only the next waiter, not the herd', async () => {
    const waitersCount = 8;
    const holderClient = await client();
    const holding = await new Lock(holderClient, '/herd').acquire();
    // Each waiter's client counts the queue listings it makes: a woken waiter lists the queue again.
    const listings = new Array<number>(waitersCount).fill(0);
    const armed = new Array<number>(waitersCount).fill(0);
    const waiters = await Promise.all(
      Array.from({ length: waitersCount }, async (_, i) => {
        const c = await client();
        return new Proxy(c, {
          get(target, prop) {
            if (prop === 'children') return (...args: Parameters<VigilClient['children']>) => (listings[i]!++, target.children(...args));
            if (prop === 'exists') return (...args: Parameters<VigilClient['exists']>) => target.exists(...args).finally(() => armed[i]!++);
            const value: unknown = Reflect.get(target, prop, target);
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
      }),
    );
    let releasing = false;
    const leases = waiters.map((c) => new Lock(c, '/herd').acquire({ timeoutMs: 30_000 }).then(async (lease) => {
      // Once counted, every waiter passes the lock on as soon as it has it (FIFO order, not index order).
      if (releasing) await lease.release();
      return lease;
    }));
    await waitFor('every waiter to watch its predecessor', () => (armed.every((n) => n >= 1) ? true : undefined));
    const listedBefore = listings.reduce((a, b) => a + b, 0);
    await holding.release();
    const first = await Promise.race(leases.map((p, i) => p.then((lease) => ({ lease, i }))));
    // The release woke exactly one waiter, which listed the queue once and found itself first.
    expect(listings.reduce((a, b) => a + b, 0) - listedBefore).toBe(1);
    releasing = true;
    await first.lease.release();
    await Promise.all(leases);
  });

  test('an acquire that times out or is aborted leaves no node behind', async () => {
    const a = await client();
    const b = await client();
    const holding = await new Lock(a, '/giveup').acquire();
    const timedOut = await new Lock(b, '/giveup').acquire({ timeoutMs: 200 }).catch((err: unknown) => err);
    expect(isVigilError(timedOut) && timedOut.code).toBe('TIMEOUT');
    const controller = new AbortController();
    const aborted = new Lock(b, '/giveup').acquire({ signal: controller.signal }).catch((err: unknown) => err);
    await waitFor('the second waiter to queue', async () => ((await a.children('/giveup')).names.length === 2 ? true : undefined));
    controller.abort();
    expect(isVigilError(await aborted) && (await aborted as { code: string }).code).toBe('CANCELLED');
    await waitFor('the queue to hold only the holder', async () => ((await a.children('/giveup')).names.length === 1 ? true : undefined));
    expect(await new Lock(b, '/giveup').tryAcquire()).toBeNull();
    await holding.release();
    const taken = await new Lock(b, '/giveup').tryAcquire();
    expect(taken).not.toBeNull();
    await taken!.release();
  });

  test('a re-entrant lock counts nested holds and is released with the last', async () => {
    const a = await client();
    const b = await client();
    const lock = new Lock(a, '/reentrant', { reentrant: true });
    const outer = await lock.acquire();
    const inner = await lock.acquire();
    expect(inner.token).toBe(outer.token);
    await inner.release();
    expect(lock.isHeld()).toBe(true);
    expect(await new Lock(b, '/reentrant').tryAcquire()).toBeNull();
    await outer.release();
    expect(lock.isHeld()).toBe(false);
    expect(outer.signal.aborted).toBe(true);
    const other = await new Lock(b, '/reentrant').tryAcquire();
    expect(other).not.toBeNull();
    await other!.release();
  });

  test('a lease is lost when someone else deletes its node, and its fence then refuses writes', async () => {
    const a = await client();
    const admin = await client();
    await a.create('/deleted-guard', '');
    const lease = await new Lock(a, '/deleted').acquire();
    const reason = new Promise((resolve) => lease.signal.addEventListener('abort', () => resolve(lease.lostReason)));
    await admin.delete(lease.path);
    expect(await reason).toBe('deleted');
    const refused = await a.multi([lease.fence(), { op: 'set', path: '/deleted-guard', data: 'x' }]).catch((err: unknown) => err);
    expect(isVigilError(refused) && refused.code).toBe('NO_NODE');
  });
});

describe('LeaderElection', () => {
  test('one leader per token, every handover observed in order', async () => {
    const candidatesCount = 5;
    const observerClient = await client();
    await observerClient.create('/el-guard', '');
    const observed: (LeaderInfo | null)[] = [];
    const observing = new AbortController();
    const observation = (async () => {
      for await (const leader of new LeaderElection(observerClient, '/el').observe({ signal: observing.signal })) observed.push(leader);
    })();
    await waitFor('the observer to report the empty election', () => (observed.length === 1 ? true : undefined));
    const candidateClients = await Promise.all(Array.from({ length: candidatesCount }, () => client()));
    const elections = candidateClients.map((c, i) => new LeaderElection(c, '/el', { id: `c${i}` }));
    const events: string[] = [];
    for (const e of elections) e.on((ev) => events.push(`${e.id} ${ev.type} ${ev.token}`));
    const campaigns = elections.map((e) => e.campaign(`value of ${e.id}`));
    const leaders: LeaderInfo[] = [];
    for (let round = 0; round < candidatesCount; round++) {
      const { leadership, index } = await Promise.race(campaigns.map((p, index) => p.then((leadership) => ({ leadership, index }))));
      campaigns[index] = new Promise(() => undefined); // taken
      // Exactly one candidate leads: the others are still campaigning.
      expect(elections.filter((e) => e.isLeader())).toEqual([elections[index]]);
      await candidateClients[index]!.multi([leadership.fence(), { op: 'set', path: '/el-guard', data: elections[index]!.id }]);
      await leadership.proclaim(`proclaimed by ${elections[index]!.id}`);
      leaders.push({ id: elections[index]!.id, value: `proclaimed by ${elections[index]!.id}`, token: leadership.token, path: leadership.path });
      await waitFor('the observer to see the proclamation', () => (observed.at(-1)?.value === `proclaimed by ${elections[index]!.id}` ? true : undefined));
      await leadership.resign();
      expect(leadership.lostReason).toBe('resigned');
    }
    await waitFor('the observer to see the election empty', () => (observed.at(-1) === null && observed.length > 1 ? true : undefined));
    observing.abort();
    await observation;
    const tokens = leaders.map((l) => l.token);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(candidatesCount);
    // The observer saw each leader (first with its campaign value, then proclaimed), in order, once.
    const seen = observed.filter((l): l is LeaderInfo => l !== null);
    expect([...new Set(seen.map((l) => l.token))]).toEqual(tokens);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.token).toBeGreaterThanOrEqual(seen[i - 1]!.token);
    // Values are read when their change is seen: the campaign value may be overtaken by the proclamation.
    for (const l of leaders) expect([[`value of ${l.id}`, l.value], [l.value]]).toContainEqual(seen.filter((s) => s.token === l.token).map((s) => s.value));
    for (const e of elections) expect(events.filter((x) => x.startsWith(`${e.id} `))).toEqual([expect.stringMatching(/ elected /), expect.stringMatching(/ lost /)]);
  });

  test('the leader’s process is killed: another candidate leads once its session expires', async () => {
    const timeoutMs = 2_000;
    const standby = new LeaderElection(await client({ sessionTimeoutMs: timeoutMs }), '/el-kill', { id: 'standby' });
    const w = worker({ mode: 'lead', path: '/el-kill', guard: '', sessionTimeoutMs: timeoutMs });
    const elected = await waitFor('the worker to lead', () => eventOf(w.events, 'elected'), 20_000);
    expect((await standby.leader())?.token).toBe(elected.token);
    const campaign = standby.campaign('standby');
    const killedAt = Date.now();
    w.proc.kill('SIGKILL');
    const leadership = await campaign;
    expect(leadership.token).toBeGreaterThan(elected.token as number);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(timeoutMs + 2_000);
    await leadership.resign();
  });

  test('runAsLeader aborts the work on loss and campaigns again', async () => {
    const a = await client();
    const admin = await client();
    const election = new LeaderElection(a, '/el-run', { id: 'runner' });
    const runs: number[] = [];
    const stop = new AbortController();
    const running = election.runAsLeader(
      async (signal) => {
        runs.push(runs.length);
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      },
      { signal: stop.signal },
    );
    await waitFor('the first term', () => (runs.length === 1 ? true : undefined));
    // Someone deletes the leader's node: the work is aborted and a new term begins.
    const first = await election.leader();
    await admin.delete(first!.path);
    await waitFor('the second term', () => (runs.length === 2 ? true : undefined));
    const second = await election.leader();
    expect(second!.token).toBeGreaterThan(first!.token);
    stop.abort();
    await running;
    await waitFor('the candidacy to be withdrawn', async () => ((await admin.children('/el-run')).names.length === 0 ? true : undefined));
  });
});

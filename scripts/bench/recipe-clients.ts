/**
 * The recipes under test, one implementation per system behind two small ports, so that the same
 * workload code (recipe-workloads.ts) drives all three: a `Mutex` (acquire, with the wait, and
 * release) and a `Candidate` (campaign until leading, resign). A `RecipeSession` is one client
 * session of the system's own library; a contender or candidate never shares one.
 *
 * - Vigil: the SDK's `Lock` and `LeaderElection`.
 * - ZooKeeper: the lock recipe of the ZooKeeper documentation, written here on
 *   node-zookeeper-client: an ephemeral-sequential child, getChildren, exists with a watch on the
 *   predecessor only, delete on release. The election is the same queue (Curator's LeaderLatch).
 * - etcd: etcd3's `Election` for both — `campaign(value)` waits until elected, `resign()` revokes
 *   the campaign's lease. etcd3's `lock()` is a try-lock, so its election is etcd's blocking mutual
 *   exclusion (the Go client's concurrency.Mutex works the same way).
 */
import { connect, isVigilError, LeaderElection, Lock, type LockLease, type VigilClient } from '@vigil/client';
import { type Campaign, Etcd3 } from 'etcd3';
import zookeeper, { type Client as ZooKeeperClient } from 'node-zookeeper-client';
import { sleep } from './processes.js';
import { clientOptions } from './systems/etcd.js';
import { openSession, settle } from './systems/zookeeper.js';
import type { RecipeSystemName } from './system.js';

export interface Mutex {
  /** Resolves once held; when `signal` aborts first, leaves the queue and rejects. */
  acquire(signal: AbortSignal): Promise<void>;
  release(): Promise<void>;
}

export interface Candidate {
  /** Resolves once this candidate leads. */
  campaign(): Promise<void>;
  /** Gives leadership up, or withdraws a campaign under way. */
  resign(): Promise<void>;
}

export interface RecipeSession {
  mutex(path: string): Mutex;
  candidate(path: string, id: string): Candidate;
  /** How many participants (holder and waiters) queue under `path`. */
  participants(path: string): Promise<number>;
  /** The session timeout the cluster granted (etcd: the TTL of a lease it granted), ms. */
  grantedTimeoutMs(): Promise<number>;
  close(): Promise<void>;
}

export interface RecipeSessionOptions {
  readonly system: RecipeSystemName;
  /** `System.endpoints()`. */
  readonly endpoints: readonly string[];
  /** Session timeout (Vigil, ZooKeeper) or lease TTL (etcd: whole seconds). */
  readonly timeoutMs: number;
}

/** How each system's recipes are built, printed with the report. */
export const recipeSemantics: Record<RecipeSystemName, readonly string[]> = {
  vigil: [
    "lock = @vigil/client Lock.acquire() / lease.release(): ephemeral node per attempt, ordered by creation revision, each waiter watching its predecessor",
    'election = @vigil/client LeaderElection.campaign() / leadership.resign() (the same queue)',
    'session timeout: sessionTimeoutMs',
  ],
  etcd: [
    "lock = etcd3 election(name, ttl).campaign(value), elected → resign(): etcd3's lock() is a try-lock, so its election is etcd's blocking mutual exclusion; each campaign grants its own lease (grant, put-if-absent, range, watch the predecessor's delete; resign revokes)",
    'election = the same campaign / resign',
    'session timeout: the lease TTL (whole seconds; etcd grants at least 1.5 election timeouts, 2 s here); etcd3 renews it every TTL/3',
  ],
  zookeeper: [
    'lock = the ZooKeeper documentation\'s lock recipe on node-zookeeper-client: create EPHEMERAL_SEQUENTIAL lock-, getChildren, exists(predecessor, watch), delete on release',
    'election = the same queue (Curator LeaderLatch): the lowest sequence number leads',
    'session timeout: the negotiated session timeout (the cluster runs with tickTime = timeout / 2 when the timeout is below 4 s, ZooKeeper\'s floor being two ticks)',
  ],
};

export async function openRecipeSession(options: RecipeSessionOptions): Promise<RecipeSession> {
  switch (options.system) {
    case 'vigil':
      return new VigilRecipes(await connect({ endpoints: options.endpoints, sessionTimeoutMs: options.timeoutMs }));
    case 'zookeeper':
      return new ZooKeeperRecipes(await openSession(options.endpoints.join(','), options.timeoutMs));
    case 'etcd': {
      if (!Number.isInteger(options.timeoutMs / 1000)) throw new Error(`etcd lease TTLs are whole seconds, not ${options.timeoutMs} ms`);
      const client = new Etcd3(clientOptions(options.endpoints));
      // One round trip, so that connection set-up is not counted in the first acquire.
      await client.get('/bench').serializable(true).buffer();
      return new EtcdRecipes(client, options.timeoutMs / 1000);
    }
  }
}

class VigilRecipes implements RecipeSession {
  constructor(private readonly client: VigilClient) {}

  mutex(path: string): Mutex {
    const lock = new Lock(this.client, path);
    let lease: LockLease | null = null;
    return {
      acquire: async (signal) => {
        lease = await lock.acquire({ signal });
      },
      release: async () => {
        const held = lease;
        lease = null;
        await held?.release();
      },
    };
  }

  candidate(path: string, id: string): Candidate {
    const election = new LeaderElection(this.client, path, { id });
    return {
      campaign: async () => {
        await election.campaign(id);
      },
      resign: () => election.resign(),
    };
  }

  async participants(path: string): Promise<number> {
    try {
      return (await this.client.children(path)).names.length;
    } catch (err) {
      if (isVigilError(err) && err.code === 'NO_NODE') return 0;
      throw err;
    }
  }

  async grantedTimeoutMs(): Promise<number> {
    return this.client.sessionTimeoutMs;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Attempts of a ZooKeeper delete cut off by a lost connection, and the pause between them. */
const deleteAttemptsMax = 10;
const deleteRetryDelayMs = 100;

/** ZooKeeper's 10-digit sequence suffix orders the children of one parent. */
const sequenceOf = (name: string): number => Number(name.slice(-10));

class ZooKeeperRecipes implements RecipeSession {
  private readonly dirs = new Map<string, Promise<void>>();
  private closed = false;

  constructor(private readonly client: ZooKeeperClient) {}

  mutex(path: string): Mutex {
    const queue = new ZooKeeperQueue(this.client, path, () => this.ensureDir(path));
    return { acquire: (signal) => queue.enter(signal, ''), release: () => queue.leave() };
  }

  candidate(path: string, id: string): Candidate {
    const queue = new ZooKeeperQueue(this.client, path, () => this.ensureDir(path));
    let withdraw: AbortController | null = null;
    return {
      campaign: async () => {
        withdraw = new AbortController();
        await queue.enter(withdraw.signal, id);
      },
      resign: async () => {
        withdraw?.abort();
        await queue.leave();
      },
    };
  }

  private ensureDir(path: string): Promise<void> {
    let made = this.dirs.get(path);
    if (made === undefined) {
      made = new Promise<void>((resolve, reject) => this.client.mkdirp(path, settle(resolve, reject, undefined)));
      this.dirs.set(path, made);
    }
    return made;
  }

  participants(path: string): Promise<number> {
    return new Promise((resolve, reject) => this.client.getChildren(path, (error, children) => {
      if (error === null) resolve(children.length);
      else if (error.code === zookeeper.Exception.NO_NODE) resolve(0);
      else reject(error);
    }));
  }

  async grantedTimeoutMs(): Promise<number> {
    return this.client.getSessionTimeout();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}

/** One participant of a ZooKeeper lock or election queue (one attempt at a time). */
class ZooKeeperQueue {
  private mine: string | null = null;

  constructor(
    private readonly client: ZooKeeperClient,
    private readonly dir: string,
    private readonly ensureDir: () => Promise<void>,
  ) {}

  /** The recipe's steps 1–4: resolves when this participant's node has the lowest sequence number. */
  async enter(signal: AbortSignal, data: string): Promise<void> {
    await this.ensureDir();
    const mine = await new Promise<string>((resolve, reject) =>
      this.client.create(`${this.dir}/lock-`, Buffer.from(data), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, (error, path) => (error === null ? resolve(path) : reject(error))),
    );
    this.mine = mine;
    const myName = mine.slice(this.dir.length + 1);
    try {
      for (;;) {
        signal.throwIfAborted();
        const names = await new Promise<string[]>((resolve, reject) => this.client.getChildren(this.dir, (error, children) => (error === null ? resolve(children) : reject(error))));
        const queue = names.filter((n) => n.startsWith('lock-')).sort((a, b) => sequenceOf(a) - sequenceOf(b));
        const index = queue.indexOf(myName);
        if (index < 0) throw new Error(`${mine} is gone (the session expired)`);
        if (index === 0) return;
        await this.predecessorGone(`${this.dir}/${queue[index - 1]!}`, signal);
      }
    } catch (err) {
      await this.leave();
      throw err;
    }
  }

  /** exists(predecessor, watch): resolves at once if it is gone, else on its watch event. */
  private predecessorGone(path: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error instanceof Error ? error : new Error(String(error)));
      };
      const onAbort = (): void => finish(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.client.exists(path, () => finish(), (error, stat) => {
        if (error !== null) finish(error);
        else if (stat === null) finish();
      });
    });
  }

  /**
   * Step 5: delete this participant's node (a node already gone is fine). A delete cut off by a
   * lost connection is sent again, as Curator's guaranteed delete does: the node would otherwise
   * block the queue until the session ends.
   */
  async leave(): Promise<void> {
    const mine = this.mine;
    this.mine = null;
    if (mine === null) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => this.client.remove(mine, -1, (error) => {
          if (error === null || error.code === zookeeper.Exception.NO_NODE) resolve();
          else reject(error);
        }));
        return;
      } catch (err) {
        const lost = (err as { code?: unknown }).code === zookeeper.Exception.CONNECTION_LOSS;
        if (!lost || attempt >= deleteAttemptsMax) throw err;
        await sleep(deleteRetryDelayMs);
      }
    }
  }
}

class EtcdRecipes implements RecipeSession {
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly ttlSeconds: number,
  ) {}

  private campaigner(path: string): { enter(value: string, signal: AbortSignal | undefined): Promise<void>; leave(): Promise<void> } {
    const election = this.client.election(path, this.ttlSeconds);
    let campaign: Campaign | null = null;
    return {
      enter: (value, signal) => {
        const c = election.campaign(value);
        campaign = c;
        return new Promise<void>((resolve, reject) => {
          const onAbort = (): void => {
            void c.resign().catch(() => undefined);
            reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
          };
          if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
          c.once('elected', () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          });
          c.once('error', (err: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(err instanceof Error ? err : new Error(String(err)));
          });
        });
      },
      leave: async () => {
        const c = campaign;
        campaign = null;
        await c?.resign();
      },
    };
  }

  mutex(path: string): Mutex {
    const c = this.campaigner(path);
    return { acquire: (signal) => c.enter('', signal), release: () => c.leave() };
  }

  candidate(path: string, id: string): Candidate {
    const c = this.campaigner(path);
    return { campaign: () => c.enter(id, undefined), resign: () => c.leave() };
  }

  participants(path: string): Promise<number> {
    // etcd3's Election keeps its candidates under `election/<name>/`.
    return this.client.getAll().prefix(`election/${path}/`).count();
  }

  /** What etcd actually granted: a probe lease's TTL, as the server reports it. */
  async grantedTimeoutMs(): Promise<number> {
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: false });
    try {
      const id = await lease.grant();
      const answer = await this.client.leaseClient.leaseTimeToLive({ ID: id });
      return Number(answer.grantedTTL) * 1000;
    } finally {
      await lease.revoke().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}

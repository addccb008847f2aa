/**
 * A counting semaphore with fencing (Curator's InterProcessSemaphoreV2): at most `permits`
 * holders at a time, served first come, first served. Participants are `permit-<uuid>` nodes
 * under the semaphore's directory, ordered by creation revision; a participant holds a permit
 * when fewer than `permits` participants are ahead of it. The directory's data is the permit
 * count, so that every participant provably uses the same one.
 *
 * How a waiter is woken — and why it cannot sleep through its turn.
 *
 * A waiter at position k ≥ n (n = permits) is admitted after any k − n + 1 of the k nodes ahead
 * of it have gone, in any order. Watching one node ahead cannot work, whichever one is picked:
 * the departures that admit the waiter may all be of other nodes. Above all the first waiter
 * (k = n) must hear the departure of each of the n holders, and a holder that dies makes no
 * noise of its own: its node is deleted by the session's expiry, which only watches on that node
 * or on the directory's children report. So the scheme is:
 *
 * * The head — the first waiter, k = n — watches the directory's children, armed by the very
 *   listing it decides on (a watch is armed with the first page), so that every departure after
 *   that listing wakes it. It is one process: a departure wakes the head, not the herd.
 * * Every other waiter watches only its predecessor, with `get`, for any change.
 * * A participant that takes a permit writes `held` into its node before it uses the permit.
 *
 * Claim: a waiter W is woken whenever it becomes the head or is admitted. By induction along the
 * queue. The head: its children watch fires on any departure. A waiter W further back watching
 * its predecessor P: positions only ever decrease (a new node is created behind everyone), and P
 * is always one place ahead of W, so when W becomes the head or is admitted, P has just been
 * admitted. P is woken then (the claim for P, which is ahead of W) and marks its node `held`,
 * or P gives up or dies and its node is deleted; either is a change of the node W watches. A
 * mark made before W's `get` is seen in the data that `get` returns, one made after fires the
 * watch: the read and the arming are one step, so nothing falls between them. When W sees its
 * predecessor `held`, it is the head (or admitted) and switches to the children watch.
 *
 * The mark also makes the scheme independent of the listing being a snapshot (a long queue is
 * listed in pages, which are not one revision): a listing may show a node deleted between two
 * pages and so place W too far back, but never too far forward — every node ahead of W existed
 * before the listing began, and one that lasted through it is in it. Too far forward would break
 * the bound on holders; too far back is caught by the mark (the predecessor W watches is real,
 * and `held` tells W it is the head whatever its count said), and in the head by the children
 * watch (the deletion came after the first page, which armed it).
 *
 * Safety: a participant holds only after a listing put it at a position below n, and its real
 * position can only have dropped since; at every revision the holders are among the first n.
 */
import { strict as assert } from 'node:assert';
import { isVigilError, VigilError, type Stat, type VigilClient } from '../index.js';
import { contend, LeaseSet } from './contend.js';
import type { Lease } from './held-lease.js';
import type { AcquireOptions } from './lock.js';
import { abortError, childPath, deadlineSignal, transient, type Participant, type QueueEntry } from './participant.js';
import type { WaitOutcome } from './queue-wait.js';
import { armWake } from './wake.js';

export interface SemaphoreOptions {
  /** How many may hold at once, 1..semaphorePermitsMax. Every participant must give the same number. */
  readonly permits: number;
  /** Declare a lease lost this long after the connection is suspended (default: when the session can no longer be proven alive). */
  readonly suspendedToleranceMs?: number;
}

/** Prefix of a participant's node. */
export const permitPrefix = 'permit-';
/** The largest permit count. */
export const semaphorePermitsMax = 10_000;
/** Attempts to agree on the permit count with a directory being created or changed concurrently. */
export const permitCountAttemptsMax = 8;
/** Attempts to write the `held` mark while its outcome is unknown. */
export const markAttemptsMax = 8;

/** The data of a participant's node once it holds a permit: what its successor waits for. */
const heldMark = 'held';

/**
 * A fair counting semaphore on the directory `path`.
 *
 * Guarantees, while every holder's lease holds: at most `permits` holders at once; permits are
 * given in the order participants arrived (a participant is entitled to a permit once fewer than
 * `permits` are ahead of it, so no one who arrived after it is entitled before it; two entitled
 * at once may learn it in either order). Each lease's token is the
 * creation revision of its node, and `lease.fence()` makes a write conditional on the hold; a
 * resource that must tell holders apart can use the token. All participants must construct the
 * semaphore with the same `permits`: the first stores it in the directory's data, and an
 * `acquire` with a different count is refused with BAD_ARGUMENTS.
 *
 * Connection states, as for the Lock: on `suspended` a holder keeps its permit until its session
 * can no longer be proven alive (or `suspendedToleranceMs`), then `lease.signal` aborts with
 * LEASE_LOST ('suspended') — its node may still be there, and its permit passes on only once the
 * cluster expires the session; `reconnected` in time changes nothing. On `expired` the node is
 * gone and the lease aborts ('expired'); a waiter that expires queues again at the back, within
 * its deadline.
 */
export class Semaphore {
  readonly permits: number;
  private readonly held = new LeaseSet();

  constructor(
    private readonly client: VigilClient,
    /** The semaphore's directory; participants are its children, its data is the permit count. */
    readonly path: string,
    private readonly options: SemaphoreOptions,
  ) {
    const permits = options.permits;
    if (!Number.isSafeInteger(permits) || permits < 1 || permits > semaphorePermitsMax) {
      throw new VigilError('BAD_ARGUMENTS', `permits: an integer in 1..${semaphorePermitsMax}, not ${String(permits)}`);
    }
    this.permits = permits;
  }

  /**
   * Waits for a permit and resolves with its lease. Rejects TIMEOUT past `timeoutMs`, CANCELLED
   * when `signal` aborts (the waiter's node is deleted either way), BAD_ARGUMENTS when the
   * directory holds another permit count.
   */
  async acquire(options: AcquireOptions = {}): Promise<Lease> {
    const lease = await this.contend(deadlineSignal(options.signal, options.timeoutMs), true);
    assert(lease !== null, 'a waiting acquire is never blocked');
    return lease;
  }

  /** Takes a permit only if one is free at once and no one waits for it; null otherwise. */
  tryAcquire(): Promise<Lease | null> {
    return this.contend(undefined, false);
  }

  /** True while a permit taken through this object is held. */
  isHeld(): boolean {
    return this.held.isHeld();
  }

  private async contend(signal: AbortSignal | undefined, wait: boolean): Promise<Lease | null> {
    const what = `acquire a permit of ${this.path}`;
    try {
      await this.agreeOnPermits(signal);
    } catch (err) {
      if (signal?.aborted === true && isVigilError(err) && err.code === 'CANCELLED') throw abortError(signal, what);
      throw err;
    }
    const lease = await contend(this.client, {
      dir: this.path,
      prefix: permitPrefix,
      signal,
      wait,
      suspendedToleranceMs: this.options.suspendedToleranceMs,
      what,
      turn: (me) => this.turn(me, { signal, wait, what }),
    });
    return lease === null ? null : this.held.add(lease);
  }

  /**
   * Creates the directory holding this semaphore's permit count, or checks the count it holds.
   * A directory without data (made by a participant's `createParents` after it was deleted, or
   * by hand) is given the count with a versioned write.
   */
  private async agreeOnPermits(signal: AbortSignal | undefined): Promise<void> {
    const count = String(this.permits);
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= permitCountAttemptsMax; attempt++) {
      try {
        const { data, stat } = await this.client.get(this.path, { signal });
        const stored = new TextDecoder().decode(data);
        if (stored === count) return;
        if (stored !== '') throw new VigilError('BAD_ARGUMENTS', `${this.path} is a semaphore of ${JSON.stringify(stored)} permits, not ${count}`, { path: this.path });
        await this.client.set(this.path, count, { version: stat.version, signal });
        return;
      } catch (err) {
        // NO_NODE: create it; BAD_VERSION: someone else wrote a count first, read it; unknown outcome of the set: read again.
        if (!isVigilError(err) || !(err.code === 'NO_NODE' || err.code === 'BAD_VERSION' || transient(err))) throw err;
        lastError = err;
      }
      try {
        await this.client.create(this.path, count, { createParents: true, signal });
        return;
      } catch (err) {
        // NODE_EXISTS (someone else created it, or an earlier attempt did): read what it holds.
        if (!isVigilError(err) || !(err.code === 'NODE_EXISTS' || transient(err))) throw err;
        lastError = err;
      }
    }
    throw lastError;
  }

  /** Waits until fewer than `permits` participants are ahead of `me`, then marks `me` held (see the file's comment). */
  private async turn(me: Participant, o: { readonly signal: AbortSignal | undefined; readonly wait: boolean; readonly what: string }): Promise<WaitOutcome> {
    const client = this.client;
    // Set once `me` is known to be the head (or admitted): from then on it lists with a children watch.
    let head = false;
    // Every round returns or waits for an event (a watch, the session, the signal), except the
    // rounds that find the predecessor gone or `held`, each of which follows a change in the queue.
    for (;;) {
      if (o.signal?.aborted === true) throw abortError(o.signal, o.what);
      if (client.sessionId !== me.sessionId) return 'gone';
      const wake = head && o.wait ? armWake(client, o.signal) : null;
      let entries: QueueEntry[];
      try {
        entries = await this.list(o.signal, wake?.fire);
      } catch (err) {
        wake?.dispose();
        throw err;
      }
      const myIndex = entries.findIndex((e) => e.name === me.name);
      if (myIndex < 0 || myIndex < this.permits || !o.wait) {
        wake?.dispose();
        if (myIndex < 0) return 'gone';
        if (myIndex >= this.permits) return 'blocked';
        return (await this.mark(me, o.signal)) ? 'ready' : 'gone';
      }
      if (wake !== null) {
        if ((await wake.woken) === 'aborted') throw abortError(o.signal, o.what);
        continue;
      }
      if (myIndex === this.permits) {
        head = true;
        continue;
      }
      const ahead = entries[myIndex - 1];
      assert(ahead !== undefined, 'a waiter past the head has a predecessor');
      const watch = armWake(client, o.signal);
      let data: Uint8Array;
      try {
        ({ data } = await client.get(ahead.path, { watch: watch.fire, signal: o.signal }));
      } catch (err) {
        watch.dispose();
        if (isVigilError(err) && err.code === 'NO_NODE') continue;
        throw err;
      }
      if (new TextDecoder().decode(data) === heldMark) {
        watch.dispose();
        head = true;
        continue;
      }
      if ((await watch.woken) === 'aborted') throw abortError(o.signal, o.what);
    }
  }

  /**
   * Marks `me` as holding, so that its successor learns it is now the head. False when the node
   * is gone (the session expired). The write is idempotent: it is sent again on an unknown outcome.
   */
  private async mark(me: Participant, signal: AbortSignal | undefined): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.set(me.path, heldMark, { signal });
        return true;
      } catch (err) {
        if (isVigilError(err) && (err.code === 'NO_NODE' || err.code === 'SESSION_EXPIRED')) return false;
        if (!transient(err) || attempt >= markAttemptsMax) throw err;
      }
    }
  }

  /** The participants, oldest first; `watch` is armed by the listing itself. */
  private async list(signal: AbortSignal | undefined, watch: (() => void) | undefined): Promise<QueueEntry[]> {
    let listing: { names: string[]; stats?: Stat[] };
    try {
      listing = await this.client.children(this.path, { withStats: true, signal, ...(watch === undefined ? {} : { watch }) });
    } catch (err) {
      if (isVigilError(err) && err.code === 'NO_NODE') return [];
      throw err;
    }
    const entries: QueueEntry[] = [];
    listing.names.forEach((name, i) => {
      const stat = listing.stats?.[i];
      if (stat !== undefined && name.startsWith(permitPrefix)) entries.push({ name, path: childPath(this.path, name), stat });
    });
    return entries.sort((a, b) => a.stat.czxid - b.stat.czxid);
  }
}

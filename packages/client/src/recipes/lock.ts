/**
 * A fair (FIFO) distributed mutex with fencing, in the manner of Curator's InterProcessMutex and
 * etcd's concurrency.Mutex, with what both leave to the application made explicit: a lease whose
 * signal aborts when the hold is lost or in doubt, and a fence op for writes that must happen
 * only under the lock. Semantics: docs/recipes.md.
 */
import { strict as assert } from 'node:assert';
import type { VigilClient } from '../index.js';
import { contend, LeaseSet } from './contend.js';
import { leaseView, type HeldLease, type Lease } from './held-lease.js';
import { deadlineSignal } from './participant.js';
import { predecessor, waitForTurn } from './queue-wait.js';

export interface LockOptions {
  /**
   * Nested `acquire()` on this Lock object while it holds the lock succeed at once and are
   * counted; the lock is given back when every lease was released. Default false: each
   * `acquire()` is its own contender (two tasks sharing one Lock object exclude each other).
   */
  readonly reentrant?: boolean;
  /** Declare a lease lost this long after the connection is suspended (default: when the session can no longer be proven alive). */
  readonly suspendedToleranceMs?: number;
}

export interface AcquireOptions {
  readonly signal?: AbortSignal;
  /** Give up waiting after this long (TIMEOUT); default: wait until the signal aborts. */
  readonly timeoutMs?: number;
}

/** A held lock. `release()` gives it back; `signal` aborts if it is lost first. */
export type LockLease = Lease;

/** Prefix of a lock's contender nodes. */
export const lockPrefix = 'lock-';

export class Lock {
  private readonly held = new LeaseSet();
  private reentrantHold: { lease: HeldLease; count: number } | null = null;

  constructor(
    private readonly client: VigilClient,
    /** The lock's directory; contenders are its children. */
    readonly path: string,
    private readonly options: LockOptions = {},
  ) {}

  /** Waits for the lock (first come, first served) and resolves with the lease. */
  async acquire(options: AcquireOptions = {}): Promise<LockLease> {
    const reentered = this.reenter();
    if (reentered !== null) return reentered;
    const lease = await this.contend(deadlineSignal(options.signal, options.timeoutMs), true);
    assert(lease !== null, 'a waiting acquire ends with a lease');
    return this.hold(lease);
  }

  /** Takes the lock only if no one holds or waits for it; null otherwise. */
  async tryAcquire(): Promise<LockLease | null> {
    const reentered = this.reenter();
    if (reentered !== null) return reentered;
    const lease = await this.contend(undefined, false);
    return lease === null ? null : this.hold(lease);
  }

  /** True while a lease of this Lock object is held. */
  isHeld(): boolean {
    return this.held.isHeld();
  }

  private contend(signal: AbortSignal | undefined, wait: boolean): Promise<HeldLease | null> {
    const what = `acquire ${this.path}`;
    return contend(this.client, {
      dir: this.path,
      prefix: lockPrefix,
      signal,
      wait,
      what,
      suspendedToleranceMs: this.options.suspendedToleranceMs,
      turn: (me) => waitForTurn(this.client, { dir: this.path, prefixes: [lockPrefix], me, blocker: predecessor, wait, signal, what }),
    });
  }

  private hold(lease: HeldLease): LockLease {
    this.held.add(lease);
    if (this.options.reentrant !== true) return lease;
    this.reentrantHold = { lease, count: 1 };
    lease.signal.addEventListener('abort', () => {
      if (this.reentrantHold?.lease === lease) this.reentrantHold = null;
    }, { once: true });
    return this.counted(lease);
  }

  private reenter(): LockLease | null {
    const hold = this.reentrantHold;
    if (hold === null || !hold.lease.isHeld()) return null;
    hold.count++;
    return this.counted(hold.lease);
  }

  /** A view of a re-entrant lease whose release counts down. */
  private counted(lease: HeldLease): LockLease {
    let released = false;
    return leaseView(lease, async () => {
      if (released) return;
      released = true;
      const hold = this.reentrantHold;
      if (hold !== null && hold.lease === lease && --hold.count > 0) return;
      await lease.release();
    });
  }
}

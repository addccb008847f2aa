/**
 * A fair (FIFO) distributed mutex with fencing, in the manner of Curator's InterProcessMutex and
 * etcd's concurrency.Mutex, with what both leave to the application made explicit: a lease whose
 * signal aborts when the hold is lost or in doubt, and a fence op for writes that must happen
 * only under the lock. Semantics: docs/recipes.md.
 */
import type { VigilClient } from '../index.js';
import { HeldLease, type Lease } from './held-lease.js';
import { abandonParticipant, childPath, deadlineSignal, enterQueue, participantName, throwIfAborted, type Participant } from './participant.js';
import { predecessor, waitForTurn, type WaitOutcome } from './queue-wait.js';

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
  private readonly held = new Set<HeldLease>();
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
    const signal = deadlineSignal(options.signal, options.timeoutMs);
    return this.hold(await this.contend(signal, true));
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
    for (const lease of this.held) if (lease.isHeld()) return true;
    return false;
  }

  private async contend(signal: AbortSignal | undefined, wait: true): Promise<HeldLease>;
  private async contend(signal: AbortSignal | undefined, wait: false): Promise<HeldLease | null>;
  private async contend(signal: AbortSignal | undefined, wait: boolean): Promise<HeldLease | null> {
    for (;;) {
      throwIfAborted(signal);
      const name = participantName(lockPrefix);
      const path = childPath(this.path, name);
      let outcome: WaitOutcome;
      let me: Participant;
      try {
        me = await enterQueue(this.client, { dir: this.path, name, signal });
        outcome = await waitForTurn(this.client, {
          dir: this.path,
          prefixes: [lockPrefix],
          me,
          signal,
          what: `acquire ${this.path}`,
          blocker: predecessor,
          wait,
        });
      } catch (err) {
        await abandonParticipant(this.client, path);
        throw err;
      }
      if (outcome === 'ready') return new HeldLease(this.client, me, { suspendedToleranceMs: this.options.suspendedToleranceMs });
      await abandonParticipant(this.client, path);
      if (outcome === 'blocked') return null;
      // 'gone': the session expired (or someone deleted the node) while waiting: queue again.
    }
  }

  private hold(lease: HeldLease): LockLease {
    this.held.add(lease);
    lease.signal.addEventListener('abort', () => {
      this.held.delete(lease);
      if (this.reentrantHold?.lease === lease) this.reentrantHold = null;
    }, { once: true });
    if (this.options.reentrant === true) {
      this.reentrantHold = { lease, count: 1 };
      return this.counted(lease);
    }
    return lease;
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
    return {
      token: lease.token,
      path: lease.path,
      get signal() {
        return lease.signal;
      },
      get lostReason() {
        return lease.lostReason;
      },
      isHeld: () => lease.isHeld(),
      fence: () => lease.fence(),
      release: async () => {
        if (released) return;
        released = true;
        const hold = this.reentrantHold;
        if (hold !== null && hold.lease === lease && --hold.count > 0) return;
        await lease.release();
      },
    };
  }
}

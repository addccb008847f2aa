/**
 * The object a holder gets from a lock, a semaphore or an election: the token, the signal, the
 * fence, and the way to give it back. Shared by every recipe that hands out holds.
 */
import type { MultiOp, VigilClient } from '../index.js';
import { LeaseGuard, type LossReason } from './lease-guard.js';
import { leaveQueue, type Participant } from './participant.js';

/** A hold on a lock, a semaphore permit, or leadership. */
export interface Lease {
  /**
   * The fencing token: the revision that created the holder's node. It strictly increases from
   * one holder to the next; a resource that remembers the highest token it has seen and refuses
   * lower ones is safe from a holder that lost its hold without knowing (docs/recipes.md).
   */
  readonly token: number;
  /** The holder's node. */
  readonly path: string;
  /** Aborts (reason: a VigilError LEASE_LOST) the moment the hold ends or can no longer be proven. */
  readonly signal: AbortSignal;
  /** Why the hold ended; null while it lasts. */
  readonly lostReason: LossReason | null;
  /** True while the hold lasts (checks the session's proven life against the clock). */
  isHeld(): boolean;
  /**
   * A `check` op for `client.multi([lease.fence(), …writes])`: the writes commit only if the
   * holder's node still exists, that is, only while the hold is real on the cluster.
   */
  fence(): MultiOp;
  /** Gives the hold back (deletes the node). Idempotent. */
  release(): Promise<void>;
}

export class HeldLease implements Lease {
  readonly token: number;
  readonly path: string;
  private readonly guard: LeaseGuard;
  private released: Promise<void> | null = null;

  constructor(
    private readonly client: VigilClient,
    participant: Participant,
    options: { readonly suspendedToleranceMs?: number | undefined; readonly onLost?: ((reason: LossReason) => void) | undefined },
  ) {
    this.token = participant.token;
    this.path = participant.path;
    this.guard = new LeaseGuard({ client, path: participant.path, sessionId: participant.sessionId, suspendedToleranceMs: options.suspendedToleranceMs, onLost: options.onLost });
  }

  get signal(): AbortSignal {
    return this.guard.signal;
  }
  get lostReason(): LossReason | null {
    return this.guard.reason;
  }
  isHeld(): boolean {
    return this.guard.isHeld();
  }
  fence(): MultiOp {
    return { op: 'check', path: this.path };
  }
  release(reason: 'released' | 'resigned' = 'released'): Promise<void> {
    // The signal aborts before the node goes: nothing still running under this hold can overlap
    // the next holder's.
    this.released ??= (async () => {
      this.guard.lose(reason);
      await leaveQueue(this.client, this.path);
    })();
    return this.released;
  }
  /** Ends the hold locally without deleting (the node is already gone or handed on). */
  lose(reason: LossReason): void {
    this.guard.lose(reason);
  }
}

/** A view of `lease` whose `release()` is `release` (a re-entrant count, a resignation). */
export function leaseView(lease: HeldLease, release: () => Promise<void>): Lease {
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
    release,
  };
}

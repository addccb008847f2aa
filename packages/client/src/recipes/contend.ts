/**
 * The acquire loop of every recipe that hands out leases from a queue (lock, read-write lock,
 * semaphore, election), with the wait left to the recipe. Enter the queue under a fresh
 * name, wait for the turn, and turn the node into a lease — or take the node back out when the
 * wait fails, is abandoned or finds the way blocked, so that no orphan sits in the queue.
 */
import { isVigilError, VigilError, type VigilClient } from '../index.js';
import { HeldLease, type Lease } from './held-lease.js';
import type { LossReason } from './lease-guard.js';
import { abandonParticipant, abortError, childPath, enterQueue, participantName, throwIfAborted, type Participant } from './participant.js';
import type { WaitOutcome } from './queue-wait.js';

/**
 * Times one acquire enters the queue again after its node vanished while it waited (its session
 * expired, or someone deleted the node). Each time it goes to the back of the queue.
 */
export const queueEntriesMax = 16;

export interface ContendOptions {
  /** The recipe's directory. */
  readonly dir: string;
  /** This contender's name prefix (`lock-`, `read-`, `write-`, `permit-`, `candidate-`). */
  readonly prefix: string;
  /** The participant node's data (a candidate's id and value). */
  readonly data?: string;
  /** Told once, with the reason, when the lease ends. */
  readonly onLost?: ((reason: LossReason) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  /** False for a try-acquire: 'blocked' gives the place up at once. */
  readonly wait: boolean;
  readonly suspendedToleranceMs: number | undefined;
  /** For errors: `acquire /path`. */
  readonly what: string;
  /** Waits for `me`'s turn (`wait` false: decides at once). */
  readonly turn: (me: Participant) => Promise<WaitOutcome>;
}

/** Resolves with a lease once `turn` says 'ready'; null when it says 'blocked'. */
export async function contend(client: VigilClient, options: ContendOptions): Promise<HeldLease | null> {
  const signal = options.signal;
  for (let entry = 1; entry <= queueEntriesMax; entry++) {
    throwIfAborted(signal);
    const name = participantName(options.prefix);
    const path = childPath(options.dir, name);
    let outcome: WaitOutcome;
    let me: Participant | undefined;
    try {
      me = await enterQueue(client, { dir: options.dir, name, signal, ...(options.data === undefined ? {} : { data: options.data }) });
      outcome = await options.turn(me);
    } catch (err) {
      await abandonParticipant(client, path, me === undefined || me.resent);
      // A call cut short by the signal rejects CANCELLED even when the signal was the deadline.
      if (signal?.aborted === true && isVigilError(err) && err.code === 'CANCELLED') throw abortError(signal, options.what);
      throw err;
    }
    if (outcome === 'ready') return new HeldLease(client, me, { suspendedToleranceMs: options.suspendedToleranceMs, onLost: options.onLost });
    await abandonParticipant(client, path, me.resent);
    if (outcome === 'blocked') return null;
    // 'gone': the session expired (or someone deleted the node) while waiting: queue again.
  }
  throw new VigilError('SESSION_EXPIRED', `${options.what}: the place in the queue was lost ${queueEntriesMax} times`, { path: options.dir });
}

/** The leases a recipe object handed out and that still hold: its `isHeld()`. */
export class LeaseSet {
  private readonly leases = new Set<HeldLease>();

  add(lease: HeldLease): Lease {
    this.leases.add(lease);
    lease.signal.addEventListener('abort', () => this.leases.delete(lease), { once: true });
    return lease;
  }

  isHeld(): boolean {
    for (const lease of this.leases) if (lease.isHeld()) return true;
    return false;
  }
}

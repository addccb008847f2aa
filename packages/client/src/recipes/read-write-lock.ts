/**
 * A fair read-write lock with fencing (Curator's InterProcessReadWriteLock): readers share,
 * writers are exclusive, and everyone is served in the order they arrived, so a stream of
 * readers cannot starve a writer. One queue holds both kinds (`read-<uuid>`, `write-<uuid>`
 * under the lock's directory), ordered by creation revision like the Lock's.
 */
import { strict as assert } from 'node:assert';
import type { VigilClient } from '../index.js';
import { contend, LeaseSet } from './contend.js';
import type { Lease } from './held-lease.js';
import type { AcquireOptions } from './lock.js';
import { deadlineSignal } from './participant.js';
import { predecessor, waitForTurn, type Blocker } from './queue-wait.js';

export interface ReadWriteLockOptions {
  /** Declare a lease lost this long after the connection is suspended (default: when the session can no longer be proven alive). */
  readonly suspendedToleranceMs?: number;
}

/** Prefix of a reader's node. */
export const readPrefix = 'read-';
/** Prefix of a writer's node. */
export const writePrefix = 'write-';

/**
 * A reader waits only for the nearest writer ahead of it. Readers ahead of it share with it, and
 * the writers further ahead are ahead of that writer too: the nearest one cannot hold before they
 * are gone, so its departure is the one event that can let this reader in.
 */
export const nearestWriterAhead: Blocker = (entries, myIndex) => {
  for (let i = myIndex - 1; i >= 0; i--) {
    const entry = entries[i];
    if (entry !== undefined && entry.name.startsWith(writePrefix)) return entry;
  }
  return null;
};

/** One side of a ReadWriteLock: `readLock` or `writeLock`. */
export interface ReadWriteLockSide {
  readonly mode: 'read' | 'write';
  /**
   * Waits for this side of the lock (first come, first served across both sides) and resolves
   * with the lease. Rejects TIMEOUT past `timeoutMs`, CANCELLED when `signal` aborts; either way
   * the waiter's node is deleted (again, should a create still in flight land later).
   */
  acquire(options?: AcquireOptions): Promise<Lease>;
  /** Takes this side only if it is free at once (no writer ahead; for a writer, no one ahead); null otherwise. */
  tryAcquire(): Promise<Lease | null>;
  /** True while a lease of this side, taken through this object, is held. */
  isHeld(): boolean;
}

/**
 * A fair read-write lock on the directory `path`.
 *
 * Guarantees, while every holder's lease holds (`lease.isHeld()`, `lease.signal` not aborted):
 * a writer holds alone; any number of readers hold together; a participant is admitted only
 * after every participant that arrived before it and conflicts with it (any writer, for a
 * reader; anyone, for a writer) has left, so a writer waiting behind readers is never overtaken
 * by readers that came after it. Each lease's token is the creation revision of its node:
 * tokens of conflicting holds strictly increase from one hold to the next (two readers that
 * share may hold in either order), and `lease.fence()` makes a write conditional on the hold.
 *
 * Not re-entrant: a second `acquire()` is another participant (a reader behind one's own writer
 * waits for it, as anyone would).
 *
 * Connection states. On `suspended` a holder keeps its lease until the session can no longer be
 * proven alive (or `suspendedToleranceMs`); then `lease.signal` aborts with LEASE_LOST, reason
 * 'suspended', and the holder must stop using the resource although its node may still be there —
 * the next participant is let in only once the cluster has expired the session. On `reconnected`
 * in time nothing changed. On `expired` the node is gone and the lease aborts ('expired', unless
 * already lost). A participant still waiting keeps its place across a suspension (the watch is
 * re-armed on reconnect); after an expiry its node is gone and it queues again, at the back,
 * within its deadline.
 */
export class ReadWriteLock {
  /** Shared: held together with other readers, never with a writer. */
  readonly readLock: ReadWriteLockSide;
  /** Exclusive: held alone. */
  readonly writeLock: ReadWriteLockSide;

  constructor(client: VigilClient, readonly path: string, options: ReadWriteLockOptions = {}) {
    this.readLock = new LockSide(client, path, 'read', options);
    this.writeLock = new LockSide(client, path, 'write', options);
  }
}

class LockSide implements ReadWriteLockSide {
  private readonly held = new LeaseSet();

  constructor(
    private readonly client: VigilClient,
    private readonly path: string,
    readonly mode: 'read' | 'write',
    private readonly options: ReadWriteLockOptions,
  ) {}

  async acquire(options: AcquireOptions = {}): Promise<Lease> {
    const lease = await this.contend(deadlineSignal(options.signal, options.timeoutMs), true);
    assert(lease !== null, 'a waiting acquire is never blocked');
    return lease;
  }

  tryAcquire(): Promise<Lease | null> {
    return this.contend(undefined, false);
  }

  isHeld(): boolean {
    return this.held.isHeld();
  }

  private async contend(signal: AbortSignal | undefined, wait: boolean): Promise<Lease | null> {
    const what = `${this.mode}-lock ${this.path}`;
    const lease = await contend(this.client, {
      dir: this.path,
      prefix: this.mode === 'read' ? readPrefix : writePrefix,
      signal,
      wait,
      suspendedToleranceMs: this.options.suspendedToleranceMs,
      what,
      turn: (me) =>
        waitForTurn(this.client, {
          dir: this.path,
          prefixes: [readPrefix, writePrefix],
          me,
          blocker: this.mode === 'read' ? nearestWriterAhead : predecessor,
          wait,
          signal,
          what,
        }),
    });
    return lease === null ? null : this.held.add(lease);
  }
}

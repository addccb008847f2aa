/**
 * Barriers (Curator's DistributedBarrier and DistributedDoubleBarrier). A Barrier holds everyone
 * back while its node exists. A DoubleBarrier lets a group of `count` start together (`enter`)
 * and finish together (`leave`); its members are ephemeral nodes `member-<id>` under its
 * directory, and a `ready` node, created by whoever sees the group complete, is the one node
 * every entering member watches.
 */
import { randomUUID } from 'node:crypto';
import { isVigilError, VigilError, type VigilClient } from '../index.js';
import { abortError, childPath, deadlineSignal, listQueue, transient } from './participant.js';
import { armWake, waitForChange } from './wake.js';

export interface BarrierWaitOptions {
  readonly signal?: AbortSignal;
  /** Give up waiting after this long (TIMEOUT); default: wait until the signal aborts. */
  readonly timeoutMs?: number;
}

/** Attempts of one idempotent write (create, delete) while its outcome is unknown. */
export const barrierWriteAttemptsMax = 8;
/** Times one `enter` makes its member node again after it vanished (an expiry, a delete by someone else). */
export const barrierJoinsMax = 16;

/**
 * A barrier: `set()` raises it, `remove()` lowers it, `wait()` passes once it is down.
 *
 * The barrier is a persistent node, so no connection state changes it: a waiter keeps waiting
 * across `suspended` (its watch is re-armed on reconnect, and fires if the node went while the
 * client was away) and across `expired` (it looks again under the new session).
 */
export class Barrier {
  constructor(
    private readonly client: VigilClient,
    /** The barrier's node. */
    readonly path: string,
  ) {}

  /** Raises the barrier (creates its node, parents too). Idempotent. */
  async set(): Promise<void> {
    await idempotentWrite(async () => {
      try {
        await this.client.create(this.path, '', { createParents: true });
      } catch (err) {
        if (!(isVigilError(err) && err.code === 'NODE_EXISTS')) throw err;
      }
    });
  }

  /** Lowers the barrier (deletes its node): every waiter passes. Idempotent. */
  async remove(): Promise<void> {
    await idempotentWrite(async () => {
      try {
        await this.client.delete(this.path);
      } catch (err) {
        if (!(isVigilError(err) && err.code === 'NO_NODE')) throw err;
      }
    });
  }

  /** True while the barrier stands (a linearizable read). */
  async isSet(): Promise<boolean> {
    return (await this.client.exists(this.path)) !== null;
  }

  /**
   * Resolves once the barrier's node does not exist (at once if it does not). Rejects TIMEOUT
   * past `timeoutMs`, CANCELLED when `signal` aborts, CLOSED when the client is closed.
   */
  async wait(options: BarrierWaitOptions = {}): Promise<void> {
    const signal = deadlineSignal(options.signal, options.timeoutMs);
    const what = `wait at ${this.path}`;
    try {
      for (;;) {
        if (signal?.aborted === true) throw abortError(signal, what);
        const wake = armWake(this.client, signal);
        let stat;
        try {
          stat = await this.client.exists(this.path, { watch: wake.fire, signal });
        } catch (err) {
          wake.dispose();
          throw err;
        }
        if (stat === null) {
          wake.dispose();
          return;
        }
        if ((await wake.woken) === 'aborted') throw abortError(signal, what);
      }
    } catch (err) {
      throw signal?.aborted === true && isVigilError(err) && err.code === 'CANCELLED' ? abortError(signal, what) : err;
    }
  }
}

export interface DoubleBarrierOptions {
  /** How many members make the group complete (≥ 1). */
  readonly count: number;
  /** This member's id, its node's name after `member-` (default: a random uuid). Unique in the group. */
  readonly id?: string;
}

/** Prefix of a member's node. */
export const memberPrefix = 'member-';
/** The node that says the group is complete. */
export const readyName = 'ready';

/**
 * A double barrier: `enter()` resolves once `count` members have entered, `leave()` once every
 * member has left. One round at a time: the next round should begin after every `leave()` of
 * this one has resolved (or use another directory).
 *
 * Guarantees: no member passes `enter` before `count` member nodes existed together at some
 * revision (the `ready` node is created only by one who listed that many, and every entering
 * member waits for it; members may enter after it is created and pass at once, as in Curator);
 * `leave` resolves only when no member node is left. Every member watches one node at a time:
 * while entering, `ready`; while leaving, the member that entered first, which itself waits for
 * the one that entered last, then for the one before it, and so on (Curator's scheme).
 *
 * Connection states. `suspended` changes nothing: waits go on, watches are re-armed on reconnect.
 * On `expired` the member node is gone: a member still entering creates it again under the new
 * session and goes on waiting; a member that has entered and not yet left counts as left for the
 * others (their `leave` may resolve without it) — entering again is up to the application.
 */
export class DoubleBarrier {
  readonly id: string;
  readonly count: number;
  private readonly memberPath: string;
  private readonly readyPath: string;

  constructor(
    private readonly client: VigilClient,
    /** The barrier's directory: members and `ready` are its children. */
    readonly path: string,
    options: DoubleBarrierOptions,
  ) {
    if (!Number.isSafeInteger(options.count) || options.count < 1) throw new VigilError('BAD_ARGUMENTS', `count: an integer ≥ 1, not ${String(options.count)}`);
    const id = options.id ?? randomUUID();
    if (id === '' || id.includes('/')) throw new VigilError('BAD_ARGUMENTS', `id: a non-empty name without '/', not ${JSON.stringify(id)}`);
    this.id = id;
    this.count = options.count;
    this.memberPath = childPath(path, `${memberPrefix}${id}`);
    this.readyPath = childPath(path, readyName);
  }

  /**
   * Enters the barrier and resolves once `count` members have entered. Rejects TIMEOUT past
   * `timeoutMs` or CANCELLED when `signal` aborts — this member's node is then deleted, so it
   * does not count — and BAD_ARGUMENTS if another session is a member under the same id. (A
   * create of the member node, once sent, is awaited to its own deadline rather than abandoned,
   * so that no node that would count is left behind.)
   */
  async enter(options: BarrierWaitOptions = {}): Promise<void> {
    const signal = deadlineSignal(options.signal, options.timeoutMs);
    const what = `enter ${this.path}`;
    try {
      // Each round waits for an event (ready, the session, the signal) unless the member node
      // vanished, which only a new session or someone else's delete explains: that is bounded.
      let joins = 0;
      let joined = false;
      for (;;) {
        if (signal?.aborted === true) throw abortError(signal, what);
        if (!joined) {
          if (++joins > barrierJoinsMax) throw new VigilError('SESSION_EXPIRED', `${what}: the member node vanished ${barrierJoinsMax} times`, { path: this.memberPath });
          await this.join();
          joined = true;
        }
        // Armed before the count is read: if this member is not the one who completes the group,
        // the one who does creates `ready` after this watch exists.
        const sessionId = this.client.sessionId;
        const wake = armWake(this.client, signal);
        let members;
        try {
          if ((await this.client.exists(this.readyPath, { watch: wake.fire, signal })) !== null) {
            wake.dispose();
            return;
          }
          members = await listQueue(this.client, this.path, { prefixes: [memberPrefix], signal });
        } catch (err) {
          wake.dispose();
          throw err;
        }
        if (!members.some((m) => m.path === this.memberPath && m.stat.ephemeralOwner === sessionId)) {
          // The node went (an expiry between the two steps, or someone deleted it): join again.
          wake.dispose();
          joined = false;
          continue;
        }
        if (members.length >= this.count) {
          wake.dispose();
          await idempotentWrite(() => this.createReady());
          return;
        }
        // 'changed': `ready` appeared, look again. 'session': a new session, whose member node is
        // yet to be made.
        const how = await wake.woken;
        if (how === 'aborted') throw abortError(signal, what);
        if (how === 'session') joined = false;
      }
    } catch (err) {
      if (!(err instanceof IdInUse)) await this.quit();
      throw signal?.aborted === true && isVigilError(err) && err.code === 'CANCELLED' ? abortError(signal, what) : err;
    }
  }

  /**
   * Leaves the barrier (deletes this member's node) and resolves once every member has left.
   * Rejects TIMEOUT or CANCELLED as `enter` does; this member has left all the same.
   */
  async leave(options: BarrierWaitOptions = {}): Promise<void> {
    const signal = deadlineSignal(options.signal, options.timeoutMs);
    const what = `leave ${this.path}`;
    let readyRemoved = false;
    try {
      for (;;) {
        if (signal?.aborted === true) throw abortError(signal, what);
        const members = await listQueue(this.client, this.path, { prefixes: [memberPrefix], signal });
        const first = members[0];
        const last = members[members.length - 1];
        if (first === undefined || last === undefined) break;
        const mine = members.findIndex((m) => m.path === this.memberPath && m.stat.ephemeralOwner === this.client.sessionId);
        let watched: string;
        if (mine < 0) {
          // Already out: the first member is the last to go.
          watched = first.path;
        } else if (members.length === 1) {
          // The last one out takes `ready` down first, so the barrier is never empty yet ready.
          await idempotentWrite(() => this.removeReady());
          readyRemoved = true;
          await this.quit();
          continue;
        } else if (mine === 0) {
          // The first member stays until everyone else has gone, watching the newest of them.
          watched = last.path;
        } else {
          await this.quit();
          watched = first.path;
        }
        if ((await waitForChange(this.client, watched, signal)) === 'aborted') throw abortError(signal, what);
      }
      // A member that saw the barrier empty tidies up `ready`, in case the last one out could not
      // (it timed out, or its session ended).
      if (!readyRemoved) await idempotentWrite(() => this.removeReady());
    } catch (err) {
      await this.quit();
      throw signal?.aborted === true && isVigilError(err) && err.code === 'CANCELLED' ? abortError(signal, what) : err;
    }
  }

  /**
   * Creates this member's node, or finds it already there from an earlier attempt of this session.
   * Without the caller's signal: an aborted create could still land after the abort and leave a
   * member that counts but never leaves; the call's own deadline bounds it.
   */
  private async join(): Promise<void> {
    await idempotentWrite(async () => {
      try {
        await this.client.create(this.memberPath, '', { mode: 'ephemeral', createParents: true });
      } catch (err) {
        if (!(isVigilError(err) && err.code === 'NODE_EXISTS')) throw err;
        const stat = await this.client.exists(this.memberPath);
        // Gone again (its session ended between the two calls): the next attempt creates it.
        if (stat === null) throw new VigilError('CONNECTION_LOSS', `${this.memberPath} vanished while joining`);
        if (stat.ephemeralOwner !== this.client.sessionId) throw new IdInUse(this.path, this.id, this.memberPath);
      }
    });
  }

  /** Deletes this member's node if this session owns it (gone already is fine). */
  private async quit(): Promise<void> {
    await idempotentWrite(async () => {
      try {
        const stat = await this.client.exists(this.memberPath);
        if (stat === null || stat.ephemeralOwner !== this.client.sessionId) return;
        await this.client.delete(this.memberPath, { version: stat.version });
      } catch (err) {
        if (!(isVigilError(err) && (err.code === 'NO_NODE' || err.code === 'SESSION_EXPIRED' || err.code === 'CLOSED'))) throw err;
      }
    }).catch(() => undefined);
  }

  private async createReady(): Promise<void> {
    try {
      await this.client.create(this.readyPath, '');
    } catch (err) {
      if (!(isVigilError(err) && err.code === 'NODE_EXISTS')) throw err;
    }
  }

  private async removeReady(): Promise<void> {
    try {
      await this.client.delete(this.readyPath);
    } catch (err) {
      if (!(isVigilError(err) && err.code === 'NO_NODE')) throw err;
    }
  }
}

/** Another session is a member under this id: a misuse, and its node is not this member's to delete. */
class IdInUse extends VigilError {
  constructor(dir: string, id: string, path: string) {
    super('BAD_ARGUMENTS', `${dir}: another session is a member under the id ${JSON.stringify(id)}`, { path });
  }
}

/** The step between attempts of an idempotent write (times the attempt number). */
const retryDelayMs = 25;

/**
 * Runs an idempotent write again while its outcome is unknown, the cluster says it certainly did
 * not happen (retryable), or the session was replaced under it, at most
 * `barrierWriteAttemptsMax` times.
 */
async function idempotentWrite(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      const again = transient(err) || (isVigilError(err) && err.code === 'SESSION_EXPIRED');
      if (!again || attempt >= barrierWriteAttemptsMax) throw err;
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs * attempt));
    }
  }
}

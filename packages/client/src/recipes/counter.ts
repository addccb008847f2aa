/**
 * A shared integer counter (Curator's DistributedAtomicLong and SharedCount): the value is the
 * decimal text of one node, changed only by versioned compare-and-set, with each write made
 * identifiable so that a write whose answer was lost is counted once — not zero times, not twice.
 *
 * Why writes carry an identity. After CONNECTION_LOSS or TIMEOUT a versioned write may or may not
 * have landed. Reading the value back cannot tell: "the version moved by one and the value is
 * what we wrote" is also what another client's identical write looks like (two `add(1)` from the
 * same value write the same text at the same version). So every write is a `multi` of the
 * versioned set and a set of this Counter object's own writer node (`writer-<uuid>`, a TTL child
 * of the counter) to a fresh write id. The two land together or not at all, and this object's
 * writes go one at a time, so the writer node holding the write id proves that write landed.
 *
 * Settling an unknown outcome: send the very same multi again (same version, same write id) until
 * an answer is definitive. At most one of the copies can land — each needs the version it was
 * read at. Success: that copy landed. BAD_VERSION: the version has moved on, so no copy still in
 * flight can ever land, and the writer node tells whether one already did. The read of the writer
 * node is linearizable; the writer node lives `writerTtlMs` after its last write, far longer
 * than the `outcomeWindowMs` within which a verdict is accepted.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { isVigilError, VigilError, type MultiOp, type VigilClient } from '../index.js';
import { childPath, outcomeUnknown, transient } from './participant.js';

/** Compare-and-set attempts of one update lost to concurrent writers before it gives up (BAD_VERSION). */
export const counterAttemptsMax = 32;
/** Sends of one write while its outcome is unknown (or the cluster says it certainly did not happen). */
export const counterSendsMax = 8;
/** Adds queued on one Counter object that one write applies together. */
export const counterBatchMax = 1_000;
/** Calls waiting on one Counter object; more are refused with TOO_MANY_REQUESTS. */
export const counterQueuedMax = 100_000;
/** A writer node is swept this long after its last write. */
export const writerTtlMs = 600_000;
/**
 * An unknown outcome is settled only within this long of the first send; later, the writer node
 * might in principle have been swept, and the call rejects with the unknown-outcome error instead.
 */
export const outcomeWindowMs = 60_000;
/** Back-off step between compare-and-set attempts (full jitter, times the attempt number). */
const casBackoffMs = 5;

/** Prefix of a Counter object's writer node, a child of the counter. */
export const writerPrefix = 'writer-';

type Step =
  | { readonly kind: 'add'; readonly delta: number; readonly resolve: (value: number) => void; readonly reject: (err: unknown) => void }
  | { readonly kind: 'set'; readonly value: number; readonly resolve: () => void; readonly reject: (err: unknown) => void }
  | { readonly kind: 'cas'; readonly expected: number; readonly next: number; readonly resolve: (done: boolean) => void; readonly reject: (err: unknown) => void };

/**
 * A counter at the node `path`, holding a safe integer as decimal text (absent or empty: 0).
 *
 * Guarantees. Every change is a compare-and-set against the version it was computed from, so
 * concurrent `add`s from any number of clients are never lost or merged. A call that resolves
 * took effect exactly once, at one revision: `add` resolves with the value right after its delta
 * (concurrent adds on one Counter object are applied by one write, each caller seeing the value
 * after its own delta in call order). A call that rejects with BAD_VERSION (outbid
 * `counterAttemptsMax` times), BAD_ARGUMENTS or NO_NODE took no effect. Only when an outcome could
 * not be settled — the cluster unreachable for `counterSendsMax` sends or `outcomeWindowMs`, the
 * client closed — does a call reject with CONNECTION_LOSS, TIMEOUT, SESSION_EXPIRED or CLOSED,
 * and then it may or may not have taken effect.
 *
 * Connection states do not matter to a counter (it is a persistent node): calls made while
 * `suspended` wait for the reconnect within their deadline, and an unknown outcome caused by the
 * loss or by an `expired` session is settled as above.
 *
 * Deleting the counter node while it is in use is not supported (a re-created node restarts its
 * versions, and a write in flight could land on it).
 */
export class Counter {
  private readonly writerPath: string;
  private writeSeq = 0;
  private readonly queue: Step[] = [];
  private draining = false;

  constructor(
    private readonly client: VigilClient,
    /** The counter's node. */
    readonly path: string,
  ) {
    this.writerPath = childPath(path, `${writerPrefix}${randomUUID()}`);
  }

  /** The current value (a linearizable read); 0 when the counter does not exist yet. */
  async get(options: { readonly signal?: AbortSignal } = {}): Promise<number> {
    try {
      const { data } = await this.client.get(this.path, { signal: options.signal });
      return this.decode(data);
    } catch (err) {
      if (isVigilError(err) && err.code === 'NO_NODE') return 0;
      throw err;
    }
  }

  /** Adds `delta` (a safe integer, negative to subtract) and resolves with the new value. */
  async add(delta: number): Promise<number> {
    checkValue('delta', delta);
    return new Promise((resolve, reject) => this.enqueue({ kind: 'add', delta, resolve, reject }));
  }

  /** Sets the value (a versioned write like the others: a late copy can never overwrite a newer value). */
  async set(value: number): Promise<void> {
    checkValue('value', value);
    return new Promise((resolve, reject) => this.enqueue({ kind: 'set', value, resolve, reject }));
  }

  /** Sets `next` if the value is `expected`; true if it did. */
  async compareAndSet(expected: number, next: number): Promise<boolean> {
    checkValue('expected', expected);
    checkValue('next', next);
    return new Promise((resolve, reject) => this.enqueue({ kind: 'cas', expected, next, resolve, reject }));
  }

  private enqueue(step: Step): void {
    if (this.queue.length >= counterQueuedMax) {
      step.reject(new VigilError('TOO_MANY_REQUESTS', `${this.path}: ${counterQueuedMax} calls already wait on this counter`));
      return;
    }
    this.queue.push(step);
    if (!this.draining) void this.drain();
  }

  /**
   * One write at a time per Counter object: that is what makes its writer node's write id a proof
   * (no later write of this object can overwrite it while an outcome is being settled), and it
   * lets adds queued meanwhile share one write instead of outbidding each other.
   */
  private async drain(): Promise<void> {
    this.draining = true;
    // Each round takes at least one call off the queue, whose length is bounded by counterQueuedMax.
    while (this.queue.length > 0) {
      const first = this.queue[0];
      if (first === undefined) break;
      if (first.kind !== 'add') {
        this.queue.shift();
        await this.runSingle(first);
        continue;
      }
      const adds: Extract<Step, { kind: 'add' }>[] = [];
      for (let step = this.queue[0]; step !== undefined && step.kind === 'add' && adds.length < counterBatchMax; step = this.queue[0]) {
        adds.push(step);
        this.queue.shift();
      }
      await this.runAdds(adds);
    }
    this.draining = false;
  }

  private async runAdds(adds: readonly Extract<Step, { kind: 'add' }>[]): Promise<void> {
    const sum = adds.reduce((s, a) => s + a.delta, 0);
    try {
      const written = await this.update((value) => value + sum, 'add');
      assert(written !== null, 'an add always writes');
      let value = written.previous;
      for (const a of adds) a.resolve((value += a.delta));
    } catch (err) {
      for (const a of adds) a.reject(err);
    }
  }

  private async runSingle(step: Exclude<Step, { kind: 'add' }>): Promise<void> {
    try {
      if (step.kind === 'set') {
        await this.update(() => step.value, 'set');
        step.resolve();
      } else {
        step.resolve((await this.update((value) => (value === step.expected ? step.next : null), 'compareAndSet')) !== null);
      }
    } catch (err) {
      step.reject(err);
    }
  }

  /**
   * The compare-and-set loop: read, compute, write at the version read; again when another writer
   * got in first. `next` returning null stops it (a compare-and-set whose expectation failed).
   */
  private async update(next: (value: number) => number | null, what: string): Promise<{ previous: number; value: number } | null> {
    for (let attempt = 1; attempt <= counterAttemptsMax; attempt++) {
      const current = await this.read();
      const value = next(current.value);
      if (value === null) return null;
      if (!Number.isSafeInteger(value)) throw new VigilError('BAD_ARGUMENTS', `${what} ${this.path}: ${String(value)} is not a safe integer`, { path: this.path });
      if (await this.write(current.version, value)) return { previous: current.value, value };
      await pause(Math.random() * casBackoffMs * attempt);
    }
    throw new VigilError('BAD_VERSION', `${what} ${this.path}: outbid by concurrent writers ${counterAttemptsMax} times`, { path: this.path });
  }

  /** The value and its version; an absent counter is created at 0 first. */
  private async read(): Promise<{ value: number; version: number }> {
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= counterSendsMax; attempt++) {
      try {
        const { data, stat } = await this.client.get(this.path);
        return { value: this.decode(data), version: stat.version };
      } catch (err) {
        if (!(isVigilError(err) && err.code === 'NO_NODE')) throw err;
      }
      try {
        // An unknown outcome, or someone else's create, both end in a node to read.
        await this.client.create(this.path, '0', { createParents: true });
      } catch (err) {
        if (!(isVigilError(err) && (err.code === 'NODE_EXISTS' || transient(err)))) throw err;
        lastError = err;
      }
    }
    throw lastError ?? new VigilError('NO_NODE', `${this.path}: deleted as fast as it was created`, { path: this.path });
  }

  /**
   * Writes `value` at `version`, tagged with a fresh write id. True if it landed, false if it
   * certainly did not (and never will); rejects when that cannot be settled (see the file's comment).
   */
  private async write(version: number, value: number): Promise<boolean> {
    const writeId = String(++this.writeSeq);
    const ops: MultiOp[] = [
      { op: 'set', path: this.path, data: String(value), version },
      { op: 'set', path: this.writerPath, data: writeId },
    ];
    const firstSentAtMs = performance.now();
    let unknown: unknown = null;
    for (let send = 1; send <= counterSendsMax; send++) {
      try {
        await this.client.multi(ops);
        return true;
      } catch (err) {
        if (!isVigilError(err)) throw err;
        if (err.code === 'NO_NODE' && err.opIndex === 1) {
          // The writer node is not there (first write of this object, or swept after a long idle
          // spell): no copy could have landed without it. Create it and send again.
          await this.createWriter();
          continue;
        }
        if (err.code === 'BAD_VERSION' || err.code === 'NO_NODE') {
          // Definitive: the version this write needs is gone for good.
          return unknown === null ? false : this.landed(writeId, firstSentAtMs, unknown);
        }
        if (!(outcomeUnknown(err) || err.code === 'SESSION_EXPIRED' || err.retryable)) throw err;
        if (!err.retryable) unknown = err;
        await pause(casBackoffMs * send);
      }
    }
    throw unknown ?? new VigilError('UNAVAILABLE', `${this.path}: the cluster refused the write ${counterSendsMax} times`, { path: this.path });
  }

  /** Whether the write `writeId` landed, once no copy of it can land any more. */
  private async landed(writeId: string, firstSentAtMs: number, unknown: unknown): Promise<boolean> {
    let holds = '';
    try {
      holds = new TextDecoder().decode((await this.client.get(this.writerPath)).data);
    } catch (err) {
      // No writer node: no copy landed (each needs it, and a landing would have kept it fresh).
      if (!(isVigilError(err) && err.code === 'NO_NODE')) throw err;
    }
    if (performance.now() - firstSentAtMs > outcomeWindowMs) throw unknown;
    return holds === writeId;
  }

  private async createWriter(): Promise<void> {
    try {
      await this.client.create(this.writerPath, '', { mode: 'ttl', ttlMs: writerTtlMs });
    } catch (err) {
      // NODE_EXISTS: an earlier attempt made it. NO_NODE: the counter went; the next send says so.
      if (!(isVigilError(err) && (err.code === 'NODE_EXISTS' || err.code === 'NO_NODE' || transient(err)))) throw err;
    }
  }

  private decode(data: Uint8Array): number {
    const text = new TextDecoder().decode(data);
    if (text === '') return 0;
    const value = /^-?\d{1,16}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value)) throw new VigilError('BAD_ARGUMENTS', `${this.path} holds ${JSON.stringify(text.slice(0, 40))}, not a decimal integer`, { path: this.path });
    return value;
  }
}

function checkValue(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new VigilError('BAD_ARGUMENTS', `${name}: a safe integer, not ${String(value)}`);
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

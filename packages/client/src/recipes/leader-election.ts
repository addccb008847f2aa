/**
 * Leader election: one active instance among several (Curator's LeaderLatch / LeaderSelector,
 * etcd's concurrency.Election). Candidates queue as ephemeral nodes under the election's
 * directory; the oldest leads, each other candidate watches only the one just ahead of it. The
 * leader's node holds its id and value. Semantics: docs/recipes.md.
 */
import { isVigilError, VigilError, type VigilClient } from '../index.js';
import { strict as assert } from 'node:assert';
import { leaseView, type HeldLease, type Lease } from './held-lease.js';
import type { LossReason } from './lease-guard.js';
import { childPath, deadlineSignal, listQueue, listQueueAt, participantName, transient, type QueueEntry } from './participant.js';
import { contend } from './contend.js';
import { predecessor, waitForTurn } from './queue-wait.js';

export interface LeaderElectionOptions {
  /** This candidate's id, shown to observers (default: a random id). */
  readonly id?: string;
  /** Declare leadership lost this long after the connection is suspended (default: when the session can no longer be proven alive). */
  readonly suspendedToleranceMs?: number;
}

/** Who leads, as anyone can read it. */
export interface LeaderInfo {
  readonly id: string;
  readonly value: string;
  /** The leadership's fencing token (the creation revision of the leader's node). */
  readonly token: number;
  readonly path: string;
}

/** This candidate's leadership: a lease plus the leader's value. */
export interface Leadership extends Lease {
  readonly value: string;
  /** Changes the value observers see, only while still leader (a versioned write to the leader's own node). */
  proclaim(value: string): Promise<void>;
  /** Gives leadership up: the next candidate takes over. Same as `release()`. */
  resign(): Promise<void>;
}

export type ElectionEvent =
  | { readonly type: 'elected'; readonly token: number }
  | { readonly type: 'lost'; readonly token: number; readonly reason: LossReason };

/** Prefix of candidate nodes. */
export const candidatePrefix = 'candidate-';

interface CandidateData {
  readonly id: string;
  readonly value: string;
}

export class LeaderElection {
  readonly id: string;
  private current: { lease: HeldLease; value: string; version: number } | null = null;
  private campaigning: AbortController | null = null;
  private readonly listeners = new Set<(event: ElectionEvent) => void>();

  constructor(
    private readonly client: VigilClient,
    /** The election's directory; candidates are its children. */
    readonly path: string,
    private readonly options: LeaderElectionOptions = {},
  ) {
    this.id = options.id ?? participantName('').slice(0, 8);
  }

  /**
   * Campaigns and resolves once this candidate leads. Rejects CANCELLED/TIMEOUT when `signal`
   * aborts or `timeoutMs` passes (the candidacy is withdrawn), and BAD_ARGUMENTS if this object
   * already campaigns or leads.
   */
  async campaign(value = '', options: { readonly signal?: AbortSignal; readonly timeoutMs?: number } = {}): Promise<Leadership> {
    if (this.campaigning !== null || (this.current !== null && this.current.lease.isHeld())) {
      throw new VigilError('BAD_ARGUMENTS', `${this.path}: this candidate already campaigns or leads`);
    }
    const withdraw = new AbortController();
    this.campaigning = withdraw;
    const signal = deadlineSignal(AbortSignal.any([withdraw.signal, ...(options.signal === undefined ? [] : [options.signal])]), options.timeoutMs);
    const what = `campaign in ${this.path}`;
    let lease: HeldLease | null = null;
    try {
      lease = await contend(this.client, {
        dir: this.path,
        prefix: candidatePrefix,
        data: encode({ id: this.id, value }),
        signal,
        wait: true,
        what,
        suspendedToleranceMs: this.options.suspendedToleranceMs,
        onLost: (reason) => {
          if (this.current?.lease === lease) this.current = null;
          if (lease !== null) this.emit({ type: 'lost', token: lease.token, reason });
        },
        turn: (me) => waitForTurn(this.client, { dir: this.path, prefixes: [candidatePrefix], me, blocker: predecessor, signal, what }),
      });
    } catch (err) {
      if (isVigilError(err) && err.code === 'CANCELLED' && withdraw.signal.aborted) throw new VigilError('CANCELLED', `${this.path}: the candidate resigned`);
      throw err;
    } finally {
      this.campaigning = null;
    }
    assert(lease !== null, 'a waiting campaign ends with leadership');
    return this.lead(lease, value);
  }

  /** Resigns leadership, or withdraws a campaign under way. */
  async resign(): Promise<void> {
    this.campaigning?.abort();
    await this.current?.lease.release('resigned');
  }

  /** True while this candidate leads (checked against the clock). */
  isLeader(): boolean {
    return this.current !== null && this.current.lease.isHeld();
  }

  /** The current leader, or null when no one campaigns (a linearizable read). */
  async leader(options: { readonly signal?: AbortSignal } = {}): Promise<LeaderInfo | null> {
    for (;;) {
      const entries = await listQueue(this.client, this.path, { prefixes: [candidatePrefix], signal: options.signal });
      const first = entries[0];
      if (first === undefined) return null;
      try {
        const { data } = await this.client.get(first.path, { signal: options.signal });
        const d = decode(data);
        return { id: d.id, value: d.value, token: first.stat.czxid, path: first.path };
      } catch (err) {
        // The leader resigned between the two reads: look again.
        if (!(isVigilError(err) && err.code === 'NO_NODE')) throw err;
      }
    }
  }

  /**
   * Leadership changes, in order and without repeats: the leader (null when no one campaigns),
   * then again after every change of leader or of the leader's value. It follows the election's
   * events from the revision of its first listing (a persistent watch with `fromRevision`), so no
   * handover is missed, even one that lasted a single revision — with one exception: a leader
   * whose node is gone before the observer could read its id and value is not reported (its
   * successor is). Values are read when their change is seen, so two proclamations in quick
   * succession may be reported as the last one. Ends when `signal` aborts or on `break`; fails
   * with SESSION_EXPIRED when the session expires.
   */
  async *observe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<LeaderInfo | null> {
    const signal = options.signal;
    let { entries, revision } = await this.listing(signal);
    const stream = this.client.watch(this.path, { recursive: true, fromRevision: revision, ...(signal === undefined ? {} : { signal }) });
    // The candidates by name, with their tokens: the listing, then every event after it.
    const candidates = new Map(entries.map((e) => [e.name, e.stat.czxid]));
    let skipThrough = revision;
    let last: LeaderInfo | null | undefined;
    const leaderNow = async (): Promise<LeaderInfo | null | undefined> => {
      let first: { name: string; token: number } | null = null;
      for (const [name, token] of candidates) if (first === null || token < first.token) first = { name, token };
      if (first === null) return null;
      const path = childPath(this.path, first.name);
      try {
        const d = decode((await this.client.get(path, { signal })).data);
        return { id: d.id, value: d.value, token: first.token, path };
      } catch (err) {
        if (isVigilError(err) && err.code === 'NO_NODE') return undefined; // its deletion event follows
        throw err;
      }
    };
    const isNews = (now: LeaderInfo | null): boolean =>
      last === undefined || (now === null ? last !== null : last === null || now.token !== last.token || now.value !== last.value);
    try {
      const first = await leaderNow();
      if (first !== undefined && isNews(first)) yield (last = first);
      for await (const event of stream) {
        if (event.kind === 'historyCompacted') {
          // Events were lost: start over from a fresh listing; later events at or below it are in it.
          ({ entries, revision } = await this.listing(signal));
          candidates.clear();
          for (const e of entries) candidates.set(e.name, e.stat.czxid);
          skipThrough = revision;
        } else {
          if (event.revision <= skipThrough) continue;
          const name = event.path.slice(this.path.length + 1);
          if (!event.path.startsWith(`${this.path}/`) || name.includes('/') || !name.startsWith(candidatePrefix)) continue;
          if (event.kind === 'created') candidates.set(name, event.revision);
          else if (event.kind === 'deleted') candidates.delete(name);
          else if (event.kind !== 'dataChanged') continue;
        }
        const now = await leaderNow();
        if (now !== undefined && isNews(now)) yield (last = now);
      }
    } catch (err) {
      if (signal?.aborted === true) return;
      throw err;
    } finally {
      stream.close();
    }
  }

  /** The candidates and the listing's revision; the directory is created if missing, so that it can be watched from that revision. */
  private async listing(signal: AbortSignal | undefined): Promise<{ entries: QueueEntry[]; revision: number }> {
    for (let attempt = 0; ; attempt++) {
      const listed = await listQueueAt(this.client, this.path, { prefixes: [candidatePrefix], signal });
      if (listed.revision !== 0 || attempt > 0) return listed;
      await this.client.create(this.path, '', { createParents: true, signal }).catch((err: unknown) => {
        if (!(isVigilError(err) && err.code === 'NODE_EXISTS')) throw err;
      });
    }
  }

  /** Events of this candidate: `elected`, and `lost` with its reason. Returns the unsubscribe. */
  on(listener: (event: ElectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs `fn(signal)` whenever this candidate leads; `signal` aborts when leadership is lost, and
   * `fn` should stop then. When `fn` returns, leadership is resigned. Unless `recampaign` is
   * false, it campaigns again after each leadership (also after a loss), until `signal` aborts.
   */
  async runAsLeader(fn: (signal: AbortSignal) => Promise<void> | void, options: { readonly value?: string; readonly signal?: AbortSignal; readonly recampaign?: boolean } = {}): Promise<void> {
    for (;;) {
      let leadership: Leadership;
      try {
        leadership = await this.campaign(options.value ?? '', options.signal === undefined ? {} : { signal: options.signal });
      } catch (err) {
        if (options.signal?.aborted === true) return;
        if (transient(err) || (isVigilError(err) && err.code === 'SESSION_EXPIRED')) continue;
        throw err;
      }
      try {
        await fn(AbortSignal.any([leadership.signal, ...(options.signal === undefined ? [] : [options.signal])]));
      } finally {
        await leadership.resign().catch(() => undefined);
      }
      if (options.recampaign === false || options.signal?.aborted === true) return;
    }
  }

  private lead(lease: HeldLease, value: string): Leadership {
    const token = lease.token;
    const state = { lease, value, version: 0 };
    this.current = state;
    this.emit({ type: 'elected', token });
    const election = this.path;
    const client = this.client;
    const resign = (): Promise<void> => lease.release('resigned');
    // Object.defineProperties keeps the view's getters live (a spread would copy their values).
    return Object.defineProperties(leaseView(lease, resign), {
      value: { get: () => state.value, enumerable: true },
      resign: { value: resign, enumerable: true },
      proclaim: {
        enumerable: true,
        value: async (next: string): Promise<void> => {
          if (!lease.isHeld()) throw new VigilError('LEASE_LOST', `${election}: not the leader (${lease.lostReason ?? 'lost'})`, { path: lease.path });
          try {
            const stat = await client.set(lease.path, encode({ id: this.id, value: next }), { version: state.version });
            state.version = stat.version;
            state.value = next;
          } catch (err) {
            if (isVigilError(err) && (err.code === 'NO_NODE' || err.code === 'BAD_VERSION')) {
              lease.lose('deleted');
              throw new VigilError('LEASE_LOST', `${election}: leadership was lost before the value changed`, { path: lease.path, cause: err });
            }
            throw err;
          }
        },
      },
    }) as Leadership;
  }

  private emit(event: ElectionEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

function encode(d: CandidateData): string {
  return JSON.stringify(d);
}

function decode(data: Uint8Array): CandidateData {
  try {
    const d = JSON.parse(new TextDecoder().decode(data)) as Partial<CandidateData>;
    return { id: typeof d.id === 'string' ? d.id : '', value: typeof d.value === 'string' ? d.value : '' };
  } catch {
    return { id: '', value: '' };
  }
}


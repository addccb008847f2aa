/**
 * A local mirror of a subtree, kept current by one persistent recursive watch (Curator's
 * CuratorCache / TreeCache). Reads are served from memory; every change of the subtree reaches
 * the mirror, in revision order, without a gap — across reconnections, history compaction and
 * session expiry.
 *
 * ## The gapless rule
 *
 * The watch is registered first (`ready`), then the subtree is read (a breadth-first walk of `get`
 * and `children`), then the events that queued up meanwhile and every later one are applied, one
 * at a time, in order. Each node of the mirror is the node as one read saw it, so an event may
 * describe a change that read already reflects, or one it does not. Which is which follows from
 * the node's Stat alone, because every read is linearizable (the SDK's default) and so reflects
 * every event delivered before it was sent:
 *
 * | event at revision `e` | mirror holds the node (Stat `s`) | mirror lacks it |
 * |---|---|---|
 * | `created` | already seen (`e ≤ s.czxid`): skip | read it; keep it only if `czxid = e` (a later incarnation has its own `created` still to come; none: a `deleted` follows) |
 * | `dataChanged` | seen if `e ≤ s.mzxid`: skip; else read it and keep it if `czxid = s.czxid` (otherwise it was deleted since: a `deleted` follows) | skip: that incarnation was deleted after this change (a later one comes with its own `created`) |
 * | `deleted` | `e > s.czxid`: remove; `e ≤ s.czxid`: an earlier incarnation, skip | nothing to do |
 *
 * Why it is exact: a read at revision `R` shows the node as of `R`. An event `e ≤ R` on it is then
 * reflected: a creation at `e` is this incarnation's or an older one's (`e ≤ czxid`), a data
 * change of this incarnation is at or below `mzxid`, a deletion at `e ≤ R` of a node present at
 * `R` belongs to an older incarnation (`e < czxid`). An event `e > R` is not: a change at `e` is
 * above `mzxid`, and the deletion of the incarnation read is above its `czxid`. Since events are
 * applied in order and each read is sent after the events it follows, `R` is at or past every
 * event applied so far; so the mirror never goes back in time, and it catches up with the cluster
 * as soon as the events stop. Reads may be sent ahead of the event being applied (at most
 * `treeCacheReadsInFlightMax`): they are answered in order and only ever used for their own event,
 * which keeps the argument; reads sent before a reload ends are sent again.
 *
 * As consequences, outside reloads the `change` events a cache emits are a subsequence of the
 * watch's events (so in revision order, never twice), each one changes the mirror (a `changed`
 * moves `mzxid` forward), and per path they alternate `created` (`changed`…) `deleted`: a node
 * deleted and created again between two reads is reported as exactly that.
 *
 * ## Reloads
 *
 * When the watch reports `historyCompacted` (it was resumed after a long disconnection and the
 * server no longer holds what was missed), when the session expires (its watch is gone; with the
 * client's `reopenAfterExpiry` a new one is set on the new session), or when the cache fell more
 * than the SDK's stream buffer behind (`SLOW_CONSUMER`), the cache reads the whole subtree again
 * and emits the differences (`reloaded: true`), then a `reloaded` notification. The mirror is
 * swapped in one step: readers never see a half-read tree. Every read of a reload reflects at
 * least `client.lastRevision` as it was when the reload began; the differences carry that
 * revision, which is at or above every event emitted before and below every event after.
 */
import { setMaxListeners } from 'node:events';
import { isVigilError, VigilError, type PersistentWatchEvent, type Stat, type VigilClient, type WatchStream } from '../index.js';
import { childPath, pause } from './participant.js';

/** Nodes a cache holds unless told otherwise (the subtree's root included). */
export const treeCacheNodesMaxDefault = 100_000;
/** Reads a cache keeps in flight: the width of a load, and how far ahead of the applied event it reads. */
export const treeCacheReadsInFlightMax = 256;
/** Attempts of one read while the cluster answers TIMEOUT or a retryable error (≈ minutes at the default deadline). */
export const treeCacheReadAttemptsMax = 30;
/** The longest pause between two attempts of a read. */
export const treeCacheRetryDelayMsMax = 1_000;
/** Watch restarts (expiry, SLOW_CONSUMER) in a row without a completed load before the cache gives up. */
export const treeCacheRestartsMax = 16;

export interface TreeCacheOptions {
  /**
   * The most nodes the mirror may hold, the root included (default `treeCacheNodesMaxDefault`).
   * A subtree that grows past it fails the cache with BAD_ARGUMENTS: a mirror silently missing
   * nodes would be worse than none.
   */
  readonly nodesMax?: number;
}

/** A node as the mirror holds it. */
export interface TreeNode {
  readonly data: Uint8Array;
  /**
   * The Stat of the read that brought the node in (its creation, its last data change, or a
   * reload). `czxid`, `mzxid`, `version` and `dataLength` match `data`; `numChildren`,
   * `cversion` and `pzxid` are not kept current as children come and go — ask `children()`.
   */
  readonly stat: Stat;
}

/** One change of the mirror. */
export interface TreeChange {
  readonly type: 'created' | 'changed' | 'deleted';
  readonly path: string;
  /** `created`/`changed`: the node as read (possibly newer than `revision`); `deleted`: the last state the mirror held. */
  readonly data: Uint8Array;
  readonly stat: Stat;
  /**
   * The revision of the write that made the change (`created`: equals `stat.czxid`; `changed`:
   * at most `stat.mzxid`). For a difference found by a reload, the reload's revision (see the
   * file comment). Non-decreasing from one event to the next.
   */
  readonly revision: number;
  /** True for a difference found by a reload rather than reported by the watch. */
  readonly reloaded: boolean;
}

/** Why a cache read its whole subtree again. */
export type ReloadReason = 'HISTORY_COMPACTED' | 'SESSION_EXPIRED' | 'SLOW_CONSUMER';

export type TreeCacheEvent =
  | TreeChange
  /** The first load is complete (no `created` events are emitted for what it found). Once. */
  | { readonly type: 'initialized'; readonly revision: number }
  /** A reload is complete; its differences were emitted just before. */
  | { readonly type: 'reloaded'; readonly reason: ReloadReason; readonly revision: number };

/** An event of the watch waiting to be applied, with the read it needs sent ahead. */
interface Pending {
  readonly event: PersistentWatchEvent;
  read: Promise<TreeNode | null> | null;
}

/**
 * The mirror of the subtree at `path` (the node and everything below it; the node need not exist).
 *
 * Guarantees, once `start()` has resolved:
 * - `get()` / `children()` answer from memory the state of each node as of a linearizable read
 *   no older than any event already applied, and the mirror converges to the cluster's tree
 *   whenever writes pause (it is never more than the unapplied events behind).
 * - `change` listeners see every change of the mirror, in revision order, once; per path
 *   `created`, `changed`…, `deleted`. Two changes of one node between two reads may be seen as
 *   one (`changed` carries the data as read, not as written at `revision`).
 *
 * Connection states:
 * - `suspended`: the mirror keeps answering with what it has (possibly stale); the SDK resumes
 *   the watch on reconnection without a gap, and what was missed is applied in order (or, if the
 *   server's history no longer holds it, a reload follows: `HISTORY_COMPACTED`).
 * - `expired`: the watch ended; the mirror keeps answering with the last state, which may still
 *   hold the session's own ephemeral nodes. When the client opens a new session (its
 *   `reopenAfterExpiry`, on by default) the cache sets a new watch and reloads
 *   (`SESSION_EXPIRED`), reporting the ephemerals' deletion among the differences. Without
 *   `reopenAfterExpiry` the cache fails with SESSION_EXPIRED.
 * - `closed` (the client's): the cache closes.
 *
 * Failures (the watch refused, a read failing past `treeCacheReadAttemptsMax`, more than
 * `nodesMax` nodes, more than `treeCacheRestartsMax` restarts in a row) stop the cache: `start()`
 * rejects if it has not resolved yet, `error` listeners are told once, `failure` holds the
 * error, and `get()` / `children()` keep answering with the last state.
 */
export class TreeCache {
  readonly nodesMax: number;
  private readonly nodes = new Map<string, TreeNode>();
  /** Names of the mirrored children of each path (a path's entry may outlive the node briefly; see `children()`). */
  private readonly childNames = new Map<string, Set<string>>();
  private readonly changeListeners = new Set<(event: TreeCacheEvent) => void>();
  private readonly errorListeners = new Set<(error: VigilError) => void>();
  /** Aborts the watch and every read when the cache closes or fails. */
  private readonly stopper = new AbortController();
  private readonly initialization: Deferred;
  private running = false;
  private initialized = false;
  private closed = false;
  private failureValue: VigilError | null = null;
  /** The revision of the last change emitted. */
  private emittedRevision = 0;
  private unsubscribeState: (() => void) | null = null;

  constructor(
    private readonly client: VigilClient,
    /** The subtree's root. */
    readonly path: string,
    options: TreeCacheOptions = {},
  ) {
    const nodesMax = options.nodesMax ?? treeCacheNodesMaxDefault;
    if (!Number.isSafeInteger(nodesMax) || nodesMax < 1) throw new VigilError('BAD_ARGUMENTS', `nodesMax: a positive integer, not ${String(nodesMax)}`);
    if (typeof path !== 'string' || !path.startsWith('/') || (path !== '/' && path.endsWith('/'))) {
      throw new VigilError('BAD_ARGUMENTS', `path ${JSON.stringify(path)}: must be absolute, without a trailing slash`);
    }
    this.nodesMax = nodesMax;
    this.initialization = deferred();
    // Every read in flight listens to the signal: a load or a read-ahead holds up to the bound.
    setMaxListeners(treeCacheReadsInFlightMax + 16, this.stopper.signal);
  }

  /**
   * Sets the watch and loads the subtree; resolves once the mirror holds it (after the
   * `initialized` event). Rejects with the cache's failure, or CLOSED if closed first. Calling it
   * again returns the same promise.
   */
  start(): Promise<void> {
    if (!this.running && !this.closed) {
      this.running = true;
      // The client closing ends the watch quietly; the cache must learn it even while idle between events.
      this.unsubscribeState = this.client.on('state', (state) => {
        if (state === 'closed') this.close();
      });
      void this.run();
    }
    return this.initialization.promise;
  }

  /** The node at `path` as mirrored, or undefined when the mirror does not hold it. */
  get(path: string): TreeNode | undefined {
    return this.nodes.get(path);
  }

  /**
   * The names of `path`'s mirrored children in code-point order, or undefined when the mirror
   * does not hold `path`. (Between two events a child may briefly be held while its parent is
   * not — read after the parent was deleted and created again; the parent's own `created` event
   * brings it back. Walking down from the root never sees such a child.)
   */
  children(path: string): string[] | undefined {
    if (!this.nodes.has(path)) return undefined;
    return [...(this.childNames.get(path) ?? [])].sort(compareCodePoints);
  }

  /** How many nodes the mirror holds. */
  get size(): number {
    return this.nodes.size;
  }

  /** Why the cache stopped, or null while it runs (or was merely closed). */
  get failure(): VigilError | null {
    return this.failureValue;
  }

  /** Changes of the mirror and the `initialized` / `reloaded` notifications; returns the unsubscribe. */
  on(event: 'change', listener: (event: TreeCacheEvent) => void): () => void;
  /** The failure that stopped the cache (called at most once); returns the unsubscribe. */
  on(event: 'error', listener: (error: VigilError) => void): () => void;
  on(event: 'change' | 'error', listener: ((event: TreeCacheEvent) => void) | ((error: VigilError) => void)): () => void {
    if (event === 'change') {
      const l = listener as (event: TreeCacheEvent) => void;
      this.changeListeners.add(l);
      return () => this.changeListeners.delete(l);
    }
    if (event === 'error') {
      const l = listener as (error: VigilError) => void;
      this.errorListeners.add(l);
      return () => this.errorListeners.delete(l);
    }
    throw new VigilError('BAD_ARGUMENTS', `unknown event ${String(event)}`);
  }

  /** Stops following (unwatches, abandons reads in flight); the mirror keeps its last state. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribeState?.();
    this.stopper.abort();
    this.initialization.reject(new VigilError('CLOSED', `the cache of ${this.path} was closed`));
  }

  // ---- the follower ----

  private async run(): Promise<void> {
    let reason: ReloadReason | null = null;
    let restarts = 0;
    // Each pass sets one watch; a pass ends only by a restart (counted, bounded in a row) or for good.
    for (;;) {
      if (this.closed) return;
      let stream: WatchStream;
      try {
        stream = this.client.watch(this.path, { recursive: true, signal: this.stopper.signal });
      } catch (err) {
        this.fail(err);
        return;
      }
      try {
        await stream.ready;
        await this.reload(reason);
        restarts = 0;
        await this.follow(stream);
        // The stream ended without an error: the cache or the client was closed.
        this.close();
        return;
      } catch (err) {
        stream.close();
        if (this.closed) return;
        const restart = restartReason(err);
        if (restart === null || ++restarts > treeCacheRestartsMax) {
          this.fail(err);
          return;
        }
        reason = restart;
      }
    }
  }

  /**
   * Applies the stream's events until it ends. A pump pulls events and sends the reads they need
   * ahead; this loop applies them strictly in order. Throws what ended the stream, or a failure.
   */
  private async follow(stream: WatchStream): Promise<void> {
    const queue: Pending[] = [];
    const work = new Wakeup();
    const space = new Wakeup();
    let stopped = false;
    let ended = false;
    let streamError: unknown = null;
    const pump = (async () => {
      try {
        for await (const event of stream) {
          while (queue.length >= treeCacheReadsInFlightMax && !stopped) await space.wait();
          if (stopped) break;
          const item: Pending = { event, read: null };
          this.readAhead(item);
          queue.push(item);
          work.notify();
        }
      } catch (err) {
        streamError = err;
      }
      ended = true;
      work.notify();
    })();
    try {
      // Ends when the stream does; each pass applies one event or waits for the pump.
      for (;;) {
        const item = queue[0];
        if (item === undefined) {
          if (streamError !== null) throw streamError;
          if (ended) return;
          await work.wait();
          continue;
        }
        await this.apply(item, queue);
        queue.shift();
        space.notify();
      }
    } finally {
      stopped = true;
      stream.close();
      space.notify();
      await pump;
    }
  }

  /** Sends the read an event will need, unless the mirror already shows it is not needed. */
  private readAhead(item: Pending): void {
    const e = item.event;
    if (e.kind !== 'created' && e.kind !== 'dataChanged') return;
    const current = this.nodes.get(e.path);
    // An event stale now is still stale when applied: the events before it only move a held
    // node's czxid and mzxid forward. The converse does not hold (a node absent now may be brought
    // in by an earlier `created`): a read skipped here is sent when the event is applied, if needed.
    // Reloads decide again for every queued event.
    if (e.kind === 'created' && current !== undefined && e.revision <= current.stat.czxid) return;
    if (e.kind === 'dataChanged' && (current === undefined || e.revision <= current.stat.mzxid)) return;
    const read = this.readNode(e.path);
    read.catch(() => undefined);
    item.read = read;
  }

  /** Applies one event by the rule of the file comment. */
  private async apply(item: Pending, queue: readonly Pending[]): Promise<void> {
    const e = item.event;
    if (e.kind === 'historyCompacted') {
      await this.reload('HISTORY_COMPACTED');
      // Reads sent before the reload ended may show a node older than the reload did.
      for (const other of queue) {
        other.read = null;
        this.readAhead(other);
      }
      return;
    }
    const current = this.nodes.get(e.path);
    switch (e.kind) {
      case 'deleted':
        if (current !== undefined && e.revision > current.stat.czxid) this.remove(e.path, current, e.revision, false);
        return;
      case 'created': {
        if (current !== undefined) {
          if (e.revision <= current.stat.czxid) return;
          // The incarnation held was deleted before `e`, and that deletion was applied first.
          throw new VigilError('INTERNAL', `tree cache ${this.path}: created ${e.path} at ${e.revision} while holding it from ${current.stat.czxid}`, { path: e.path });
        }
        const read = await (item.read ?? this.readNode(e.path));
        if (read === null || read.stat.czxid > e.revision) return;
        if (read.stat.czxid < e.revision) {
          throw new VigilError('INTERNAL', `tree cache ${this.path}: a read of ${e.path} after its creation at ${e.revision} shows czxid ${read.stat.czxid}`, { path: e.path });
        }
        this.insert(e.path, read);
        this.emit({ type: 'created', path: e.path, data: read.data, stat: read.stat, revision: e.revision, reloaded: false });
        return;
      }
      case 'dataChanged': {
        if (current === undefined || e.revision <= current.stat.mzxid) return;
        const read = await (item.read ?? this.readNode(e.path));
        if (read === null || read.stat.czxid !== current.stat.czxid) return;
        this.nodes.set(e.path, read);
        this.emit({ type: 'changed', path: e.path, data: read.data, stat: read.stat, revision: e.revision, reloaded: false });
        return;
      }
      case 'childrenChanged':
        // Recursive watches report children by their own created/deleted events.
        return;
    }
  }

  /** Reads the whole subtree again; the first time fills the mirror, later ones emit the differences. */
  private async reload(reason: ReloadReason | null): Promise<void> {
    // Every read below is linearizable, so it reflects at least this revision.
    const revision = Math.max(this.client.lastRevision, this.emittedRevision);
    const loaded = await this.load();
    if (this.closed) return;
    if (!this.initialized) {
      for (const [path, node] of loaded) this.insert(path, node);
      this.initialized = true;
      this.emit({ type: 'initialized', revision });
      this.initialization.resolve();
      return;
    }
    const gone = [...this.nodes.entries()]
      .filter(([path, node]) => loaded.get(path)?.stat.czxid !== node.stat.czxid)
      .sort(([a], [b]) => depth(b) - depth(a));
    for (const [path, node] of gone) this.remove(path, node, revision, true);
    // `loaded` is in breadth-first order: parents are created before their children.
    for (const [path, node] of loaded) {
      const current = this.nodes.get(path);
      if (current === undefined) {
        this.insert(path, node);
        this.emit({ type: 'created', path, data: node.data, stat: node.stat, revision, reloaded: true });
      } else {
        this.nodes.set(path, node);
        if (current.stat.mzxid !== node.stat.mzxid) this.emit({ type: 'changed', path, data: node.data, stat: node.stat, revision, reloaded: true });
      }
    }
    this.emit({ type: 'reloaded', reason: reason ?? 'SESSION_EXPIRED', revision });
  }

  /** A breadth-first walk of the subtree: each node with one `get` and one `children`, many in flight. */
  private async load(): Promise<Map<string, TreeNode>> {
    const loaded = new Map<string, TreeNode>();
    const batch = Math.max(1, treeCacheReadsInFlightMax / 2);
    let level = [this.path];
    // One pass per level of the tree; the number of nodes, hence of levels, is bounded by nodesMax.
    while (level.length > 0) {
      const next: string[] = [];
      for (let i = 0; i < level.length; i += batch) {
        const reads = await Promise.all(
          level.slice(i, i + batch).map(async (path) => {
            const [node, names] = await Promise.all([this.readNode(path), this.readChildren(path)]);
            return { path, node, names };
          }),
        );
        for (const { path, node, names } of reads) {
          // Gone before its read: its descendants were deleted first, or come back by their own events.
          if (node === null) continue;
          loaded.set(path, node);
          for (const name of names ?? []) next.push(childPath(path, name));
          if (loaded.size + next.length > this.nodesMax) throw this.tooMany();
        }
      }
      level = next;
    }
    return loaded;
  }

  // ---- reads, with retries while the cluster cannot answer ----

  private async readNode(path: string): Promise<TreeNode | null> {
    const result = await this.retrying(() => this.client.get(path, { signal: this.stopper.signal }));
    return result === null ? null : { data: result.data, stat: result.stat };
  }

  private async readChildren(path: string): Promise<string[] | null> {
    const result = await this.retrying(() => this.client.children(path, { signal: this.stopper.signal }));
    return result === null ? null : result.names;
  }

  /** The read's result, or null for NO_NODE; TIMEOUT and retryable errors are tried again (bounded). */
  private async retrying<T>(read: () => Promise<T>): Promise<T | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (err) {
        if (isVigilError(err) && err.code === 'NO_NODE') return null;
        const again = isVigilError(err) && (err.retryable || err.code === 'TIMEOUT' || err.code === 'CONNECTION_LOSS');
        if (!again || attempt >= treeCacheReadAttemptsMax || this.closed) throw err;
        await pause(Math.min(treeCacheRetryDelayMsMax, 25 * 2 ** attempt), this.stopper.signal);
      }
    }
  }

  // ---- the mirror ----

  private insert(path: string, node: TreeNode): void {
    if (!this.nodes.has(path) && this.nodes.size >= this.nodesMax) throw this.tooMany();
    this.nodes.set(path, node);
    if (path === this.path) return;
    const { parent, name } = splitPath(path);
    let names = this.childNames.get(parent);
    if (names === undefined) this.childNames.set(parent, (names = new Set()));
    names.add(name);
  }

  private remove(path: string, node: TreeNode, revision: number, reloaded: boolean): void {
    this.nodes.delete(path);
    if (path !== this.path) {
      const { parent, name } = splitPath(path);
      const names = this.childNames.get(parent);
      names?.delete(name);
      if (names?.size === 0) this.childNames.delete(parent);
    }
    this.emit({ type: 'deleted', path, data: node.data, stat: node.stat, revision, reloaded });
  }

  private tooMany(): VigilError {
    return new VigilError('BAD_ARGUMENTS', `tree cache ${this.path}: the subtree has more than nodesMax (${this.nodesMax}) nodes`, { path: this.path });
  }

  private emit(event: TreeCacheEvent): void {
    if (this.closed) return;
    if (event.revision > this.emittedRevision) this.emittedRevision = event.revision;
    for (const listener of [...this.changeListeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the mirror must go on.
      }
    }
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    const error = isVigilError(err) ? err : new VigilError('INTERNAL', `tree cache ${this.path}: ${String(err)}`, { cause: err });
    this.failureValue = error;
    this.initialization.reject(error);
    this.close();
    for (const listener of [...this.errorListeners]) {
      try {
        listener(error);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

/** The reload a watch failure calls for, or null when it ends the cache. */
function restartReason(err: unknown): ReloadReason | null {
  if (!isVigilError(err)) return null;
  if (err.code === 'SESSION_EXPIRED') return 'SESSION_EXPIRED';
  if (err.code === 'SLOW_CONSUMER') return 'SLOW_CONSUMER';
  return null;
}

function splitPath(path: string): { parent: string; name: string } {
  const slash = path.lastIndexOf('/');
  return { parent: slash === 0 ? '/' : path.slice(0, slash), name: path.slice(slash + 1) };
}

function depth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** Code-point order (the server's, = UTF-8 byte order), which differs from `sort()`'s UTF-16 order past U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  // Bounded by the shorter string's length.
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done === true) return y.done === true ? 0 : -1;
    if (y.done === true) return 1;
    const d = (x.value.codePointAt(0) ?? 0) - (y.value.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: VigilError): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: VigilError) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody has to call start(); an unobserved rejection must not count as unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Wakes whoever waits (at most the pump and the applier, one each). */
class Wakeup {
  private waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

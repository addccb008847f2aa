/**
 * The session's watches (docs/protocol.md §7). Watch ids belong to one connection, so this
 * registry owns the watches and re-creates their server side after every reconnect:
 *
 * - Persistent watches are registered again with `fromRevision`, so the server replays what
 *   happened while the client was away. Each keeps the last revision it delivered and how many
 *   events of that revision it delivered: events of one revision may span frames, so resuming
 *   from the revision before and skipping the ones already delivered is the only way that is both
 *   gapless and free of duplicates whatever the moment of the loss.
 * - One-shot watches are not resumed by the server: the read that armed each one is repeated with
 *   `watch: true`, and a change that happened in between (existence, czxid, mzxid or pzxid past
 *   the revision the watch was armed at) is delivered by the SDK itself.
 */
import type { CompactedFrame, Stat, VigilError, WatchEventKind, WatchFrame, WatchMode } from '@vigil/protocol';
import type { Namespace } from './paths.js';
import type { Answer, Session, SessionHooks } from './session.js';

/** An event of a watch: what happened to which node, at which revision. */
export interface WatchEvent {
  readonly kind: WatchEventKind;
  readonly path: string;
  readonly revision: number;
}

/** A resumed persistent watch lost history: events at or below `floor` may be missing; re-read. */
export interface CompactedEvent {
  readonly kind: 'historyCompacted';
  /** The watch's path. */
  readonly path: string;
  readonly floor: number;
  /** Equal to `floor`. */
  readonly revision: number;
}

export type PersistentWatchEvent = WatchEvent | CompactedEvent;

/** Where a persistent watch's events go (a stream or a callback). */
export interface WatchSink {
  event(event: PersistentWatchEvent): void;
  /** The server registered the watch (the first time). */
  registered(): void;
  /** No more events: null when closed, the reason otherwise. */
  end(error: VigilError | null): void;
}

export type OneShotKind = 'data' | 'exists' | 'children';

interface PersistentWatch {
  readonly type: 'persistent';
  readonly serverPath: string;
  readonly userPath: string;
  readonly mode: WatchMode;
  readonly sink: WatchSink;
  /** The last revision delivered (or the one the watch started after); null until the first registration. */
  revision: number | null;
  /** Events of `revision` delivered; meaningless when `boundary`. */
  atRevision: number;
  /** True when nothing of `revision` can still come (a start, a `fromRevision`, a compaction floor). */
  boundary: boolean;
  /** Replayed events of `revision` still to drop after a resume from `revision - 1`. */
  skip: number;
  watchId: number | null;
  /** Bumped at every registration and every loss, so that a stale answer is recognised. */
  generation: number;
  closed: boolean;
}

interface OneShotWatch {
  readonly type: 'oneShot';
  readonly kind: OneShotKind;
  readonly serverPath: string;
  readonly listener: (event: WatchEvent) => void;
  /** The revision the server armed it at: any change after it should fire it. */
  armedRevision: number;
  /** Whether the node existed at `armedRevision` (always true for data and children watches). */
  existed: boolean;
  watchId: number | null;
  generation: number;
  fired: boolean;
}

export interface OneShotArming {
  readonly kind: OneShotKind;
  readonly serverPath: string;
  readonly listener: (event: WatchEvent) => void;
  readonly watchId: number;
  readonly armedRevision: number;
  readonly existed: boolean;
}

export class Watches implements SessionHooks {
  private readonly persistent = new Set<PersistentWatch>();
  private readonly oneShots = new Set<OneShotWatch>();
  /** The current connection's watch ids. */
  private readonly byId = new Map<number, PersistentWatch | OneShotWatch>();

  constructor(
    private readonly session: Session,
    private readonly namespace: Namespace,
  ) {}

  // ---- persistent watches ----

  /** Starts a persistent watch; it registers now if connected, else at the next connection. Returns its unsubscribe. */
  addPersistent(options: { serverPath: string; userPath: string; recursive: boolean; fromRevision?: number | undefined; sink: WatchSink }): () => void {
    const watch: PersistentWatch = {
      type: 'persistent',
      serverPath: options.serverPath,
      userPath: options.userPath,
      mode: options.recursive ? 'persistentRecursive' : 'persistent',
      sink: options.sink,
      revision: options.fromRevision ?? null,
      atRevision: 0,
      boundary: true,
      skip: 0,
      watchId: null,
      generation: 0,
      closed: false,
    };
    this.persistent.add(watch);
    this.register(watch);
    return () => this.removePersistent(watch, null);
  }

  private register(watch: PersistentWatch): void {
    if (watch.closed || !this.session.isConnected) return;
    const generation = ++watch.generation;
    const fromRevision = watch.revision === null ? undefined : watch.boundary ? watch.revision : watch.revision - 1;
    watch.skip = watch.revision !== null && !watch.boundary ? watch.atRevision : 0;
    this.session
      .internalCall(
        { op: 'watch', path: watch.serverPath, mode: watch.mode, ...(fromRevision === undefined ? {} : { fromRevision }) },
        {
          onAnswer: (answer) => {
            const watchId = watchIdOf(answer);
            if (watchId === undefined) return;
            if (watch.closed || watch.generation !== generation) {
              this.unwatch(watchId);
              return;
            }
            watch.watchId = watchId;
            this.byId.set(watchId, watch);
            // A fresh watch starts after the answer's revision; a resumed one keeps its position,
            // since the replay of what it missed comes after this answer.
            if (watch.revision === null) watch.revision = answer.revision;
            watch.sink.registered();
          },
          onLateAnswer: (answer) => this.unwatch(watchIdOf(answer)),
        },
      )
      .catch((error: VigilError) => {
        if (watch.generation !== generation) return;
        // A lost connection re-registers at the next one; an ended session ends the watch elsewhere.
        if (error.code === 'CONNECTION_LOSS' || error.code === 'CLOSED' || error.code === 'SESSION_EXPIRED') return;
        this.removePersistent(watch, error);
      });
  }

  private removePersistent(watch: PersistentWatch, error: VigilError | null): void {
    if (watch.closed) return;
    watch.closed = true;
    this.persistent.delete(watch);
    if (watch.watchId !== null) {
      this.byId.delete(watch.watchId);
      this.unwatch(watch.watchId);
      watch.watchId = null;
    }
    watch.sink.end(error);
  }

  private deliverPersistent(watch: PersistentWatch, frame: WatchFrame): void {
    for (const event of frame.events) {
      if (watch.closed) return;
      const last = watch.revision ?? 0;
      if (event.revision < last) continue;
      if (event.revision === last) {
        if (watch.boundary) continue;
        if (watch.skip > 0) {
          watch.skip--;
          continue;
        }
        watch.atRevision++;
      } else {
        watch.revision = event.revision;
        watch.atRevision = 1;
        watch.boundary = false;
        watch.skip = 0;
      }
      watch.sink.event({ kind: event.kind, path: this.namespace.fromServer(event.path), revision: event.revision });
    }
  }

  private compacted(watch: PersistentWatch, frame: CompactedFrame): void {
    watch.sink.event({ kind: 'historyCompacted', path: watch.userPath, floor: frame.floor, revision: frame.floor });
    if (watch.revision === null || frame.floor >= watch.revision) {
      watch.revision = frame.floor;
      watch.boundary = true;
      watch.atRevision = 0;
      watch.skip = 0;
    }
  }

  // ---- one-shot watches ----

  /** Called from a read's `onAnswer`, so the watch is known before any frame that follows the answer. */
  armOneShot(arming: OneShotArming): void {
    const watch: OneShotWatch = {
      type: 'oneShot',
      kind: arming.kind,
      serverPath: arming.serverPath,
      listener: arming.listener,
      armedRevision: arming.armedRevision,
      existed: arming.existed,
      watchId: arming.watchId,
      generation: 0,
      fired: false,
    };
    this.oneShots.add(watch);
    this.byId.set(arming.watchId, watch);
  }

  private fire(watch: OneShotWatch, kind: WatchEventKind, revision: number): void {
    if (watch.fired) return;
    watch.fired = true;
    this.oneShots.delete(watch);
    if (watch.watchId !== null) this.byId.delete(watch.watchId);
    watch.watchId = null;
    const event: WatchEvent = { kind, path: this.namespace.fromServer(watch.serverPath), revision };
    try {
      watch.listener(event);
    } catch {
      // The listener's failure is its own; other watches must still be served.
    }
  }

  /** Repeats the arming read on the new connection; delivers a change that happened in between. */
  private rearm(watch: OneShotWatch): void {
    if (watch.fired || watch.watchId !== null || !this.session.isConnected) return;
    const generation = ++watch.generation;
    const stale = (): boolean => watch.fired || watch.generation !== generation;
    const gone = (error: VigilError): void => {
      if (stale()) return;
      if (error.code === 'NO_NODE') this.fire(watch, 'deleted', this.session.lastRevision);
      // CONNECTION_LOSS: again at the next connection. Anything else (TOO_MANY_WATCHES, an ended
      // session) leaves the watch unarmed: there is no event to report for it.
      else if (error.code !== 'CONNECTION_LOSS') this.oneShots.delete(watch);
    };
    const path = watch.serverPath;
    if (watch.kind === 'children') {
      // A children answer has no Stat of the parent: an `exists` right behind it (same session,
      // so served in order) gives its pzxid. A change after the children answer fires the new
      // server watch, and its event comes before the exists answer (events first, §7).
      let childrenRevision = 0;
      this.session
        .internalCall({ op: 'children', path, watch: true, limit: 1 }, {
          onAnswer: (answer) => {
            const watchId = watchIdOf(answer);
            if (stale()) return this.unwatch(watchId);
            childrenRevision = answer.revision;
            if (watchId !== undefined) this.adopt(watch, watchId);
          },
        })
        .catch(gone);
      this.session
        .internalCall({ op: 'exists', path }, {
          onAnswer: (answer) => {
            if (stale() || childrenRevision === 0) return;
            if (!this.firedByMissedChange(watch, statOf(answer), answer.revision)) watch.armedRevision = childrenRevision;
          },
        })
        .catch(() => undefined);
      return;
    }
    this.session
      .internalCall({ op: watch.kind === 'data' ? 'get' : 'exists', path, watch: true }, {
        onAnswer: (answer) => {
          const watchId = watchIdOf(answer);
          if (stale() || this.firedByMissedChange(watch, statOf(answer), answer.revision)) return this.unwatch(watchId);
          if (watchId !== undefined) this.adopt(watch, watchId);
          watch.armedRevision = answer.revision;
        },
      })
      .catch(gone);
  }

  private adopt(watch: OneShotWatch, watchId: number): void {
    watch.watchId = watchId;
    this.byId.set(watchId, watch);
  }

  /** Compares the node now with what the watch was armed on; fires (and disowns the new server watch) on a change. */
  private firedByMissedChange(watch: OneShotWatch, stat: Stat | null, revision: number): boolean {
    const armed = watch.armedRevision;
    let change: { kind: WatchEventKind; revision: number } | null = null;
    if (!watch.existed) {
      if (stat !== null) change = { kind: 'created', revision: stat.czxid };
    } else if (stat === null) {
      change = { kind: 'deleted', revision };
    } else if (stat.czxid > armed) {
      // Deleted and created again: the watch would have fired on the deletion.
      change = { kind: 'deleted', revision: stat.czxid };
    } else if (watch.kind === 'children') {
      if (stat.pzxid > armed) change = { kind: 'childrenChanged', revision: stat.pzxid };
    } else if (stat.mzxid > armed) {
      change = { kind: 'dataChanged', revision: stat.mzxid };
    }
    if (change === null) return false;
    if (watch.watchId !== null) {
      this.byId.delete(watch.watchId);
      this.unwatch(watch.watchId);
      watch.watchId = null;
    }
    this.fire(watch, change.kind, change.revision);
    return true;
  }

  // ---- SessionHooks ----

  onPush(frame: WatchFrame | CompactedFrame): void {
    const watch = this.byId.get(frame.watchId);
    if (watch === undefined) return;
    if (watch.type === 'persistent') {
      if (frame.t === 'watch') this.deliverPersistent(watch, frame);
      else this.compacted(watch, frame);
      return;
    }
    if (frame.t !== 'watch') return;
    const first = frame.events[0];
    if (first !== undefined) this.fire(watch, first.kind, first.revision);
  }

  onConnectionLost(): void {
    this.byId.clear();
    for (const watch of this.persistent) {
      watch.watchId = null;
      watch.generation++;
    }
    for (const watch of this.oneShots) {
      watch.watchId = null;
      watch.generation++;
    }
  }

  onSessionReady(): void {
    for (const watch of this.persistent) this.register(watch);
    for (const watch of [...this.oneShots]) this.rearm(watch);
  }

  onSessionEnded(error: VigilError): void {
    const reason = error.code === 'CLOSED' ? null : error;
    for (const watch of [...this.persistent]) this.removePersistent(watch, reason);
    // One-shot watches end silently: the session's state change is their news.
    this.oneShots.clear();
    this.byId.clear();
  }

  /** Best effort: the server may already have dropped it (one-shot fired, connection gone). */
  private unwatch(watchId: number | undefined): void {
    if (watchId === undefined || !this.session.isConnected || this.session.isClosed) return;
    this.session.internalCall({ op: 'unwatch', watchId }).catch(() => undefined);
  }
}

/** The watch id of a `watch` answer, or of a read answered with `watch: true`. */
function watchIdOf(answer: Answer): number | undefined {
  const result = answer.result;
  return 'watchId' in result ? result.watchId : undefined;
}

function statOf(answer: Answer): Stat | null {
  const result = answer.result;
  return result.op === 'get' || result.op === 'exists' ? result.stat : null;
}

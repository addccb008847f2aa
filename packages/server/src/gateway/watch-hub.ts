/**
 * Which watch wants which change (docs/design.md, docs/protocol.md §7). Registrations are indexed
 * by path (and, for recursive ones, by subtree root) so that dispatching an event costs a lookup
 * per ancestor, not a scan of every watch. The hub is fed every applied event in revision order,
 * synchronously after the store applied them and before any read can see them; it hands each
 * matching event to its registration's sink at once, so an event always leaves before a response
 * that reflects it.
 */
import type { WatchEvent } from '@vigil/store';

/** One-shot kinds (armed by a read) and the persistent modes of the `watch` op. */
export type WatchKind = 'data' | 'exists' | 'children' | 'persistent' | 'persistentRecursive';

/** Where a registration's events go: one client connection. */
export interface WatchSink {
  deliver(watchId: number, event: WatchEvent): void;
}

export interface Registration {
  readonly watchId: number;
  readonly path: string;
  readonly kind: WatchKind;
  readonly sink: WatchSink;
}

const firesOn: Readonly<Record<Exclude<WatchKind, 'persistentRecursive'>, ReadonlySet<WatchEvent['kind']>>> = {
  data: new Set(['dataChanged', 'deleted']),
  exists: new Set(['created', 'dataChanged', 'deleted']),
  children: new Set(['childrenChanged', 'deleted']),
  persistent: new Set(['created', 'deleted', 'dataChanged', 'childrenChanged']),
};
/** A recursive watch hears of children by their own created/deleted events, as in ZooKeeper. */
const recursiveFiresOn: ReadonlySet<WatchEvent['kind']> = new Set(['created', 'deleted', 'dataChanged']);

export function isOneShot(kind: WatchKind): boolean {
  return kind === 'data' || kind === 'exists' || kind === 'children';
}

/** Whether `registration` wants `event` (the event's path is the registration's or below it). */
export function matches(registration: Pick<Registration, 'path' | 'kind'>, event: Pick<WatchEvent, 'path' | 'kind'>): boolean {
  if (registration.kind === 'persistentRecursive') {
    return recursiveFiresOn.has(event.kind) && isAtOrBelow(event.path, registration.path);
  }
  return event.path === registration.path && firesOn[registration.kind].has(event.kind);
}

function isAtOrBelow(path: string, root: string): boolean {
  return root === '/' || path === root || (path.startsWith(root) && path.charCodeAt(root.length) === 47 /* '/' */);
}

export class WatchHub {
  private readonly exact = new Map<string, Set<Registration>>();
  private readonly recursive = new Map<string, Set<Registration>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(registration: Registration): void {
    const index = registration.kind === 'persistentRecursive' ? this.recursive : this.exact;
    let set = index.get(registration.path);
    if (set === undefined) index.set(registration.path, (set = new Set()));
    set.add(registration);
    this.count++;
  }

  remove(registration: Registration): void {
    const index = registration.kind === 'persistentRecursive' ? this.recursive : this.exact;
    const set = index.get(registration.path);
    if (set === undefined || !set.delete(registration)) return;
    this.count--;
    if (set.size === 0) index.delete(registration.path);
  }

  /** Delivers events (in revision order) to every registration that wants them; one-shots go once. */
  dispatch(events: readonly WatchEvent[]): void {
    if (this.count === 0) return;
    for (const event of events) {
      const exact = this.exact.get(event.path);
      if (exact !== undefined) {
        for (const r of exact) {
          if (!matches(r, event)) continue;
          if (isOneShot(r.kind)) this.remove(r);
          r.sink.deliver(r.watchId, event);
        }
      }
      if (this.recursive.size > 0 && recursiveFiresOn.has(event.kind)) {
        for (let at: string | null = event.path; at !== null; at = parentOrNull(at)) {
          const set = this.recursive.get(at);
          if (set !== undefined) for (const r of set) r.sink.deliver(r.watchId, event);
        }
      }
    }
  }
}

function parentOrNull(path: string): string | null {
  if (path === '/') return null;
  const i = path.lastIndexOf('/');
  return i === 0 ? '/' : path.slice(0, i);
}

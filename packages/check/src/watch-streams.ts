// Persistent watch streams (docs/protocol.md §7): events arrive in revision order, each once, with
// no gap after the revision the watch started from unless a `compacted` marker owns up to it, and
// only for writes that happened.

import type { WatchEventKind } from './history.js';

/** One event a write caused, as docs/protocol.md §7 names them (a create of /a/b causes `created /a/b` and `childrenChanged /a`). */
export interface WriteEvent {
  readonly path: string;
  readonly kind: WatchEventKind;
  /** The revision of the write; unknown for most writes of unknown outcome. */
  readonly revision?: number;
  /** 'ok': acknowledged, so its events are owed; 'info': outcome unknown, its events may appear or not. */
  readonly outcome: 'ok' | 'info';
}

/** An event as a watcher received it. */
export interface ReceivedEvent {
  readonly path: string;
  readonly kind: WatchEventKind;
  readonly revision: number;
}

/** The server said events at or below `floor` may be missing (HISTORY_COMPACTED). */
export interface CompactedMarker {
  readonly kind: 'compacted';
  readonly floor: number;
}

/** What a watch stream delivered, in delivery order. */
export type WatchItem = ReceivedEvent | CompactedMarker;

/** One persistent watch and what it received. */
export interface WatcherRecord {
  /** A name for reports. */
  readonly id: string;
  /** The watched path. */
  readonly path: string;
  /** persistentRecursive (the path and below, no childrenChanged) or persistent (the path itself, every kind). */
  readonly recursive: boolean;
  /** The revision the watch started after: events with a higher revision are promised. */
  readonly startRevision: number;
  readonly items: readonly WatchItem[];
}

/** The input of checkWatchStreams. */
export interface WatchStreamsInput {
  /** The events of every write with outcome 'ok' or 'info' ('fail' writes made none). */
  readonly writes: readonly WriteEvent[];
  readonly watchers: readonly WatcherRecord[];
}

/** What went wrong in a stream. */
export type WatchViolationKind =
  | 'out-of-order' // a revision lower than one before it
  | 'duplicate' // the same (path, kind, revision) twice
  | 'before-start' // an event at or below the start revision
  | 'outside-watch' // an event the watch does not cover (path or kind)
  | 'gap' // an acknowledged write's event, owed and not delivered
  | 'phantom'; // an event no write could have caused

/** One broken promise of one watch stream. */
export interface WatchViolation {
  readonly watcher: string;
  readonly kind: WatchViolationKind;
  readonly event: ReceivedEvent;
  readonly detail: string;
}

/** The verdict on watch streams. */
export interface WatchStreamsReport {
  readonly valid: boolean;
  readonly violations: readonly WatchViolation[];
  readonly eventsChecked: number;
}

/** Whether a watch on `watcher` hears `kind` events of `path` (packages/server watch-hub.ts). */
export function watchCovers(watcher: Pick<WatcherRecord, 'path' | 'recursive'>, path: string, kind: WatchEventKind): boolean {
  if (!watcher.recursive) return path === watcher.path;
  if (kind === 'childrenChanged') return false;
  return path === watcher.path || path.startsWith(watcher.path === '/' ? '/' : `${watcher.path}/`);
}

const isEvent = (item: WatchItem): item is ReceivedEvent => item.kind !== 'compacted';
const eventId = (e: { path: string; kind: string; revision?: number }): string => `${e.revision ?? '?'} ${e.kind} ${e.path}`;
const describe = (e: ReceivedEvent): string => `${e.kind} ${e.path} @r${e.revision}`;

/** Checks every watcher's stream against the writes that happened. */
export function checkWatchStreams(input: WatchStreamsInput): WatchStreamsReport {
  const known = new Set<string>();
  const unknownRevisionWrites = new Map<string, number>();
  for (const write of input.writes) {
    if (write.revision !== undefined) known.add(eventId(write));
    else if (write.outcome === 'info') unknownRevisionWrites.set(`${write.kind} ${write.path}`, (unknownRevisionWrites.get(`${write.kind} ${write.path}`) ?? 0) + 1);
  }
  const owed = input.writes.filter((w): w is WriteEvent & { revision: number } => w.outcome === 'ok' && w.revision !== undefined);

  const violations: WatchViolation[] = [];
  // Events no write with a known revision explains, by (kind, path): distinct revisions and who saw them first.
  const unexplained = new Map<string, Map<number, { watcher: string; event: ReceivedEvent }>>();
  let eventsChecked = 0;
  for (const watcher of input.watchers) {
    const received = new Set<string>();
    let lastRevision = watcher.startRevision;
    let floor = -Infinity;
    for (const item of watcher.items) {
      if (!isEvent(item)) {
        floor = Math.max(floor, item.floor);
        continue;
      }
      eventsChecked++;
      const report = (kind: WatchViolationKind, detail: string): void => {
        violations.push({ watcher: watcher.id, kind, event: item, detail: `${describe(item)}: ${detail}` });
      };
      // An event of another watch says nothing about how far this one got.
      if (!watchCovers(watcher, item.path, item.kind)) {
        report('outside-watch', `not covered by a ${watcher.recursive ? 'recursive ' : ''}watch on ${watcher.path}`);
        continue;
      }
      const id = eventId(item);
      if (received.has(id)) report('duplicate', 'delivered twice');
      received.add(id);
      if (item.revision <= watcher.startRevision) report('before-start', `the watch started after r${watcher.startRevision}`);
      else if (item.revision < lastRevision) report('out-of-order', `after an event of r${lastRevision}`);
      lastRevision = Math.max(lastRevision, item.revision);
      if (!known.has(id)) {
        const group = `${item.kind} ${item.path}`;
        const revisions = unexplained.get(group) ?? new Map<number, { watcher: string; event: ReceivedEvent }>();
        if (!revisions.has(item.revision)) revisions.set(item.revision, { watcher: watcher.id, event: item });
        unexplained.set(group, revisions);
      }
    }
    const lastReceived = lastRevision;
    for (const write of owed) {
      if (write.revision <= watcher.startRevision || write.revision > lastReceived || write.revision <= floor) continue;
      if (!watchCovers(watcher, write.path, write.kind) || received.has(eventId(write))) continue;
      violations.push({
        watcher: watcher.id,
        kind: 'gap',
        event: { path: write.path, kind: write.kind, revision: write.revision },
        detail: `${write.kind} ${write.path} @r${write.revision}: acknowledged, not delivered, though the stream reached r${lastReceived}`,
      });
    }
  }
  // Each write of unknown outcome and unknown revision made at most one entry, so it explains at most one revision.
  for (const [group, revisions] of unexplained) {
    const explainable = unknownRevisionWrites.get(group) ?? 0;
    if (revisions.size <= explainable) continue;
    for (const { watcher, event } of revisions.values()) {
      const detail = explainable === 0
        ? 'no write made this event'
        : `${revisions.size} revisions of ${group} without a known write, but only ${explainable} writes of unknown outcome could explain them`;
      violations.push({ watcher, kind: 'phantom', event, detail: `${describe(event)}: ${detail}` });
    }
  }
  return { valid: violations.length === 0, violations, eventsChecked };
}

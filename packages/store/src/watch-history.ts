import { assert } from './errors.js';
import type { WatchEvent } from './watch-event.js';

export type EventsSince =
  | { readonly compacted: false; readonly events: readonly WatchEvent[] }
  /** History below `floor` is gone: the watcher must re-read state, then resume from `floor`'s successor. */
  | { readonly compacted: true; readonly floor: number };

/**
 * What one event is counted as against the history's byte bound: its path (two bytes per UTF-16
 * unit, an upper bound of what V8 stores) and the event object with its slot in the ring.
 */
export function watchEventBytes(event: WatchEvent): number {
  return watchEventOverheadBytes + 2 * event.path.length;
}

const watchEventOverheadBytes = 64;

/** One path's events in the history, oldest first from `head` (those before it are evicted). */
interface PathEvents {
  readonly events: WatchEvent[];
  head: number;
}

/**
 * The most recent events in revision order, in a ring of at most `capacity` events and
 * `bytesMax` bytes (as `watchEventBytes` counts them; paths may be long, so a bound in events
 * alone does not bound memory). `floor` is the highest revision whose events may be incomplete
 * here: every event with a revision above it is held. History lives in memory only; after a
 * restart or a restore the floor is the applied index.
 */
export class WatchHistory {
  readonly #ring: (WatchEvent | undefined)[];
  readonly #bytesMax: number;
  /**
   * The same events by path, oldest first (from `head`): a watch on one path replays from here
   * without walking the whole ring (a member taking over thousands of resumed sessions replays
   * one watch at a time).
   */
  readonly #byPath = new Map<string, PathEvents>();
  #start = 0;
  #size = 0;
  #bytes = 0;
  #floor: number;

  constructor(capacity: number, floor: number, bytesMax = Number.POSITIVE_INFINITY) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, 'watch history capacity');
    assert(bytesMax > 0, 'watch history byte bound');
    this.#ring = new Array<WatchEvent | undefined>(capacity);
    this.#bytesMax = bytesMax;
    this.#floor = floor;
  }

  get floor(): number {
    return this.#floor;
  }

  /** Events held, and the bytes they are counted as. */
  get size(): { readonly events: number; readonly bytes: number } {
    return { events: this.#size, bytes: this.#bytes };
  }

  append(events: readonly WatchEvent[]): void {
    const capacity = this.#ring.length;
    for (const event of events) {
      const bytes = watchEventBytes(event);
      // An event larger than the whole bound is still held, alone: the newest event is always
      // replayable.
      while (this.#size === capacity || (this.#size > 0 && this.#bytes + bytes > this.#bytesMax)) this.#evictOldest();
      this.#ring[(this.#start + this.#size) % capacity] = event;
      this.#size++;
      this.#bytes += bytes;
      const onPath = this.#byPath.get(event.path);
      if (onPath === undefined) this.#byPath.set(event.path, { events: [event], head: 0 });
      else onPath.events.push(event);
    }
  }

  #evictOldest(): void {
    const evicted = this.#ring[this.#start] as WatchEvent;
    this.#ring[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.#ring.length;
    this.#size--;
    this.#bytes -= watchEventBytes(evicted);
    if (evicted.revision > this.#floor) this.#floor = evicted.revision;
    // The oldest event of the ring is the oldest of its path.
    const onPath = this.#byPath.get(evicted.path) as PathEvents;
    onPath.head++;
    if (onPath.head === onPath.events.length) this.#byPath.delete(evicted.path);
    else if (onPath.head >= 64 && 2 * onPath.head >= onPath.events.length) {
      onPath.events.splice(0, onPath.head);
      onPath.head = 0;
    }
  }

  /** Forgets everything: after a restore, nothing at or below `floor` can be replayed. */
  reset(floor: number): void {
    this.#ring.fill(undefined);
    this.#byPath.clear();
    this.#start = 0;
    this.#size = 0;
    this.#bytes = 0;
    this.#floor = floor;
  }

  /**
   * Events with a revision above `revision` — only those on `path` if given — or the compaction
   * floor if some are gone.
   */
  since(revision: number, path?: string): EventsSince {
    if (revision < this.#floor) return { compacted: true, floor: this.#floor };
    if (path !== undefined) {
      const onPath = this.#byPath.get(path);
      if (onPath === undefined) return { compacted: false, events: [] };
      let lo = onPath.head;
      let hi = onPath.events.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((onPath.events[mid] as WatchEvent).revision <= revision) lo = mid + 1;
        else hi = mid;
      }
      return { compacted: false, events: onPath.events.slice(lo) };
    }
    const capacity = this.#ring.length;
    const at = (i: number): WatchEvent => this.#ring[(this.#start + i) % capacity] as WatchEvent;
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at(mid).revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    const events: WatchEvent[] = [];
    for (let i = lo; i < this.#size; i++) events.push(at(i));
    return { compacted: false, events };
  }
}

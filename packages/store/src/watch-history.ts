import { assert } from './errors.js';
import type { WatchEvent } from './watch-event.js';

export type EventsSince =
  | { readonly compacted: false; readonly events: readonly WatchEvent[] }
  /** History below `floor` is gone: the watcher must re-read state, then resume from `floor`'s successor. */
  | { readonly compacted: true; readonly floor: number };

/**
 * The most recent events in revision order, in a ring of fixed capacity. `floor` is the highest
 * revision whose events may be incomplete here: every event with a revision above it is held.
 * History lives in memory only; after a restart or a restore the floor is the applied index.
 */
export class WatchHistory {
  readonly #ring: (WatchEvent | undefined)[];
  #start = 0;
  #size = 0;
  #floor: number;

  constructor(capacity: number, floor: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, 'watch history capacity');
    this.#ring = new Array<WatchEvent | undefined>(capacity);
    this.#floor = floor;
  }

  get floor(): number {
    return this.#floor;
  }

  append(events: readonly WatchEvent[]): void {
    const capacity = this.#ring.length;
    for (const event of events) {
      if (this.#size === capacity) {
        const evicted = this.#ring[this.#start] as WatchEvent;
        this.#ring[this.#start] = undefined;
        this.#start = (this.#start + 1) % capacity;
        this.#size--;
        if (evicted.revision > this.#floor) this.#floor = evicted.revision;
      }
      this.#ring[(this.#start + this.#size) % capacity] = event;
      this.#size++;
    }
  }

  /** Forgets everything: after a restore, nothing at or below `floor` can be replayed. */
  reset(floor: number): void {
    this.#ring.fill(undefined);
    this.#start = 0;
    this.#size = 0;
    this.#floor = floor;
  }

  /** Events with a revision above `revision`, or the compaction floor if some are gone. */
  since(revision: number): EventsSince {
    if (revision < this.#floor) return { compacted: true, floor: this.#floor };
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

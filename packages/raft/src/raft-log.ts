import { assert } from './errors.js';
import type { Entry } from './types.js';

/**
 * The in-memory log of one node: the entries after the last compaction point (`offset`), plus
 * what is known about durability (`stableIndex`) and progress (`committed`). The driver keeps the
 * durable copy; compaction keeps this window bounded.
 *
 * Indexes: entries[i] has index offset + 1 + i.
 */
export class RaftLog {
  private entries: Entry[] = [];
  /** Index of the last entry compacted away (or covered by a snapshot); 0 for none. */
  offset = 0;
  offsetTerm = 0;
  /** Highest index known durable on this node. */
  stableIndex = 0;
  committed = 0;

  constructor(offset: number, offsetTerm: number, entries: readonly Entry[]) {
    this.offset = offset;
    this.offsetTerm = offsetTerm;
    for (let i = 0; i < entries.length; i++) {
      assert(entries[i]!.index === offset + 1 + i, 'restored entries are contiguous from the snapshot');
    }
    this.entries = entries.slice();
    this.stableIndex = this.lastIndex();
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.offsetTerm : this.entries[this.entries.length - 1]!.term;
  }

  /** The term at `index`, or undefined when the index is compacted away or beyond the log. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  entry(index: number): Entry | undefined {
    return this.entries[index - this.offset - 1];
  }

  /** Entries in [lo, hi] capped at `bytesMax` (at least one entry when the range is non-empty). */
  slice(lo: number, hi: number, bytesMax = Number.POSITIVE_INFINITY): Entry[] {
    assert(lo > this.offset, 'slice starts after the compaction point');
    const end = Math.min(hi, this.lastIndex());
    if (lo > end) return [];
    if (bytesMax === Number.POSITIVE_INFINITY) return this.entries.slice(lo - this.offset - 1, end - this.offset);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= end; i++) {
      const e = this.entries[i - this.offset - 1]!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(e);
    }
    return out;
  }

  /** The entries not yet durable. */
  unstable(): Entry[] {
    return this.entries.slice(this.stableIndex - this.offset);
  }

  append(entry: Entry): void {
    assert(entry.index === this.lastIndex() + 1, 'appended entries are contiguous');
    this.entries.push(entry);
  }

  /**
   * Append a leader's entries after `prevIndex`, truncating our conflicting suffix. Returns the
   * last index now known to match the leader. Committed entries never conflict (Log Matching).
   */
  appendFromLeader(prevIndex: number, incoming: readonly Entry[]): number {
    let i = 0;
    // Skip what we already have: duplicated and reordered appends must be idempotent.
    while (i < incoming.length) {
      const e = incoming[i]!;
      const ours = this.term(e.index);
      if (ours === undefined) {
        if (e.index <= this.offset) { i++; continue; } // compacted: committed, therefore equal
        break;
      }
      if (ours !== e.term) break;
      i++;
    }
    if (i < incoming.length) {
      const first = incoming[i]!;
      assert(first.index > this.committed, `a committed entry (${first.index}) would be overwritten`);
      if (first.index <= this.lastIndex()) {
        this.entries.length = first.index - this.offset - 1;
        if (this.stableIndex >= first.index) this.stableIndex = first.index - 1;
      }
      for (let j = i; j < incoming.length; j++) this.entries.push(incoming[j]!);
    }
    return prevIndex + incoming.length;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`: where a leader and follower may agree
   * (fast backtracking, the Raft thesis §5.3 optimisation as etcd-io/raft implements it).
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.offset) {
      const t = this.term(i)!;
      if (t <= term) return i;
      i--;
    }
    return this.offset;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Forget entries up to and including `index` (they are in a snapshot). */
  compactTo(index: number): void {
    if (index <= this.offset) return;
    assert(index <= this.stableIndex, 'only durable entries are compacted');
    const term = this.term(index);
    assert(term !== undefined, 'compaction point is in the log');
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
  }

  /** Replace everything with a snapshot's position. */
  restore(index: number, term: number): void {
    this.entries = [];
    this.offset = index;
    this.offsetTerm = term;
    this.stableIndex = index;
    this.committed = index;
  }
}

/** An entry's approximate wire size, for in-flight byte bounds. */
export function entryBytes(entry: Entry): number {
  return entry.data.length + 24;
}

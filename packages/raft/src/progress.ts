import type { NodeId, ProgressState, ProgressStatus } from './types.js';

/**
 * The leader's view of one follower's log (etcd-io/raft's tracker.Progress): where it matches,
 * what to send next, and how much is in flight.
 *
 * - probe: one append at a time until the follower's position is found;
 * - replicate: optimistic pipelining, bounded by `inflightMsgsMax` and `inflightBytesMax`;
 * - snapshot: the follower is behind the compacted log; an InstallSnapshot transfer is running.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding, wait for its answer or the next heartbeat. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The leader's tick count when it last heard from this member (see RawNode.ticksSinceLeaderContact). */
  heardAtTick = 0;
  /** The leader's tick count when this member's acknowledgements last moved `match`. */
  ackedAtTick = 0;
  /** The highest read round this follower has acknowledged. */
  readRound = 0;
  /** Snapshot transfer: the snapshot index, the bytes acknowledged and sent, and an ack seen since the last heartbeat. */
  snapshotIndex = 0;
  snapshotAcked = 0;
  snapshotSent = 0;
  snapshotStalledTicks = 0;
  /** In-flight appends in replicate state: last index and bytes of each, oldest first. */
  private inflightIndex: number[] = [];
  private inflightSizes: number[] = [];
  inflightBytes = 0;

  constructor(readonly id: NodeId, next: number, public isLearner: boolean) {
    this.next = next;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.snapshotIndex + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.resetInflight();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.resetInflight();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = 'snapshot';
    this.snapshotIndex = snapshotIndex;
    this.snapshotAcked = 0;
    this.snapshotSent = 0;
    this.snapshotStalledTicks = 0;
    this.probeSent = false;
    this.resetInflight();
  }

  /** A successful append response: returns true when it moved `match` forward. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    this.freeInflightTo(index);
    return updated;
  }

  /**
   * A rejected append of `rejected` (its prevIndex), with the follower's hint of where logs may
   * match. Returns false for a stale rejection that says nothing new.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold further appends to this follower. */
  isPaused(inflightMsgsMax: number, inflightBytesMax: number): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflightIndex.length >= inflightMsgsMax || this.inflightBytes >= inflightBytesMax;
      case 'snapshot':
        return true;
    }
  }

  /** Record an optimistic append in replicate state. */
  sentEntries(lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflightIndex.push(lastIndex);
      this.inflightSizes.push(bytes);
      this.inflightBytes += bytes;
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }



  inflightCount(): number {
    return this.inflightIndex.length;
  }

  private freeInflightTo(index: number): void {
    let n = 0;
    while (n < this.inflightIndex.length && this.inflightIndex[n]! <= index) {
      this.inflightBytes -= this.inflightSizes[n]!;
      n++;
    }
    if (n > 0) {
      this.inflightIndex.splice(0, n);
      this.inflightSizes.splice(0, n);
    }
  }

  private resetInflight(): void {
    this.inflightIndex = [];
    this.inflightSizes = [];
    this.inflightBytes = 0;
  }

  status(): ProgressStatus {
    return {
      id: this.id,
      match: this.match,
      next: this.next,
      state: this.state,
      isLearner: this.isLearner,
      recentActive: this.recentActive,
      inflightMsgs: this.inflightIndex.length,
      inflightBytes: this.inflightBytes,
    };
  }
}

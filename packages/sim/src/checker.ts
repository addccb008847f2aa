import type { Entry, NodeId } from '@vigil/raft';
import { fnv1a, mix } from './hash.js';

/** A safety or liveness property was broken: the run failed, and its seed replays it. */
export class SimViolation extends Error {
  override readonly name = 'SimViolation';
  constructor(readonly invariant: string, detail: string, readonly time: number) {
    super(`${invariant}: ${detail} (at t=${time})`);
  }
}

/** The hash of one entry's identity and content. */
export function entryHash(e: Entry): number {
  return mix(fnv1a(e.data), e.term, e.index, e.kind === 'normal' ? 1 : e.kind === 'noop' ? 2 : 3);
}

/** A write some client was told had succeeded. */
export interface AckedWrite {
  readonly proposalId: number;
  readonly term: number;
  /** {@link entryHash} of the entry acknowledged. */
  readonly hash: number;
}

/**
 * Global knowledge across every node and every incarnation, against which each event is checked.
 * Node-local monotonicity is tracked by the simulator's node objects, which survive crashes.
 */
export class Checker {
  now = 0;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** (index, term) → hash of the log prefix ending there: Log Matching, checked incrementally. */
  private readonly prefixHash = new Map<number, Map<number, number>>();
  /** index → rolling hash of the applied sequence through it: State Machine Safety. */
  private readonly appliedHash: number[] = [];
  /** index → hash of the entry applied there: committed entries never change. */
  private readonly appliedEntry: number[] = [];
  private readonly appliedTerm: number[] = [];
  /** (voter, term) → candidate granted. */
  private readonly votes = new Map<string, NodeId>();
  /**
   * index → the write acknowledged there. Recorded when the client is told, whatever the driver
   * did before: an acknowledged write must stay the entry at its index on every node, through
   * crashes and leader changes, which is checked on every apply, every election and at the end.
   */
  private readonly acked = new Map<number, AckedWrite>();
  /** Acknowledged writes that no node has applied yet (none unless a driver acknowledges early). */
  private readonly ackedUnapplied = new Map<number, AckedWrite>();
  maxAckedIndex = 0;
  maxAppliedIndex = 0;
  readsChecked = 0;

  fail(invariant: string, detail: string): never {
    throw new SimViolation(invariant, detail, this.now);
  }

  onLeader(id: NodeId, term: number): void {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) this.leaderOfTerm.set(term, id);
    else if (known !== id) this.fail('election safety', `nodes ${known} and ${id} both led term ${term}`);
  }

  /** The node that led `term`, if any did. */
  leaderOf(term: number): NodeId | undefined {
    return this.leaderOfTerm.get(term);
  }

  /** A node made entry `index` of `term` durable with `hash` as the hash of its log prefix. */
  onPersisted(node: NodeId, index: number, term: number, hash: number): void {
    let byTerm = this.prefixHash.get(index);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.prefixHash.set(index, byTerm);
    }
    const known = byTerm.get(term);
    if (known === undefined) byTerm.set(term, hash);
    else if (known !== hash) this.fail('log matching', `node ${node} holds entry ${index}@${term} after a log that differs from another node's`);
  }

  prefixHashOf(index: number, term: number): number | undefined {
    if (index === 0) return 0;
    return this.prefixHash.get(index)?.get(term);
  }

  onVoteGranted(voter: NodeId, term: number, candidate: NodeId): void {
    const key = `${voter}/${term}`;
    const known = this.votes.get(key);
    if (known === undefined) this.votes.set(key, candidate);
    else if (known !== candidate) this.fail('vote once per term', `node ${voter} voted for ${known} and ${candidate} in term ${term}`);
  }

  /** A node applied `entry`, its state machine hash becoming `rollingHash`. */
  onApplied(node: NodeId, entry: Entry, rollingHash: number): void {
    const i = entry.index;
    const h = entryHash(entry);
    const ack = this.acked.get(i);
    if (ack !== undefined && ack.hash !== h) this.fail('acknowledged writes are durable', `node ${node} applied ${i}@${entry.term}, but proposal ${ack.proposalId} was acknowledged as ${i}@${ack.term}`);
    const known = this.appliedEntry[i];
    if (known === undefined) {
      this.ackedUnapplied.delete(i);
      this.appliedEntry[i] = h;
      this.appliedHash[i] = rollingHash;
      this.appliedTerm[i] = entry.term;
      if (i > this.maxAppliedIndex) this.maxAppliedIndex = i;
    } else {
      if (known !== h) this.fail('committed entries never change', `node ${node} applied a different entry at index ${i} (term ${entry.term}, first applied with term ${this.appliedTerm[i]})`);
      if (this.appliedHash[i] !== rollingHash) this.fail('identical applied sequences', `node ${node} diverged by index ${i}`);
    }
  }

  /** A snapshot install set a node's state to `rollingHash` at `index`. */
  onSnapshotInstalled(node: NodeId, index: number, rollingHash: number): void {
    const known = this.appliedHash[index];
    if (known !== undefined && known !== rollingHash) this.fail('identical applied sequences', `node ${node} installed a snapshot at ${index} that differs from the applied history`);
  }

  committedTerm(index: number): number | undefined {
    return this.appliedTerm[index];
  }

  /** Leader Completeness: a new leader holds every entry applied anywhere (hence committed). */
  onBecameLeader(node: NodeId, term: number, termAt: (index: number) => number | undefined, firstIndex: number): void {
    for (let i = Math.max(1, firstIndex); i <= this.maxAppliedIndex; i++) {
      const t = this.appliedTerm[i];
      if (t === undefined || t >= term) continue;
      if (termAt(i) !== t) this.fail('leader completeness', `node ${node} leads term ${term} without committed entry ${i}@${t}`);
    }
    // Acknowledged entries that were applied are covered above; the rest must be held too.
    for (const [i, ack] of this.ackedUnapplied) {
      if (ack.term < term && termAt(i) !== ack.term) this.fail('acknowledged writes are durable', `node ${node} leads term ${term} without ${i}@${ack.term}, acknowledged to proposal ${ack.proposalId}`);
    }
  }

  /**
   * A client was told that its proposal is `entry`. In a correct driver the entry has just been
   * applied, so it matches what was applied there; a driver that acknowledges earlier is caught
   * when the entry is later lost (above, and {@link checkAckedDurable}).
   */
  onAcked(proposalId: number, entry: Entry): void {
    const i = entry.index;
    const ack: AckedWrite = { proposalId, term: entry.term, hash: entryHash(entry) };
    const applied = this.appliedEntry[i];
    if (applied !== undefined && applied !== ack.hash) this.fail('acknowledged writes are durable', `proposal ${proposalId} was acknowledged as ${i}@${ack.term}, but ${i}@${this.appliedTerm[i]} is committed there`);
    this.acked.set(i, ack);
    if (applied === undefined) this.ackedUnapplied.set(i, ack);
    if (i > this.maxAckedIndex) this.maxAckedIndex = i;
  }

  /**
   * At the end of a run, once every member has applied a write made after healing: every
   * acknowledged write is the entry applied at its index (and so, by the applied-hash check, on
   * every node that applied that far).
   */
  checkAckedDurable(): void {
    for (const [i, ack] of this.acked) {
      const applied = this.appliedEntry[i];
      if (applied === undefined) this.fail('acknowledged writes are durable', `proposal ${ack.proposalId}, acknowledged as ${i}@${ack.term}, was never applied`);
      if (applied !== ack.hash) this.fail('acknowledged writes are durable', `proposal ${ack.proposalId} was acknowledged as ${i}@${ack.term}, but ${i}@${this.appliedTerm[i]} was applied`);
    }
  }

  /** A linearizable read returned read point `index`; it started after `ackedBefore` was acknowledged. */
  onRead(node: NodeId, index: number, ackedBefore: number): void {
    this.readsChecked++;
    if (index < ackedBefore) this.fail('linearizable reads', `node ${node} served a read at index ${index} although index ${ackedBefore} was acknowledged before the read began`);
  }
}

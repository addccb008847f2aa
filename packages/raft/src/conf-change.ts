import { assert } from './errors.js';
import type { ConfChange, ConfState, NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** ConfChange entries are JSON so that any driver and any language can read them. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(change));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const value = JSON.parse(decoder.decode(data)) as ConfChange;
  assert(typeof value === 'object' && value !== null && typeof value.type === 'string', 'conf entry holds a ConfChange');
  return value;
}

/** Mutable membership, applied change by change. */
export class Membership {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();

  constructor(conf: ConfState) {
    for (const v of conf.voters) this.voters.add(v);
    for (const l of conf.learners) this.learners.add(l);
  }

  isMember(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** Why a change cannot be proposed now, or null when it can. */
  rejectReason(change: ConfChange): string | null {
    switch (change.type) {
      case 'bootstrap':
        return 'bootstrap is only the first entry of a new log';
      case 'addLearner':
        return this.isMember(change.node) ? `node ${change.node} is already a member` : null;
      case 'addVoter':
        return this.voters.has(change.node) ? `node ${change.node} is already a voter` : null;
      case 'promoteLearner':
        return this.learners.has(change.node) ? null : `node ${change.node} is not a learner`;
      case 'removeNode':
        if (!this.isMember(change.node)) return `node ${change.node} is not a member`;
        if (this.voters.has(change.node) && this.voters.size === 1) return 'cannot remove the last voter';
        return null;
    }
  }

  apply(change: ConfChange): void {
    switch (change.type) {
      case 'bootstrap':
        this.voters.clear();
        this.learners.clear();
        for (const v of change.voters) this.voters.add(v);
        return;
      case 'addLearner':
        if (!this.voters.has(change.node)) this.learners.add(change.node);
        return;
      case 'addVoter':
      case 'promoteLearner':
        this.learners.delete(change.node);
        this.voters.add(change.node);
        return;
      case 'removeNode':
        this.voters.delete(change.node);
        this.learners.delete(change.node);
        return;
    }
  }

  state(): ConfState {
    return { voters: [...this.voters].sort((a, b) => a - b), learners: [...this.learners].sort((a, b) => a - b) };
  }
}

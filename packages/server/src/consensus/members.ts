import { decodeConfChange, type ConfChange, type NodeId } from '@vigil/raft';

/** Where a member listens: its peer port always, its client port when known. */
export interface MemberAddress {
  readonly peer: string;
  readonly client: string | null;
}

export type MemberAddresses = ReadonlyMap<NodeId, MemberAddress>;

/** The `context` of a bootstrap entry: every founder's addresses. */
export function bootstrapContext(addresses: MemberAddresses): string {
  return JSON.stringify(Object.fromEntries([...addresses].map(([id, a]) => [String(id), a])));
}

/** The `context` of an add-member change: the new member's addresses. */
export function memberContext(address: MemberAddress): string {
  return JSON.stringify(address);
}

/**
 * Member addresses travel in the conf-change entries that add members (and in snapshots), so
 * every node learns them from the log like the membership itself.
 */
export function applyAddressChange(addresses: Map<NodeId, MemberAddress>, change: ConfChange, removed?: Set<NodeId>): void {
  switch (change.type) {
    case 'bootstrap': {
      if (change.context === undefined) return;
      const all = JSON.parse(change.context) as Record<string, MemberAddress>;
      for (const [id, a] of Object.entries(all)) addresses.set(Number(id), { peer: a.peer, client: a.client ?? null });
      return;
    }
    case 'addLearner':
    case 'addVoter':
      if (change.context !== undefined) {
        const a = JSON.parse(change.context) as MemberAddress;
        addresses.set(change.node, { peer: a.peer, client: a.client ?? null });
      }
      return;
    case 'removeNode':
      addresses.delete(change.node);
      // Ids are never reused: a removed member stays refused by the transport.
      removed?.add(change.node);
      return;
    case 'promoteLearner':
      return;
  }
}

export function applyAddressEntry(addresses: Map<NodeId, MemberAddress>, data: Uint8Array, removed?: Set<NodeId>): void {
  applyAddressChange(addresses, decodeConfChange(data), removed);
}

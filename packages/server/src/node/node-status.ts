import type { NodeId, Status } from '@vigil/raft';
import type { MemberStatus, NodeStatus } from '../admin/admin-node-port.js';
import type { MemberAddress } from '../consensus/members.js';

/** What `/status` reports: the Raft core's view, the store's applied index, and member addresses. */
export function nodeStatus(input: {
  readonly raft: Status;
  readonly clusterId: string;
  readonly appliedIndex: number;
  readonly members: ReadonlyMap<NodeId, MemberAddress>;
  readonly dbSizeBytes: number;
  readonly uptimeMs: number;
}): NodeStatus {
  const s = input.raft;
  const progress = new Map(s.progress.map((p) => [p.id, p]));
  const roles = [...s.conf.voters.map((id) => [id, 'voter'] as const), ...s.conf.learners.map((id) => [id, 'learner'] as const)];
  const members: MemberStatus[] = roles.map(([id, role]) => {
    const p = progress.get(id);
    const a = input.members.get(id);
    return {
      id,
      role,
      peerAddress: a?.peer ?? null,
      clientAddress: a?.client ?? null,
      // Known on the leader only: how far each member's log matches, and how far behind it is.
      matchIndex: p?.match ?? null,
      lag: p === undefined ? null : Math.max(0, s.lastIndex - p.match),
    };
  });
  return {
    id: s.id,
    clusterId: input.clusterId,
    role: s.role,
    term: s.term,
    leaderId: s.leader === 0 ? null : s.leader,
    commitIndex: s.commit,
    appliedIndex: input.appliedIndex,
    snapshotIndex: s.snapshotIndex,
    firstLogIndex: s.firstIndex,
    lastLogIndex: s.lastIndex,
    members,
    dbSizeBytes: input.dbSizeBytes,
    uptimeMs: input.uptimeMs,
  };
}

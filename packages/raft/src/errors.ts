/** Operational failures of the core: the caller did something the current state does not allow. */
export type RaftErrorCode =
  /** This node is not the leader (or does not know one, for reads). */
  | 'NOT_LEADER'
  /** A leader transfer is in progress; proposals are refused until it ends. */
  | 'TRANSFER_IN_PROGRESS'
  /** A membership change is still being applied; one change at a time. */
  | 'CONF_CHANGE_PENDING'
  /** The membership change makes no sense for the current membership. */
  | 'INVALID_CONF_CHANGE'
  /** The leader's uncommitted log is at its bound; retry once commits catch up. */
  | 'PROPOSAL_BACKPRESSURE'
  /** This node was removed from the cluster. */
  | 'NOT_A_MEMBER';

export class RaftError extends Error {
  override readonly name = 'RaftError';
  constructor(readonly code: RaftErrorCode, message: string) {
    super(message);
  }
}

/** A broken invariant: a bug, never an operational condition. Kept on in production. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`raft invariant violated: ${message}`);
}

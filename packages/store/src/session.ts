import type { CommandResult } from './result.js';

/**
 * The recorded answer of one sequenced write of a session: a resend of the write (the same `seq`)
 * gets this result again instead of being applied a second time (exactly-once writes).
 */
export interface SessionReply {
  readonly seq: number;
  readonly result: CommandResult;
}

/** A session as replicated: liveness decisions are the server's, the store only records. */
export interface SessionRecord {
  readonly sessionId: number;
  readonly timeoutMs: number;
  /** Entry time of the sessionOpen. */
  readonly openedMs: number;
  /**
   * Entry time of the last committed sessionHeartbeat that named this session. A new leader
   * starts its clocks from here rather than granting every session a fresh full timeout.
   */
  readonly lastSeenMs: number;
  /** What a client presents to resume the session (empty when opened without one). */
  readonly secret: Uint8Array;
  /**
   * The highest `seqFloor` the session's writes presented (raised further when the reply table
   * overflows): a write with a lower `seq` is never applied again, its reply is forgotten. 0 until
   * the session's first sequenced write.
   */
  readonly seqFloor: number;
  /**
   * The reply table: answers of the session's sequenced writes at or above `seqFloor`, in
   * increasing `seq` order, at most `sessionRepliesMax`. The last is the session's highest applied
   * `seq`; empty exactly when `seqFloor` is 0.
   */
  readonly replies: readonly SessionReply[];
}

export interface SessionInfo extends SessionRecord {
  /** Paths of the session's ephemeral nodes, in code-point order. */
  readonly ephemerals: readonly string[];
}

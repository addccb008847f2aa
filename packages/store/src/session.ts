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
}

export interface SessionInfo extends SessionRecord {
  /** Paths of the session's ephemeral nodes, in code-point order. */
  readonly ephemerals: readonly string[];
}

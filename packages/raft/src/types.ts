/**
 * The vocabulary of the Raft core: what goes into it (messages, proposals, ticks) and what comes
 * out of it (a Ready). Every value here is plain data so that the driver can persist and send it
 * with any codec, and the simulator can copy, drop and reorder it.
 */

/** A member id. Ids are positive integers; 0 means "none" (no vote, no known leader). */
export type NodeId = number;
export const NONE: NodeId = 0;

/** `normal` carries application data; `noop` is appended by a new leader; `conf` carries a {@link ConfChange}. */
export type EntryKind = 'normal' | 'noop' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One membership change at a time (the Raft thesis, §4.1, with the effect taken when the entry is
 * applied as etcd-io/raft does). `bootstrap` is only ever the first entry of a new cluster's log.
 * `context` is opaque to Raft: the server carries member addresses in it.
 */
export type ConfChange =
  | { readonly type: 'bootstrap'; readonly voters: readonly NodeId[]; readonly context?: string }
  | { readonly type: 'addLearner'; readonly node: NodeId; readonly context?: string }
  | { readonly type: 'addVoter'; readonly node: NodeId; readonly context?: string }
  | { readonly type: 'promoteLearner'; readonly node: NodeId }
  | { readonly type: 'removeNode'; readonly node: NodeId };

export interface SnapshotMeta {
  /** The last log index the snapshot covers. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** The membership as of `index`. */
  readonly conf: ConfState;
}

/**
 * A snapshot's bytes as Raft uses them: their length, and a range of them to send to a follower.
 * A `Uint8Array` is one; a driver may hand in a reader of the snapshot's file instead, so that the
 * image is not held in memory between transfers. `subarray` must return bytes the caller may keep.
 */
export interface SnapshotBytes {
  readonly length: number;
  subarray(start: number, end: number): Uint8Array;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's image at `meta.index`, opaque to Raft. */
  readonly data: SnapshotBytes;
}

/** A snapshot received from a leader, whole in memory: what a Ready hands the driver to store and install. */
export interface ReceivedSnapshot extends Snapshot {
  readonly data: Uint8Array;
}

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface VoteRequest extends Envelope {
  readonly type: 'vote' | 'preVote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Set when a leader transfer asked for this election: voters ignore their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
}

export interface AppendRequest extends Envelope {
  readonly type: 'app';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendResponse extends Envelope {
  readonly type: 'appResp';
  /** On success the highest index known to match the leader; on reject the `prevIndex` rejected. */
  readonly index: number;
  readonly reject: boolean;
  /** On reject: an index at or below which the follower's log may match (fast backtracking). */
  readonly rejectHint: number;
  /** On reject: the follower's term at `rejectHint`. */
  readonly hintTerm: number;
}

export interface HeartbeatRequest extends Envelope {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** The leader's read round; echoed so that one heartbeat round confirms a batch of reads. */
  readonly readRound: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeatResp';
  readonly readRound: number;
}

/** One chunk of an InstallSnapshot transfer. Chunks are sent in order and acknowledged. */
export interface SnapshotChunk extends Envelope {
  readonly type: 'snap';
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly totalBytes: number;
  readonly chunk: Uint8Array;
}

export interface SnapshotChunkResponse extends Envelope {
  readonly type: 'snapResp';
  readonly snapshotIndex: number;
  /** The next byte offset the follower expects (== totalBytes when it holds the whole snapshot). */
  readonly offset: number;
}

export interface TimeoutNow extends Envelope {
  readonly type: 'timeoutNow';
}

export interface ReadIndexRequest extends Envelope {
  readonly type: 'readIndex';
  readonly ctx: number;
}

export interface ReadIndexResponse extends Envelope {
  readonly type: 'readIndexResp';
  readonly ctx: number;
  /** The index a read must wait for; meaningful only when `reject` is false. */
  readonly index: number;
  readonly reject: boolean;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotChunkResponse
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageType = Message['type'];

/** The outcome of a {@link RawNode.readIndex} call: read once `applied >= index`. */
export interface ReadState {
  readonly ctx: number;
  /** True when leadership was confirmed; false when the read could not be served (no leader, leader lost). */
  readonly ok: boolean;
  readonly index: number;
}

/**
 * Everything the driver must do, in this order:
 * 0. send `earlyMessages` (optional: they may also wait for step 2);
 * 1. persist `snapshot` (replacing the whole log), then `entries` (deleting any persisted entry at
 *    or after `entries[0].index` first), then `hardState` — one synced write;
 * 2. send `messages`;
 * 3. apply `committedEntries` (after installing `snapshot` into the state machine, if any) and
 *    deliver `readStates`;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: ReceivedSnapshot | null;
  /**
   * A leader's appends, heartbeats, snapshot chunks and transfer requests, when this Ready does
   * not change the term or vote: they depend on nothing being persisted here, so the driver may
   * send them before (or while) it persists — the leader's disk write then overlaps the
   * followers' (thesis §10.2.1). The leader still counts itself only for durable entries.
   */
  readonly earlyMessages: readonly Message[];
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Set when this node must persist before sending (always true unless nothing is persisted). */
  readonly mustSync: boolean;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface ProgressStatus {
  readonly id: NodeId;
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly inflightMsgs: number;
  readonly inflightBytes: number;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly stableIndex: number;
  readonly snapshotIndex: number;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
  readonly uncommittedBytes: number;
  /** Present on the leader only. */
  readonly progress: readonly ProgressStatus[];
}

/** The durable image a node restarts from (what the driver loaded from disk). */
export interface DurableState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Persisted entries after the snapshot (or from index 1), contiguous. */
  readonly entries: readonly Entry[];
  /** The state machine's applied index; entries up to it are not handed out again. */
  readonly applied: number;
}

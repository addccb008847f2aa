import { decodeConfChange, encodeConfChange, Membership } from './conf-change.js';
import { assert, RaftError } from './errors.js';
import type { Prng } from './prng.js';
import { Progress } from './progress.js';
import { entryBytes, RaftLog } from './raft-log.js';
import {
  NONE,
  type AppendRequest,
  type AppendResponse,
  type ConfChange,
  type ConfState,
  type DurableState,
  type Entry,
  type HardState,
  type HeartbeatRequest,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
  type ReceivedSnapshot,
  type Snapshot,
  type SnapshotBytes,
  type SnapshotChunk,
  type SnapshotChunkResponse,
  type Status,
  type VoteRequest,
  type VoteResponse,
} from './types.js';

/**
 * Deliberately broken variants of the core, used only by the simulator's self-test to show that
 * its checker is not vacuous. Never set outside tests.
 */
export interface UnsafeTestFaults {
  /** Grant votes without the "candidate's log is at least as up to date" check. */
  readonly voteWithoutLogCheck?: boolean;
  /** Commit an entry of a previous term by counting replicas (Raft paper, Figure 8). */
  readonly commitPreviousTermByCount?: boolean;
  /** Never persist `vote` in the hard state. */
  readonly forgetVote?: boolean;
  /** Treat a proposal as committed as soon as the leader appends it. */
  readonly commitBeforeQuorum?: boolean;
  /** Answer ReadIndex without confirming leadership with a heartbeat round. */
  readonly readWithoutHeartbeat?: boolean;
  /**
   * Log matching: a follower accepts a leader's entries after `prevIndex` when it holds some entry
   * there, without checking that its term is `prevTerm`.
   */
  readonly appendWithoutLogCheck?: boolean;
  /**
   * Snapshots: a follower that holds an entry at a snapshot's index takes the snapshot as telling it
   * that its own entries are committed, without checking the entry's term.
   */
  readonly snapshotWithoutTermCheck?: boolean;
  /** Snapshots: a follower installs a snapshot even when it has committed past it, going back in time. */
  readonly installStaleSnapshot?: boolean;
  /** Membership: the leader counts learners' replicas towards the commit quorum. */
  readonly learnersInQuorum?: boolean;
  /** Membership: a candidate asks learners for votes too and counts their grants towards the quorum. */
  readonly learnersVote?: boolean;
  /**
   * Leader transfer: a vote flagged as a transfer is granted even by a voter that has already
   * voted for another candidate in that term (the flag rightly bypasses the leader lease, but not this).
   */
  readonly transferVoteTwice?: boolean;
  /**
   * Leader transfer: a vote flagged as a transfer is granted without comparing logs, trusting that
   * the leader caught the transferee up — which a TimeoutNow that arrives late breaks.
   */
  readonly transferVoteWithoutLogCheck?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before an election; randomized in [n, 1.5n). */
  readonly electionTicks: number;
  /** Ticks between a leader's heartbeats; must be well below `electionTicks`. */
  readonly heartbeatTicks: number;
  /** The only source of randomness (election timeouts). */
  readonly prng: Prng;
  /** Pre-vote (thesis §9.6): a partitioned node does not disrupt a healthy leader on rejoin. Default true. */
  readonly preVote?: boolean;
  /** Check-quorum: a leader that loses contact with a majority steps down. Default true. */
  readonly checkQuorum?: boolean;
  /** Bytes of entries per append message. */
  readonly appendBytesMax?: number;
  /** Unacknowledged append messages per follower in replicate state. */
  readonly inflightMsgsMax?: number;
  /** Unacknowledged append bytes per follower in replicate state. */
  readonly inflightBytesMax?: number;
  /** Bytes of uncommitted proposals the leader accepts before refusing with PROPOSAL_BACKPRESSURE. */
  readonly uncommittedBytesMax?: number;
  /** Bytes per InstallSnapshot chunk. */
  readonly snapshotChunkBytes?: number;
  /** Unacknowledged InstallSnapshot chunks per follower. */
  readonly snapshotChunksInflightMax?: number;
  readonly unsafeTestFaults?: UnsafeTestFaults;
}

export const raftDefaults = {
  appendBytesMax: 1024 * 1024,
  inflightMsgsMax: 256,
  // Small enough that encoding one window for a member catching up (up to 4 MB of appends in one
  // turn of the leader's event loop) does not stall the leader past a heartbeat or two.
  inflightBytesMax: 4 * 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
  snapshotChunksInflightMax: 4,
} as const;

interface PendingRead {
  readonly from: NodeId;
  readonly ctx: number;
  readonly index: number;
  readonly round: number;
}

interface IncomingSnapshot {
  /** The leader sending it: another leader's snapshot at the same index may differ byte for byte. */
  readonly from: NodeId;
  readonly meta: Snapshot['meta'];
  readonly totalBytes: number;
  readonly parts: Uint8Array[];
  received: number;
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

const messageTypes: ReadonlySet<unknown> = new Set<MessageType>([
  'vote', 'preVote', 'voteResp', 'preVoteResp', 'app', 'appResp', 'heartbeat', 'heartbeatResp',
  'snap', 'snapResp', 'timeoutNow', 'readIndex', 'readIndexResp',
]);
const entryKinds: ReadonlySet<unknown> = new Set(['normal', 'noop', 'conf']);

/** A term, an index, an offset or a count: a non-negative safe integer. */
function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isNodeId(v: unknown): v is NodeId {
  return isCount(v) && v > 0;
}

function isNodeIdList(v: unknown): v is NodeId[] {
  return Array.isArray(v) && v.every(isNodeId) && new Set(v).size === v.length;
}

/** The first of `fields` that is not a count, as a reason; null when all are. */
function notCounts(m: object, fields: readonly string[]): string | null {
  for (const f of fields) if (!isCount((m as Record<string, unknown>)[f])) return `${f} is not a non-negative integer`;
  return null;
}

/** Why a conf entry's data is not a ConfChange this core can apply at `index`, or null. */
function confChangeProblem(data: Uint8Array, index: number): string | null {
  let change: ConfChange;
  try {
    change = decodeConfChange(data);
  } catch {
    return 'holds no ConfChange';
  }
  const context: unknown = (change as { context?: unknown }).context;
  if (context !== undefined && typeof context !== 'string') return 'has a context that is not a string';
  switch (change.type) {
    case 'bootstrap':
      if (index !== 1) return 'is a bootstrap after the first entry';
      return isNodeIdList(change.voters) && change.voters.length > 0 ? null : 'is a bootstrap without valid voters';
    case 'addLearner':
    case 'addVoter':
    case 'promoteLearner':
    case 'removeNode':
      return isNodeId(change.node) ? null : 'names no valid node';
    default:
      return 'holds an unknown ConfChange';
  }
}

function appendProblem(m: AppendRequest): string | null {
  const bad = notCounts(m, ['prevIndex', 'prevTerm', 'commit']);
  if (bad !== null) return bad;
  if (m.prevTerm > m.term) return `prevTerm ${m.prevTerm} is beyond the message's term ${m.term}`;
  if (!Array.isArray(m.entries)) return 'entries is not an array';
  let term = m.prevTerm;
  for (let i = 0; i < m.entries.length; i++) {
    const e: unknown = m.entries[i];
    if (typeof e !== 'object' || e === null) return 'an entry is not an entry';
    const bad = notCounts(e, ['index', 'term']);
    if (bad !== null) return `entry ${bad}`;
    const { index, term: t, kind, data } = e as Entry;
    if (!entryKinds.has(kind)) return `entry ${index} has an unknown kind`;
    if (!(data instanceof Uint8Array)) return `entry ${index} data is not bytes`;
    // Log Matching: entries follow prevIndex one by one, and terms never go back.
    if (index !== m.prevIndex + 1 + i) return `entry ${index} does not follow index ${m.prevIndex + i}`;
    if (t < 1 || t < term) return `entry ${index} has term ${t} after term ${term}`;
    if (t > m.term) return `entry ${index} has term ${t}, beyond the message's term ${m.term}`;
    if (kind === 'conf') {
      const problem = confChangeProblem(data, index);
      if (problem !== null) return `conf entry ${index} ${problem}`;
    }
    term = t;
  }
  return null;
}

function snapshotChunkProblem(m: SnapshotChunk): string | null {
  const bad = notCounts(m, ['offset', 'totalBytes']);
  if (bad !== null) return bad;
  const meta: unknown = m.meta;
  if (typeof meta !== 'object' || meta === null) return 'meta is not snapshot metadata';
  const badMeta = notCounts(meta, ['index', 'term']);
  if (badMeta !== null) return `meta ${badMeta}`;
  const { index, term, conf } = meta as SnapshotChunk['meta'];
  if (index < 1 || term < 1) return 'a snapshot of an empty log';
  if (term > m.term) return `snapshot term ${term} is beyond the message's term ${m.term}`;
  if (typeof conf !== 'object' || conf === null || !isNodeIdList(conf.voters) || !isNodeIdList(conf.learners)) return 'the snapshot membership is not lists of node ids';
  if (conf.voters.length === 0) return 'the snapshot membership has no voters';
  if (conf.learners.some((id) => conf.voters.includes(id))) return 'the snapshot membership has a node that is both voter and learner';
  if (!(m.chunk instanceof Uint8Array)) return 'chunk is not bytes';
  if (m.totalBytes < 1) return 'an empty snapshot';
  if (m.offset + m.chunk.length > m.totalBytes) return `the chunk ends at ${m.offset + m.chunk.length}, beyond the snapshot's ${m.totalBytes} bytes`;
  return null;
}

/**
 * Why `m` is not a message a correct peer sends, judged from the message alone; null if it could
 * be one. The peer codec checks shapes on the wire; this holds for any driver, and also checks
 * what a shape cannot say: entries that do not follow prevIndex or go back in term, terms from
 * the future, a chunk beyond its snapshot.
 */
function malformed(m: Message): string | null {
  const r: unknown = m;
  if (typeof r !== 'object' || r === null) return 'not a message';
  if (!messageTypes.has(m.type)) return 'unknown message type';
  if (!isNodeId(m.from)) return 'from is not a node id';
  if (!isNodeId(m.to)) return 'to is not a node id';
  if (!isCount(m.term)) return 'term is not a non-negative integer';
  switch (m.type) {
    case 'vote':
    case 'preVote': {
      const bad = notCounts(m, ['lastIndex', 'lastTerm']);
      if (bad !== null) return bad;
      if (typeof m.transfer !== 'boolean') return 'transfer is not a boolean';
      return m.lastTerm > m.term ? `lastTerm ${m.lastTerm} is beyond the message's term ${m.term}` : null;
    }
    case 'voteResp':
    case 'preVoteResp':
      return typeof m.reject === 'boolean' ? null : 'reject is not a boolean';
    case 'app':
      return appendProblem(m);
    case 'appResp':
      return notCounts(m, ['index', 'rejectHint', 'hintTerm']) ?? (typeof m.reject === 'boolean' ? null : 'reject is not a boolean');
    case 'heartbeat':
      return notCounts(m, ['commit', 'readRound']);
    case 'heartbeatResp':
      return notCounts(m, ['readRound']);
    case 'snap':
      return snapshotChunkProblem(m);
    case 'snapResp':
      return notCounts(m, ['snapshotIndex', 'offset']);
    case 'timeoutNow':
      return null;
    case 'readIndex':
      return notCounts(m, ['ctx']);
    case 'readIndexResp':
      return notCounts(m, ['ctx', 'index']) ?? (typeof m.reject === 'boolean' ? null : 'reject is not a boolean');
  }
}

/** Messages only a leader sends, which carry nothing that must be durable on the sender. */
function isReplicationMessage(m: Message): boolean {
  return m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' || m.type === 'timeoutNow';
}

/**
 * One Raft member as a synchronous state machine (etcd-io/raft's RawNode). Inputs: `tick`,
 * `step`, `propose`, `proposeConfChange`, `readIndex`, `transferLeadership`. Output: `ready()`,
 * handled by the driver in the order the {@link Ready} documents, then `advance()`.
 *
 * Safety rules that shape this file:
 * - a message that depends on durable state leaves only through a Ready, after persistence;
 * - the leader counts itself towards a commit only for entries it has made durable;
 * - an entry is committed by counting only if it is of the leader's term (§5.4.2);
 * - one membership change at a time, taking effect when applied.
 */
export class RawNode {
  readonly id: NodeId;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly prng: Prng;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly appendBytesMax: number;
  private readonly inflightMsgsMax: number;
  private readonly inflightBytesMax: number;
  private readonly uncommittedBytesMax: number;
  private readonly snapshotChunkBytes: number;
  private readonly snapshotChunksInflightMax: number;
  private readonly faults: UnsafeTestFaults;

  private term = 0;
  private vote: NodeId = NONE;
  private leader: NodeId = NONE;
  private role: Role = 'follower';
  private readonly log: RaftLog;
  private membership: Membership;
  /** Membership after each applied conf entry since the snapshot, for snapshot metadata. */
  private confHistory: { index: number; conf: ConfState }[] = [];
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  private electionElapsed = 0;
  /** Ticks since this node started (a clock for the leader's contact with its followers). */
  private ticks = 0;
  /**
   * When this node last heard the leader of its current term (`ticks`), kept while it doubts that
   * leader in a pre-vote (same term) and forgotten with the term: a pre-vote that a majority
   * refuses does not mean the leader is gone.
   */
  private leaderHeardAtTick: number | undefined = undefined;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  private leadTransferee: NodeId = NONE;
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;

  private applied: number;
  /** Highest index handed out in a Ready's committedEntries. */
  private applying: number;

  private snapshot: Snapshot | null;
  private incomingSnapshot: IncomingSnapshot | null = null;
  private completedSnapshot: ReceivedSnapshot | null = null;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private readRound = 0;
  private pendingReads: PendingRead[] = [];
  private readsAwaitingCommit: { from: NodeId; ctx: number }[] = [];
  private needReadBroadcast = false;
  private needAppendBroadcast = false;

  private prevHardState: HardState;
  private readyInFlight: Ready | null = null;

  /**
   * The first durable state of a founding member of a new cluster: every founder starts from the
   * same committed entry 1 holding the initial voters, so logs match from the first index and a
   * member that joins later learns the membership from the log like everything else.
   */
  static bootstrap(voters: readonly NodeId[], context?: string): DurableState {
    assert(voters.length > 0 && voters.every((v) => Number.isInteger(v) && v > 0), 'voters are positive ids');
    const change: ConfChange = { type: 'bootstrap', voters: [...voters].sort((a, b) => a - b), ...(context === undefined ? {} : { context }) };
    const entry: Entry = { term: 1, index: 1, kind: 'conf', data: encodeConfChange(change) };
    return { hardState: { term: 1, vote: NONE, commit: 1 }, snapshot: null, entries: [entry], applied: 0 };
  }

  constructor(config: RaftConfig, durable?: DurableState) {
    assert(Number.isInteger(config.id) && config.id > 0, 'node id is a positive integer');
    assert(config.heartbeatTicks > 0 && config.electionTicks > config.heartbeatTicks, 'electionTicks > heartbeatTicks > 0');
    this.id = config.id;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.prng = config.prng;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.appendBytesMax = config.appendBytesMax ?? raftDefaults.appendBytesMax;
    this.inflightMsgsMax = config.inflightMsgsMax ?? raftDefaults.inflightMsgsMax;
    this.inflightBytesMax = config.inflightBytesMax ?? raftDefaults.inflightBytesMax;
    this.uncommittedBytesMax = config.uncommittedBytesMax ?? raftDefaults.uncommittedBytesMax;
    this.snapshotChunkBytes = config.snapshotChunkBytes ?? raftDefaults.snapshotChunkBytes;
    this.snapshotChunksInflightMax = config.snapshotChunksInflightMax ?? raftDefaults.snapshotChunksInflightMax;
    this.faults = config.unsafeTestFaults ?? {};

    const state: DurableState = durable ?? { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot: null, entries: [], applied: 0 };
    const snap = state.snapshot;
    const snapIndex = snap?.meta.index ?? 0;
    let entries = state.entries;
    let offset = snapIndex;
    let offsetTerm = snap?.meta.term ?? 0;
    if (entries.length > 0 && entries[0]!.index <= snapIndex) {
      // The driver keeps a trailing window before the snapshot: the first kept entry is the new
      // compaction point, since it carries the term the log needs there.
      offset = entries[0]!.index;
      offsetTerm = entries[0]!.term;
      const atSnap = entries[snapIndex - offset];
      assert(atSnap === undefined || atSnap.term === snap!.meta.term, 'log and snapshot agree on the snapshot term');
      entries = entries.slice(1);
    }
    this.log = new RaftLog(offset, offsetTerm, entries);
    assert(state.hardState.commit <= this.log.lastIndex(), 'commit is within the durable log');
    assert(state.applied >= snapIndex, 'the state machine holds at least the snapshot');
    assert(state.applied <= state.hardState.commit, 'nothing is applied beyond the commit index');
    this.log.committed = state.hardState.commit;
    this.term = state.hardState.term;
    this.vote = state.hardState.vote;
    this.snapshot = snap;
    this.applied = state.applied;
    this.applying = state.applied;
    this.membership = new Membership(snap?.meta.conf ?? EMPTY_CONF);
    for (let i = snapIndex + 1; i <= state.applied; i++) {
      const e = this.log.entry(i);
      assert(e !== undefined, 'applied entries after the snapshot are in the log');
      if (e.kind === 'conf') {
        this.membership.apply(decodeConfChange(e.data));
        this.confHistory.push({ index: i, conf: this.membership.state() });
      }
    }
    this.prevHardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs

  /** Advance logical time by one tick. */
  tick(): void {
    this.ticks++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Start an election now (as if the election timeout had passed). */
  campaign(): void {
    if (this.role === 'leader' || !this.promotable()) return;
    this.startCampaign(this.preVote ? 'pre' : 'election', false);
  }

  /** Append `data` to the leader's log. Throws RaftError when this node cannot accept it. */
  propose(data: Uint8Array): { index: number; term: number } {
    this.checkCanPropose();
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, kind: 'normal', data };
    const bytes = entryBytes(entry);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.uncommittedBytesMax) {
      throw new RaftError('PROPOSAL_BACKPRESSURE', 'too many uncommitted bytes; retry after commits');
    }
    this.appendOwn(entry);
    return { index: entry.index, term: entry.term };
  }

  /** Propose one membership change; only one may be pending (proposed but not applied) at a time. */
  proposeConfChange(change: ConfChange): { index: number; term: number } {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.applied) {
      throw new RaftError('CONF_CHANGE_PENDING', `a membership change at index ${this.pendingConfIndex} is not applied yet`);
    }
    const reason = this.membership.rejectReason(change);
    if (reason !== null) throw new RaftError('INVALID_CONF_CHANGE', reason);
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, kind: 'conf', data: encodeConfChange(change) };
    this.appendOwn(entry);
    this.pendingConfIndex = entry.index;
    return { index: entry.index, term: entry.term };
  }

  /**
   * Ask for a linearizable read point. The answer arrives as a ReadState with `ctx` in a later
   * Ready: once the state machine has applied `index`, a read reflects every write committed
   * before this call. Concurrent calls share one heartbeat round.
   */
  readIndex(ctx: number): void {
    if (this.role === 'leader') {
      this.handleReadRequest(this.id, ctx);
    } else if (this.leader !== NONE && this.role === 'follower') {
      this.send({ type: 'readIndex', to: this.leader, from: this.id, term: this.term, ctx });
    } else {
      this.readStates.push({ ctx, ok: false, index: 0 });
    }
  }

  /** Hand leadership to `to` (a voter): catch it up, then tell it to campaign at once. */
  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader') throw new RaftError('NOT_LEADER', 'only the leader transfers leadership');
    if (to === this.id) return;
    if (!this.membership.voters.has(to)) throw new RaftError('INVALID_CONF_CHANGE', `node ${to} is not a voter`);
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(pr, true);
  }

  /**
   * The transport has a new connection to `peer`: what was in flight to it may be lost with the
   * old one (a restarted or healed follower). A leader probes it now instead of at its next
   * heartbeat, and resumes a snapshot transfer from the last acknowledged chunk. Only flow control
   * changes, so a spurious call costs one message.
   */
  peerReconnected(peer: NodeId): void {
    if (this.role !== 'leader' || peer === this.id) return;
    const pr = this.progress.get(peer);
    if (pr === undefined) return;
    if (pr.state === 'snapshot') {
      this.resendSnapshot(pr);
      return;
    }
    if (pr.state === 'replicate') pr.becomeProbe();
    else pr.probeSent = false;
    this.sendAppend(pr, true);
  }

  /**
   * The transport lost its connection to `peer`. A follower that loses its leader's connection (the
   * leader's process died, or its socket was reset) no longer honours the leader's lease and stands
   * within one or two ticks instead of a whole election timeout, unless it hears from the leader
   * again first. Only timing changes: pre-vote still asks a majority, and a majority that still
   * hears the leader refuses, so a spurious call costs one pre-vote round.
   */
  peerDisconnected(peer: NodeId): void {
    if (this.role !== 'follower' || peer !== this.leader || !this.promotable()) return;
    this.electionElapsed = Math.max(this.electionElapsed, this.electionTicks);
    this.randomizedElectionTicks = this.electionElapsed + 1 + this.prng.nextInt(2);
  }

  /** The state machine has a snapshot at `index` (≤ applied); followers behind the log get it. */
  setSnapshot(index: number, data: SnapshotBytes): void {
    assert(index <= this.applied, 'a snapshot covers only applied entries');
    assert(data.length > 0, 'snapshot data is not empty');
    if (this.snapshot !== null && index <= this.snapshot.meta.index) return;
    const term = this.log.term(index);
    assert(term !== undefined, 'the snapshot index is in the log');
    this.snapshot = { meta: { index, term, conf: this.confAt(index) }, data };
    this.confHistory = this.confHistory.filter((c) => c.index > index);
  }

  /**
   * The same snapshot's bytes from elsewhere: the driver, once it has written the image to a
   * file, hands in a reader of the file so that the bytes need not stay in memory. Same index,
   * same length (a transfer under way goes on from its offset). False, and nothing changes, if
   * this node's snapshot is no longer the one at `index`.
   */
  replaceSnapshotBytes(index: number, data: SnapshotBytes): boolean {
    if (this.snapshot === null || this.snapshot.meta.index !== index) return false;
    assert(data.length === this.snapshot.data.length, 'replacement snapshot bytes have the same length');
    this.snapshot = { meta: this.snapshot.meta, data };
    return true;
  }

  /** Forget log entries through `index` (the driver keeps its own trailing window). */
  compactLog(index: number): void {
    assert(this.snapshot !== null && index <= this.snapshot.meta.index, 'compaction stops at the snapshot');
    this.log.compactTo(index);
  }

  /**
   * Takes one message from a peer. Returns null when the message was taken — which includes one
   * that is merely late (an old term, an answer already had) — or why it was dropped unread: a
   * message no correct peer sends (see `malformed` and `contradiction`). A dropped message changes
   * nothing here; the driver logs the reason.
   */
  step(m: Message): string | null {
    const wrong = malformed(m) ?? this.contradiction(m);
    if (wrong !== null) return wrong;
    this.stepChecked(m);
    return null;
  }

  /**
   * Why a well-formed `m` contradicts what this node knows, or null. Only what no correct peer can
   * send, whatever the delays and reorderings on the way: a late message is not a contradiction.
   */
  private contradiction(m: Message): string | null {
    if (m.to !== this.id) return `addressed to node ${m.to}`;
    if (m.from === this.id) return 'claims to come from this node';
    const current = m.term === this.term;
    const leading = current && this.role === 'leader';
    switch (m.type) {
      case 'voteResp':
        // A vote is granted at the candidate's term, and a candidate votes for itself (durably)
        // before it asks: a grant for a term this node did not stand in was never asked for.
        if (m.reject) return null;
        if (m.term > this.term || (current && this.vote !== this.id)) return `a vote for term ${m.term}, in which this node did not stand`;
        return null;
      case 'preVoteResp':
        // Pre-votes are asked for the term after the candidate's own.
        return !m.reject && m.term > this.term + 1 ? `a pre-vote for term ${m.term}, which this node did not ask for` : null;
      case 'heartbeat':
        // The leader sends min(match, commit): never beyond what this node holds.
        if (m.term >= this.term && m.commit > this.log.lastIndex()) return `commit ${m.commit} is beyond this node's last index ${this.log.lastIndex()}`;
        return null;
      case 'appResp':
      case 'heartbeatResp':
      case 'snapResp':
        // (One from a node without progress is ignored: a member removed meanwhile answers late.)
        if (!leading) return null;
        if (m.type === 'appResp' && !m.reject && m.index > this.log.lastIndex()) return `acknowledges index ${m.index}, beyond the leader's last index ${this.log.lastIndex()}`;
        if (m.type === 'heartbeatResp' && m.readRound > this.readRound) return `echoes read round ${m.readRound}, beyond the leader's ${this.readRound}`;
        if (m.type === 'snapResp' && this.snapshot !== null && m.snapshotIndex === this.snapshot.meta.index && m.offset > this.snapshot.data.length) {
          return `acknowledges offset ${m.offset}, beyond the snapshot's ${this.snapshot.data.length} bytes`;
        }
        return null;
      case 'snap': {
        const inc = this.incomingSnapshot;
        if (m.term >= this.term && inc !== null && inc.from === m.from && inc.meta.index === m.meta.index && inc.meta.term === m.meta.term && inc.totalBytes !== m.totalBytes) {
          return `a chunk of a ${m.totalBytes}-byte snapshot, which is ${inc.totalBytes} bytes`;
        }
        return null;
      }
      case 'timeoutNow':
        return current && this.leader !== NONE && m.from !== this.leader ? `a transfer request from node ${m.from}, which does not lead term ${this.term}` : null;
      case 'readIndexResp':
        return current && !m.reject && this.leader !== NONE && m.from !== this.leader ? `a read point from node ${m.from}, which does not lead term ${this.term}` : null;
      default:
        return null;
    }
  }

  private stepChecked(m: Message): void {
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const inLease = this.checkQuorum && this.leader !== NONE && this.electionElapsed < this.electionTicks;
        // A leader lease: while we hear from a leader, a disruptive candidate is ignored.
        if (inLease && !m.transfer) return;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Pre-votes never change terms: that is their whole point.
      } else {
        const leader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' ? m.from : NONE;
        this.becomeFollower(m.term, leader);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // A stale leader that cannot hear higher terms would never step down; tell it.
        this.send({ type: 'appResp', to: m.from, from: this.id, term: this.term, index: 0, reject: false, rejectHint: 0, hintTerm: 0 });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, from: this.id, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  hasReady(): boolean {
    if (this.readyInFlight !== null) return false;
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.needAppendBroadcast ||
      this.needReadBroadcast ||
      this.completedSnapshot !== null ||
      this.log.stableIndex < this.log.lastIndex() ||
      this.log.committed > this.applying ||
      this.hardStateChanged()
    );
  }

  ready(): Ready {
    assert(this.readyInFlight === null, 'advance() the previous Ready before asking for another');
    let snapshot: ReceivedSnapshot | null = null;
    if (this.completedSnapshot !== null) {
      // Only a follower installs; a node that has since campaigned drops the transfer.
      if (this.role === 'follower') snapshot = this.restoreSnapshot(this.completedSnapshot);
      this.completedSnapshot = null;
    }
    this.flushBroadcasts();
    const entries = this.log.unstable();
    const hs: HardState = { term: this.term, vote: this.faults.forgetVote ? NONE : this.vote, commit: this.log.committed };
    const hsChanged = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote || hs.commit !== this.prevHardState.commit;
    const mustSync = entries.length > 0 || snapshot !== null || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
    const committedEntries = this.log.committed > this.applying ? this.log.slice(this.applying + 1, this.log.committed) : [];
    // Only a leader's replication traffic, and only when nothing here changes the term or vote
    // (a leader elected in this very Ready has not yet made its term durable).
    const early: Message[] = [];
    let late = this.msgs;
    if (hs.term === this.prevHardState.term && hs.vote === this.prevHardState.vote && snapshot === null) {
      late = [];
      for (const m of this.msgs) (isReplicationMessage(m) ? early : late).push(m);
    }
    const ready: Ready = {
      hardState: hsChanged ? hs : null,
      entries,
      snapshot,
      earlyMessages: early,
      messages: late,
      committedEntries,
      readStates: this.readStates,
      mustSync,
    };
    this.msgs = [];
    this.readStates = [];
    this.prevHardState = hs;
    if (committedEntries.length > 0) this.applying = committedEntries[committedEntries.length - 1]!.index;
    this.readyInFlight = ready;
    return ready;
  }

  /** The driver has persisted, sent and applied `ready`. */
  advance(ready: Ready): void {
    assert(this.readyInFlight === ready, 'advance() takes the Ready last returned');
    this.readyInFlight = null;
    if (ready.snapshot !== null) this.applied = Math.max(this.applied, ready.snapshot.meta.index);
    const last = ready.entries[ready.entries.length - 1];
    // Entries may have been replaced while this Ready was being persisted; only what is still
    // in the log under the same term became durable.
    if (last !== undefined && this.log.matchTerm(last.index, last.term)) {
      this.log.stableIndex = Math.max(this.log.stableIndex, last.index);
    }
    for (const e of ready.committedEntries) {
      if (e.index <= this.applied) continue;
      this.applied = e.index;
      if (e.kind === 'conf') this.applyConfChange(decodeConfChange(e.data), e.index);
    }
    if (this.role === 'leader') {
      const self = this.progress.get(this.id);
      if (self !== undefined && self.maybeUpdate(this.log.stableIndex) && this.maybeCommit()) this.needAppendBroadcast = true;
    }
  }

  status(): Status {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      stableIndex: this.log.stableIndex,
      snapshotIndex: this.snapshot?.meta.index ?? 0,
      conf: this.membership.state(),
      leadTransferee: this.leadTransferee,
      uncommittedBytes: this.uncommittedBytes,
      progress: this.role === 'leader' ? [...this.progress.values()].map((p) => p.status()) : [],
    };
  }

  /** The hot fields of {@link status}, without allocating membership and progress lists. */
  summary(): { term: number; role: Role; leader: NodeId; commit: number; applied: number; lastIndex: number; leadTransferee: NodeId; uncommittedBytes: number } {
    return {
      term: this.term,
      role: this.role,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.applied,
      lastIndex: this.log.lastIndex(),
      leadTransferee: this.leadTransferee,
      uncommittedBytes: this.uncommittedBytes,
    };
  }

  /**
   * Ticks since this node last heard from its leader; on the leader itself, since it last heard
   * from a majority (it steps down only when check-quorum's window ends, up to twice as late);
   * undefined when it has heard no leader in its current term. A pre-candidate still counts from
   * the leader it doubts: its pre-vote may be refused by a majority that hears it. What a member may
   * vouch for on the leader's behalf — that a session it hears is alive — goes stale with it.
   */
  ticksSinceLeaderContact(): number | undefined {
    if (this.role === 'leader') {
      // A leader's contact is its quorum's: the age of the newest word from the member that,
      // counting itself, completes a majority (a leader cut off from its peers ages like a follower).
      const ages = [...this.membership.voters].map((id) => (id === this.id ? 0 : this.ticks - (this.progress.get(id)?.heardAtTick ?? 0))).sort((a, b) => a - b);
      return ages[this.membership.quorum() - 1] ?? 0;
    }
    return this.leaderHeardAtTick === undefined ? undefined : this.ticks - this.leaderHeardAtTick;
  }

  /** The term of the entry at `index`, if this node still holds it (for checkers and drivers). */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** Entries in [lo, hi] still held in memory (for checkers and drivers). */
  entries(lo: number, hi: number): readonly Entry[] {
    return this.log.slice(Math.max(lo, this.log.firstIndex()), hi);
  }

  // ---------------------------------------------------------------------------------------------
  // Roles

  private promotable(): boolean {
    return this.membership.voters.has(this.id);
  }

  private resetRoleState(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
      this.leaderHeardAtTick = undefined;
    }
    // A leader stepping down heard no other leader in its term.
    if (this.role === 'leader') this.leaderHeardAtTick = undefined;
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    // [n, 1.5n): narrower than the usual [n, 2n), since pre-candidates break ties by id (decision 31).
    this.randomizedElectionTicks = this.electionTicks + this.prng.nextInt(Math.ceil(this.electionTicks / 2));
    this.leadTransferee = NONE;
    this.votes.clear();
    this.progress.clear();
    this.needAppendBroadcast = false;
    this.needReadBroadcast = false;
    this.failPendingReads();
  }

  private becomeFollower(term: number, leader: NodeId): void {
    this.resetRoleState(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.resetRoleState(this.term);
    this.role = 'leader';
    this.leader = this.id;
    const next = this.log.lastIndex() + 1;
    for (const id of [...this.membership.voters, ...this.membership.learners]) {
      const pr = new Progress(id, next, this.membership.learners.has(id));
      this.heardFrom(pr);
      this.progress.set(id, pr);
    }
    const self = this.progress.get(this.id);
    assert(self !== undefined, 'a leader is a member');
    self.maybeUpdate(this.log.stableIndex);
    self.becomeReplicate();
    // Entries of earlier terms commit only with one of ours (§5.4.2); the no-op makes that quick.
    this.uncommittedBytes = 0;
    this.appendOwn({ term: this.term, index: next, kind: 'noop', data: new Uint8Array(0) });
    // Any membership change still in the log must be applied before another is proposed.
    this.pendingConfIndex = this.log.lastIndex();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.startCampaign(this.preVote ? 'pre' : 'election', false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
      this.retrySnapshots();
    }
  }

  private heardFrom(pr: Progress): void {
    pr.recentActive = true;
    pr.heardAtTick = this.ticks;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.membership.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive === true) active++;
    }
    for (const pr of this.progress.values()) pr.recentActive = pr.id === this.id;
    return active >= this.membership.quorum();
  }

  private startCampaign(phase: 'pre' | 'election', transfer: boolean): void {
    let voteTerm: number;
    if (phase === 'pre') {
      this.resetRoleState(this.term);
      this.role = 'preCandidate';
      voteTerm = this.term + 1;
    } else {
      this.resetRoleState(this.term + 1);
      this.role = 'candidate';
      this.vote = this.id;
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (this.tallyVotes() === 'won') {
      if (phase === 'pre') this.startCampaign('election', transfer);
      else this.becomeLeader();
      return;
    }
    const type = phase === 'pre' ? 'preVote' : 'vote';
    for (const id of this.electorate()) {
      if (id === this.id) continue;
      this.send({ type, to: id, from: this.id, term: voteTerm, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), transfer });
    }
  }

  /** Who is asked for votes and counted: the voters (the learners too only in a broken variant). */
  private electorate(): Iterable<NodeId> {
    return this.faults.learnersVote === true ? [...this.membership.voters, ...this.membership.learners] : this.membership.voters;
  }

  private tallyVotes(): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const id of this.electorate()) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.membership.quorum();
    if (granted >= q) return 'won';
    if (rejected > this.membership.voters.size - q) return 'lost';
    return 'pending';
  }

  // ---------------------------------------------------------------------------------------------
  // Message handling by role

  private handleVoteRequest(m: VoteRequest): void {
    if (m.type === 'preVote' && this.yieldsNotTo(m)) {
      this.send({ type: 'preVoteResp', to: m.from, from: this.id, term: this.term, reject: true });
      this.askStandingPeerAgain(m);
      return;
    }
    const canVote = this.vote === m.from || (this.vote === NONE && this.leader === NONE) || (m.type === 'preVote' && m.term > this.term) || (m.transfer && this.faults.transferVoteTwice === true);
    const upToDate = this.faults.voteWithoutLogCheck === true || (m.transfer && this.faults.transferVoteWithoutLogCheck === true) || this.log.isUpToDate(m.lastIndex, m.lastTerm);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && upToDate) {
      this.send({ type: respType, to: m.from, from: this.id, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, from: this.id, term: this.term, reject: true });
      if (m.type === 'preVote') this.askStandingPeerAgain(m);
    }
  }

  /**
   * We stand and refuse the pre-vote of a peer that stands in the same round (its log is behind
   * ours, or the tie-break says so). A member that stands no longer hears a leader, so it grants
   * now what it may have ignored while it still held the leader's lease: ask it again rather than
   * wait a whole election timeout for our next round.
   */
  private askStandingPeerAgain(m: VoteRequest): void {
    if (this.role !== 'preCandidate' || m.transfer || m.term !== this.term + 1 || this.votes.get(m.from) === true) return;
    this.send({ type: 'preVote', to: m.from, from: this.id, term: this.term + 1, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), transfer: false });
  }

  /**
   * Two members whose election timers fire together would grant each other's pre-votes, both
   * stand, each vote for itself and split the vote — with two of three voters left, every time —
   * costing another whole election timeout. Between two pre-candidates of the same round, the
   * lower id wins when its log is at least as up to date: it refuses the other's pre-vote, which
   * grants its own. Safety is untouched (a pre-vote changes no term and no vote); liveness too: the
   * lower id refuses only while it is itself standing and can win the other's vote, and it asks
   * the other for that vote again as it refuses.
   */
  private yieldsNotTo(m: VoteRequest): boolean {
    if (this.role !== 'preCandidate' || m.transfer || m.term !== this.term + 1 || this.id > m.from) return false;
    const lastTerm = this.log.lastTerm();
    return lastTerm > m.lastTerm || (lastTerm === m.lastTerm && this.log.lastIndex() >= m.lastIndex);
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'voteResp':
      case 'preVoteResp':
        this.handleVoteResponse(m);
        return;
      default:
        this.stepReadForwarding(m);
        return;
    }
  }

  /** A non-leader refuses forwarded reads and delivers the leader's answers to its own. */
  private stepReadForwarding(m: Message): void {
    if (m.type === 'readIndex') {
      this.send({ type: 'readIndexResp', to: m.from, from: this.id, term: this.term, ctx: m.ctx, index: 0, reject: true });
    } else if (m.type === 'readIndexResp') {
      this.readStates.push({ ctx: m.ctx, ok: !m.reject, index: m.index });
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    if (m.type !== expected) return;
    this.votes.set(m.from, !m.reject);
    const result = this.tallyVotes();
    if (result === 'won') {
      if (this.role === 'preCandidate') this.startCampaign('election', false);
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, NONE);
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.leaderHeardAtTick = this.ticks;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.leaderHeardAtTick = this.ticks;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.leaderHeardAtTick = this.ticks;
        this.handleSnapshotChunk(m);
        return;
      case 'timeoutNow':
        if (this.promotable()) this.startCampaign('election', true);
        return;
      default:
        this.stepReadForwarding(m);
        return;
    }
  }

  private handleAppend(m: AppendRequest): void {
    const reply = (index: number, reject: boolean, rejectHint = 0, hintTerm = 0): void =>
      this.send({ type: 'appResp', to: m.from, from: this.id, term: this.term, index, reject, rejectHint, hintTerm });
    if (m.prevIndex < this.log.committed) {
      reply(this.log.committed, false);
      return;
    }
    if (this.log.matchTerm(m.prevIndex, m.prevTerm) || (this.faults.appendWithoutLogCheck === true && m.prevIndex <= this.log.lastIndex())) {
      const last = this.log.appendFromLeader(m.prevIndex, m.entries);
      this.commitTo(Math.min(m.commit, last));
      reply(last, false);
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    reply(m.prevIndex, true, hint, this.log.term(hint) ?? 0);
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    // The leader sends min(match, commit), so this never commits entries we do not hold.
    this.commitTo(m.commit);
    this.send({ type: 'heartbeatResp', to: m.from, from: this.id, term: this.term, readRound: m.readRound });
  }

  private handleSnapshotChunk(m: SnapshotChunk): void {
    const ack = (offset: number): void =>
      this.send({ type: 'snapResp', to: m.from, from: this.id, term: this.term, snapshotIndex: m.meta.index, offset });
    if (m.meta.index <= this.log.committed && this.faults.installStaleSnapshot !== true) {
      this.incomingSnapshot = null;
      ack(m.totalBytes);
      this.send({ type: 'appResp', to: m.from, from: this.id, term: this.term, index: this.log.committed, reject: false, rejectHint: 0, hintTerm: 0 });
      return;
    }
    let inc = this.incomingSnapshot;
    if (inc === null || inc.from !== m.from || inc.meta.index !== m.meta.index || inc.meta.term !== m.meta.term) {
      if (m.offset !== 0) {
        ack(0);
        return;
      }
      inc = { from: m.from, meta: m.meta, totalBytes: m.totalBytes, parts: [], received: 0 };
      this.incomingSnapshot = inc;
    }
    if (m.offset === inc.received && m.chunk.length > 0) {
      inc.parts.push(m.chunk);
      inc.received += m.chunk.length;
    }
    ack(inc.received);
    if (inc.received === inc.totalBytes) {
      const data = new Uint8Array(inc.totalBytes);
      let at = 0;
      for (const p of inc.parts) {
        data.set(p, at);
        at += p.length;
      }
      // Restored at the next ready(), when no earlier Ready is being persisted.
      this.completedSnapshot = { meta: inc.meta, data };
      this.incomingSnapshot = null;
    }
  }

  /** Returns the snapshot the driver must persist and install, or null if it was not needed. */
  private restoreSnapshot(snap: ReceivedSnapshot): ReceivedSnapshot | null {
    const { index, term } = snap.meta;
    const reply = (at: number): void => {
      if (this.leader !== NONE) {
        this.send({ type: 'appResp', to: this.leader, from: this.id, term: this.term, index: at, reject: false, rejectHint: 0, hintTerm: 0 });
      }
    };
    if (index <= this.log.committed && this.faults.installStaleSnapshot !== true) {
      reply(this.log.committed);
      return null;
    }
    if (this.log.matchTerm(index, term) || (this.faults.snapshotWithoutTermCheck === true && this.log.term(index) !== undefined)) {
      // We hold the entries already; the snapshot only tells us they are committed.
      this.commitTo(index);
      reply(index);
      return null;
    }
    this.log.restore(index, term);
    this.membership = new Membership(snap.meta.conf);
    this.confHistory = [];
    this.snapshot = snap;
    this.applying = index;
    reply(index);
    return snap;
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResp': {
        const pr = this.progress.get(m.from);
        if (pr === undefined) return;
        this.heardFrom(pr);
        pr.probeSent = false;
        if (m.readRound > pr.readRound) pr.readRound = m.readRound;
        // A full window that has not moved for an election timeout lost an append somewhere:
        // start again from the match. (Freeing one slot per heartbeat, as etcd-io/raft does, made
        // a slow follower cost the leader one more full append per heartbeat, encoded and queued
        // behind the ones the follower had not read yet.)
        if (pr.state === 'replicate' && pr.isPaused(this.inflightMsgsMax, this.inflightBytesMax) && this.ticks - pr.ackedAtTick >= this.electionTicks) pr.becomeProbe();
        // Even with nothing new to send: an empty append makes a follower whose acknowledgements
        // were lost say where it really is.
        if (pr.match < this.log.lastIndex()) this.sendAppend(pr, true);
        this.releaseConfirmedReads();
        return;
      }
      case 'snapResp':
        this.handleSnapshotResponse(m);
        return;
      case 'readIndex':
        this.handleReadRequest(m.from, m.ctx);
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    this.heardFrom(pr);
    if (m.reject) {
      const hint = m.hintTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.hintTerm) : m.rejectHint;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(pr, true);
      }
      return;
    }
    if (pr.maybeUpdate(m.index)) {
      pr.ackedAtTick = this.ticks;
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match >= pr.snapshotIndex) pr.becomeProbe();
      if (this.maybeCommit()) this.needAppendBroadcast = true;
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    } else if (pr.state === 'snapshot' && pr.match >= pr.snapshotIndex) {
      pr.becomeProbe();
    }
    while (this.sendAppend(pr, false)) {
      // Keep the pipeline full up to the in-flight bounds.
    }
  }

  private handleSnapshotResponse(m: SnapshotChunkResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    this.heardFrom(pr);
    if (pr.state !== 'snapshot' || m.snapshotIndex !== pr.snapshotIndex) return;
    if (m.offset > pr.snapshotAcked) {
      pr.snapshotAcked = m.offset;
      pr.snapshotStalledTicks = 0;
    } else if (m.offset < pr.snapshotAcked) {
      // The follower lost what it had (it restarted): start over from where it is.
      pr.snapshotAcked = m.offset;
      pr.snapshotSent = m.offset;
    }
    this.sendSnapshotChunks(pr);
  }

  // ---------------------------------------------------------------------------------------------
  // Replication

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw new RaftError('NOT_LEADER', `node ${this.id} is not the leader (leader: ${this.leader})`);
    if (this.leadTransferee !== NONE) throw new RaftError('TRANSFER_IN_PROGRESS', `leadership is moving to ${this.leadTransferee}`);
  }

  private appendOwn(entry: Entry): void {
    this.log.append(entry);
    this.uncommittedBytes += entryBytes(entry);
    this.needAppendBroadcast = true;
    // A single voter commits by itself once the entry is durable (see advance()).
    if (this.faults.commitBeforeQuorum === true) this.commitTo(entry.index);
  }

  private flushBroadcasts(): void {
    if (this.role !== 'leader') return;
    if (this.needReadBroadcast) {
      this.needReadBroadcast = false;
      this.readRound++;
      this.bcastHeartbeat();
    }
    if (this.needAppendBroadcast) {
      this.needAppendBroadcast = false;
      for (const pr of this.progress.values()) if (pr.id !== this.id) this.sendAppend(pr, true);
    }
  }

  /** Send what `pr` is missing, if its flow control allows. Returns whether anything was sent. */
  private sendAppend(pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused(this.inflightMsgsMax, this.inflightBytesMax)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      assert(this.snapshot !== null, 'entries are compacted only behind a snapshot');
      pr.becomeSnapshot(this.snapshot.meta.index);
      this.sendSnapshotChunks(pr);
      return true;
    }
    const entries = pr.next <= this.log.lastIndex() ? this.log.slice(pr.next, this.log.lastIndex(), this.appendBytesMax) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'app', to: pr.id, from: this.id, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
    if (entries.length > 0) {
      let bytes = 0;
      for (const e of entries) bytes += entryBytes(e);
      pr.sentEntries(entries[entries.length - 1]!.index, bytes);
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshotChunks(pr: Progress): void {
    const snap = this.snapshot;
    assert(snap !== null, 'a snapshot transfer needs a snapshot');
    if (pr.snapshotIndex !== snap.meta.index) pr.becomeSnapshot(snap.meta.index);
    const total = snap.data.length;
    const windowBytes = this.snapshotChunkBytes * this.snapshotChunksInflightMax;
    while (pr.snapshotSent < total && pr.snapshotSent - pr.snapshotAcked < windowBytes) {
      const end = Math.min(total, pr.snapshotSent + this.snapshotChunkBytes);
      this.send({ type: 'snap', to: pr.id, from: this.id, term: this.term, meta: snap.meta, offset: pr.snapshotSent, totalBytes: total, chunk: snap.data.subarray(pr.snapshotSent, end) });
      pr.snapshotSent = end;
    }
  }

  /** Resend snapshot chunks that were lost: nothing acknowledged for an election timeout. */
  private retrySnapshots(): void {
    for (const pr of this.progress.values()) {
      if (pr.state !== 'snapshot') continue;
      pr.snapshotStalledTicks += this.heartbeatTicks;
      if (pr.snapshotStalledTicks < this.electionTicks) continue;
      this.resendSnapshot(pr);
    }
  }

  /** Send the unacknowledged part of a snapshot transfer again. */
  private resendSnapshot(pr: Progress): void {
    pr.snapshotStalledTicks = 0;
    const total = this.snapshot?.data.length ?? 0;
    // Fully acknowledged but not yet confirmed installed: resend the last chunk to ask again.
    pr.snapshotSent = pr.snapshotAcked >= total ? Math.max(0, total - this.snapshotChunkBytes) : pr.snapshotAcked;
    pr.snapshotAcked = Math.min(pr.snapshotAcked, pr.snapshotSent);
    this.sendSnapshotChunks(pr);
  }

  private bcastHeartbeat(): void {
    for (const pr of this.progress.values()) {
      if (pr.id === this.id) continue;
      this.send({ type: 'heartbeat', to: pr.id, from: this.id, term: this.term, commit: Math.min(pr.match, this.log.committed), readRound: this.readRound });
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeoutNow', to, from: this.id, term: this.term });
  }

  /** Advance the commit index to what a quorum of voters holds, if it is of our term. */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.membership.voters) matches.push(this.progress.get(id)?.match ?? 0);
    if (this.faults.learnersInQuorum === true) for (const id of this.membership.learners) matches.push(this.progress.get(id)?.match ?? 0);
    if (matches.length === 0) return false;
    matches.sort((a, b) => b - a);
    const index = matches[this.membership.quorum() - 1]!;
    if (index <= this.log.committed) return false;
    if (this.log.term(index) !== this.term && this.faults.commitPreviousTermByCount !== true) return false;
    this.commitTo(index);
    return true;
  }

  private commitTo(index: number): void {
    if (index <= this.log.committed) return;
    assert(index <= this.log.lastIndex(), 'commit stays within the log');
    const from = this.log.committed;
    this.log.committed = index;
    if (this.role !== 'leader') return;
    for (let i = from + 1; i <= index; i++) {
      const e = this.log.entry(i);
      if (e !== undefined && e.term === this.term) this.uncommittedBytes -= entryBytes(e);
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
    if (this.readsAwaitingCommit.length > 0 && this.log.term(this.log.committed) === this.term) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const r of waiting) this.handleReadRequest(r.from, r.ctx);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  private handleReadRequest(from: NodeId, ctx: number): void {
    if (this.log.term(this.log.committed) !== this.term) {
      // A new leader does not know the latest commit index until an entry of its term commits.
      this.readsAwaitingCommit.push({ from, ctx });
      return;
    }
    const index = this.log.committed;
    const soleVoter = this.membership.voters.size === 1 && this.membership.voters.has(this.id);
    if (soleVoter || this.faults.readWithoutHeartbeat === true) {
      this.answerRead(from, ctx, index, true);
      return;
    }
    this.pendingReads.push({ from, ctx, index, round: this.readRound + 1 });
    this.needReadBroadcast = true;
  }

  private releaseConfirmedReads(): void {
    if (this.pendingReads.length === 0) return;
    const rounds: number[] = [];
    for (const id of this.membership.voters) rounds.push(id === this.id ? this.readRound : (this.progress.get(id)?.readRound ?? 0));
    rounds.sort((a, b) => b - a);
    const confirmed = rounds[this.membership.quorum() - 1] ?? 0;
    let n = 0;
    while (n < this.pendingReads.length && this.pendingReads[n]!.round <= confirmed) {
      const r = this.pendingReads[n]!;
      this.answerRead(r.from, r.ctx, r.index, true);
      n++;
    }
    if (n > 0) this.pendingReads.splice(0, n);
  }

  private answerRead(from: NodeId, ctx: number, index: number, ok: boolean): void {
    if (from === this.id) this.readStates.push({ ctx, ok, index });
    else this.send({ type: 'readIndexResp', to: from, from: this.id, term: this.term, ctx, index, reject: !ok });
  }

  private failPendingReads(): void {
    for (const r of this.pendingReads) this.answerRead(r.from, r.ctx, 0, false);
    for (const r of this.readsAwaitingCommit) this.answerRead(r.from, r.ctx, 0, false);
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
  }

  // ---------------------------------------------------------------------------------------------
  // Membership

  private applyConfChange(change: ConfChange, index: number): void {
    this.membership.apply(change);
    this.confHistory.push({ index, conf: this.membership.state() });
    if (this.role !== 'leader') return;
    if (!this.membership.isMember(this.id) || !this.membership.voters.has(this.id)) {
      // Removed (or never a voter): stop leading; the remaining voters elect among themselves.
      this.becomeFollower(this.term, NONE);
      return;
    }
    const next = this.log.lastIndex() + 1;
    for (const id of [...this.membership.voters, ...this.membership.learners]) {
      const pr = this.progress.get(id);
      if (pr === undefined) {
        const fresh = new Progress(id, next, this.membership.learners.has(id));
        this.heardFrom(fresh);
        this.progress.set(id, fresh);
        this.sendAppend(fresh, true);
      } else {
        pr.isLearner = this.membership.learners.has(id);
      }
    }
    for (const id of [...this.progress.keys()]) if (!this.membership.isMember(id)) this.progress.delete(id);
    if (this.leadTransferee !== NONE && !this.membership.voters.has(this.leadTransferee)) this.leadTransferee = NONE;
    if (this.maybeCommit()) this.needAppendBroadcast = true;
  }

  private confAt(index: number): ConfState {
    let conf: ConfState = this.snapshot?.meta.conf ?? EMPTY_CONF;
    for (const c of this.confHistory) if (c.index <= index) conf = c.conf;
    return conf;
  }

  private hardStateChanged(): boolean {
    const p = this.prevHardState;
    return p.term !== this.term || p.vote !== (this.faults.forgetVote ? NONE : this.vote) || p.commit !== this.log.committed;
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }
}

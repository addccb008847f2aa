import {
  createPrng,
  decodeConfChange,
  entryBytes,
  RaftError,
  RawNode,
  type ConfChange,
  type DurableState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Prng,
  type RaftConfig,
  type Ready,
  type ReceivedSnapshot,
  type UnsafeTestFaults,
} from '@vigil/raft';
import { Checker, entryHash, SimViolation } from './checker.js';
import { EventQueue } from './event-queue.js';
import { mix } from './hash.js';

export interface NetworkOptions {
  /** Delivery delay bounds in time units (a tick is `tickUnits`). */
  readonly delayMin: number;
  readonly delayMax: number;
  /** Probability that a message is dropped, duplicated, or held for up to `longDelayMax`. */
  readonly lossRate: number;
  readonly dupRate: number;
  readonly longDelayRate: number;
  readonly longDelayMax: number;
}

/**
 * Deliberately broken drivers: the simulated server around the core gets something wrong, to show
 * that the checker catches it (broken-variants.test.ts only). The core's own broken variants are
 * {@link UnsafeTestFaults}.
 */
export interface SimDriverFaults {
  /** Tell the client its write succeeded once the leader's own write of it is durable, before it is committed. */
  readonly ackBeforeCommit?: boolean;
  /**
   * Persist every Ready without syncing (LevelDB's `sync: false`) and carry on as if it were
   * synced: what it writes survives a crash but not a power loss, until the node next takes a
   * snapshot of its own, which still syncs (and so makes everything written before it durable).
   */
  readonly skipSync?: boolean;
}

export interface SimOptions {
  readonly seed: number;
  /** Founding voters, ids 1..voters. */
  readonly voters: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Time units per tick; each node's clock drifts by up to ±`tickDrift` of it. */
  readonly tickUnits: number;
  readonly tickDrift: number;
  readonly network: NetworkOptions;
  /** Time a synced write takes, in units. */
  readonly persistDelayMin: number;
  readonly persistDelayMax: number;
  /** Take a state-machine snapshot every this many applied entries, keeping this many log entries behind it. */
  readonly snapshotEveryEntries: number;
  readonly logTrailingEntries: number;
  readonly raft: Partial<Pick<RaftConfig, 'inflightMsgsMax' | 'inflightBytesMax' | 'appendBytesMax' | 'uncommittedBytesMax' | 'snapshotChunkBytes' | 'snapshotChunksInflightMax' | 'preVote' | 'checkQuorum'>>;
  readonly faults: UnsafeTestFaults;
  readonly driverFaults: SimDriverFaults;
  /** Keep a human-readable trace (for replay and the determinism test). */
  readonly trace: boolean;
}

export const simDefaults: Omit<SimOptions, 'seed'> = {
  voters: 3,
  electionTicks: 10,
  heartbeatTicks: 2,
  tickUnits: 100,
  tickDrift: 0.1,
  network: { delayMin: 2, delayMax: 20, lossRate: 0, dupRate: 0, longDelayRate: 0, longDelayMax: 0 },
  persistDelayMin: 1,
  persistDelayMax: 8,
  snapshotEveryEntries: 64,
  logTrailingEntries: 16,
  raft: { inflightMsgsMax: 8, inflightBytesMax: 64 * 1024, appendBytesMax: 4 * 1024, snapshotChunkBytes: 64, snapshotChunksInflightMax: 2 },
  faults: {},
  driverFaults: {},
  trace: false,
};

type SimEvent =
  | { readonly kind: 'tick'; readonly node: NodeId; readonly incarnation: number }
  | { readonly kind: 'deliver'; readonly msg: Message }
  | { readonly kind: 'persisted'; readonly node: NodeId; readonly incarnation: number; readonly ready: Ready }
  | { readonly kind: 'call'; readonly label: string; readonly fn: () => void };

/**
 * The state machine of the simulation: a rolling hash of everything applied. Part of the node's
 * written image, like the store's tree in the server's LevelDB (written without sync): it
 * survives a crash, and a power loss takes it back to where it was at the last sync.
 */
interface SimStateMachine {
  applied: number;
  hash: number;
}

/**
 * What a node's disk keeps through a power loss: its written image as it was at the last sync.
 * The entry arrays are the written image's own, shared rather than copied at every sync: the
 * image is their first `entryCount` elements, which the written image only appends after
 * (it copies them out first if it must truncate them, and compacts into new arrays).
 */
interface SyncedImage {
  readonly hardState: HardState;
  readonly snapshot: ReceivedSnapshot | null;
  entries: Entry[];
  prefixHashes: number[];
  readonly entryCount: number;
  readonly smApplied: number;
  readonly smHash: number;
}

/** A scenario's rule for one link: messages of `types` are dropped, or held back until released. */
interface LinkRule {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly types: ReadonlySet<Message['type']>;
  /** Held messages in the order sent; null when the rule drops them. */
  readonly held: Message[] | null;
}

interface PendingRead {
  readonly ackedBefore: number;
}

const PROPOSAL_HEADER_BYTES = 4;

/**
 * One simulated process: a RawNode plus its disk, which outlives it. The disk is modelled as the
 * server's one LevelDB holding the Raft log, hard state, snapshot metadata and state machine:
 * an image of everything *written* (in the OS page cache: it survives a crash of the process)
 * and the image *synced* (it survives a power loss). LevelDB's write-ahead log is sequential, so
 * a synced write makes everything written before it durable: each sync copies the whole written
 * image into the synced one.
 */
export class SimNode {
  raw: RawNode | null = null;
  incarnation = 0;
  readonly tickUnits: number;
  readyInFlight = false;
  /** The written image: a Ready's part once its write completes, compaction when it happens. */
  hardState: HardState;
  snapshot: ReceivedSnapshot | null;
  entries: Entry[];
  /** Hash of the written log prefix ending at each entry in `entries`. */
  private prefixHashes: number[];
  readonly sm: SimStateMachine = { applied: 0, hash: 0 };
  private synced: SyncedImage;
  /** Proposals this incarnation made: index → proposal id. */
  proposals = new Map<number, { id: number; term: number }>();
  reads = new Map<number, PendingRead>();
  waitingReads: { index: number; ackedBefore: number }[] = [];
  /**
   * Highest values seen: written ones across crashes (a power loss takes them back to the synced
   * image's, which never go back), in-memory ones within one life.
   */
  durableTermMax = 0;
  durableCommitMax = 0;
  private lifeTermMax = 0;
  private lifeCommitMax = 0;
  private lifeAppliedMax = 0;
  private wasLeader = false;
  /** Removed from the cluster for good (an operator stopped it). */
  retired = false;
  /** Snapshots received from a leader and installed. */
  snapshotsInstalled = 0;

  constructor(readonly id: NodeId, durable: DurableState, tickUnits: number, checker: Checker) {
    this.hardState = durable.hardState;
    const snap = durable.snapshot;
    // The simulated disk holds a snapshot's bytes in memory.
    this.snapshot = snap === null ? null : { meta: snap.meta, data: snap.data.subarray(0, snap.data.length) };
    this.entries = [];
    this.prefixHashes = [];
    this.tickUnits = tickUnits;
    this.synced = this.image();
    if (durable.entries.length > 0) {
      // A founder's bootstrap entries: synced from the start, and checked like any other.
      this.persist({ hardState: null, entries: durable.entries, snapshot: null, earlyMessages: [], messages: [], committedEntries: [], readStates: [], mustSync: true }, checker);
      this.sync();
    }
  }

  get live(): boolean {
    return this.raw !== null;
  }

  durableState(): DurableState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries, applied: this.sm.applied };
  }

  /** What a power loss would leave (what {@link durableState} becomes after one). */
  syncedState(): DurableState {
    const s = this.synced;
    return { hardState: s.hardState, snapshot: s.snapshot, entries: s.entries.slice(0, s.entryCount), applied: s.smApplied };
  }

  /** A synced write completed: everything written so far is durable. */
  sync(): void {
    this.synced = this.image();
  }

  private image(): SyncedImage {
    const { hardState, snapshot, entries, prefixHashes, sm } = this;
    return { hardState, snapshot, entries, prefixHashes, entryCount: entries.length, smApplied: sm.applied, smHash: sm.hash };
  }

  /** The power went out: the written image falls back to the synced one, state machine included. */
  loseUnsynced(): void {
    const s = this.synced;
    this.hardState = s.hardState;
    this.snapshot = s.snapshot;
    this.entries = s.entries.slice(0, s.entryCount);
    this.prefixHashes = s.prefixHashes.slice(0, s.entryCount);
    this.sm.applied = s.smApplied;
    this.sm.hash = s.smHash;
    // An unsynced commit index (commit alone is written without sync) and unsynced applies may
    // legitimately go back; what the checks compare against from now on is the synced image.
    this.durableTermMax = s.hardState.term;
    this.durableCommitMax = s.hardState.commit;
    this.lifeAppliedMax = s.smApplied;
  }

  /** Write a Ready's durable part and check Log Matching on every entry written. */
  persist(ready: Ready, checker: Checker): void {
    if (ready.snapshot !== null) {
      this.snapshot = ready.snapshot;
      this.entries = [];
      this.prefixHashes = [];
    }
    if (ready.entries.length > 0) {
      const first = ready.entries[0]!.index;
      const base = this.entries.length > 0 ? this.entries[0]!.index : first;
      const keep = Math.max(0, Math.min(this.entries.length, first - base));
      const s = this.synced;
      if (s.entries === this.entries && keep < s.entryCount) {
        // The synced image shares these arrays: give it its own before cutting them short.
        s.entries = s.entries.slice(0, s.entryCount);
        s.prefixHashes = s.prefixHashes.slice(0, s.entryCount);
      }
      this.entries.length = keep;
      this.prefixHashes.length = keep;
      let prev = keep > 0 ? this.prefixHashes[keep - 1]! : this.baseHash(first - 1, checker);
      for (const e of ready.entries) {
        prev = mix(prev, entryHash(e));
        checker.onPersisted(this.id, e.index, e.term, prev);
        this.entries.push(e);
        this.prefixHashes.push(prev);
      }
    }
    if (ready.hardState !== null) {
      const hs = ready.hardState;
      if (hs.term < this.durableTermMax) checker.fail('durable term never decreases', `node ${this.id}: ${hs.term} < ${this.durableTermMax}`);
      if (hs.commit < this.durableCommitMax) checker.fail('durable commit never decreases', `node ${this.id}: ${hs.commit} < ${this.durableCommitMax}`);
      this.durableTermMax = hs.term;
      this.durableCommitMax = hs.commit;
      this.hardState = hs;
    }
  }

  /** The prefix hash just before `index`, from the snapshot or the global record. */
  private baseHash(index: number, checker: Checker): number {
    if (index === 0) return 0;
    const e = this.entries.find((x) => x.index === index);
    const term = e?.term ?? (this.snapshot?.meta.index === index ? this.snapshot.meta.term : undefined);
    if (term === undefined) checker.fail('log continuity', `node ${this.id} persisted entries after ${index} without holding it`);
    const h = checker.prefixHashOf(index, term);
    if (h === undefined) checker.fail('log matching', `node ${this.id} holds ${index}@${term} that no node ever persisted`);
    return h;
  }

  /** Drop written entries through `index` (a trailing window behind the snapshot is kept), into new arrays. */
  compactDurable(index: number): void {
    let n = 0;
    while (n < this.entries.length && this.entries[n]!.index <= index) n++;
    if (n > 0) {
      this.entries = this.entries.slice(n);
      this.prefixHashes = this.prefixHashes.slice(n);
    }
  }

  /** Monotonicity within one life, and election bookkeeping; returns true on becoming leader. */
  observe(checker: Checker): boolean {
    const raw = this.raw!;
    const s = raw.summary();
    if (s.term < this.lifeTermMax) checker.fail('term never decreases', `node ${this.id}: ${s.term} < ${this.lifeTermMax}`);
    if (s.commit < this.lifeCommitMax) checker.fail('commit never decreases', `node ${this.id}: ${s.commit} < ${this.lifeCommitMax}`);
    if (this.sm.applied < this.lifeAppliedMax) checker.fail('applied never decreases', `node ${this.id}`);
    this.lifeTermMax = s.term;
    this.lifeCommitMax = s.commit;
    this.lifeAppliedMax = this.sm.applied;
    const isLeader = s.role === 'leader';
    let became = false;
    if (isLeader) {
      checker.onLeader(this.id, s.term);
      if (!this.wasLeader) {
        checker.onBecameLeader(this.id, s.term, (i) => raw.termAt(i), raw.status().firstIndex);
        became = true;
      }
    }
    this.wasLeader = isLeader;
    return became;
  }

  resetLife(): void {
    this.lifeTermMax = 0;
    this.lifeCommitMax = 0;
    this.wasLeader = false;
    this.proposals = new Map();
    this.reads = new Map();
    this.waitingReads = [];
    this.readyInFlight = false;
  }
}

export function encodeSmSnapshot(sm: SimStateMachine): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ applied: sm.applied, hash: sm.hash }));
}

function decodeSmSnapshot(data: Uint8Array): SimStateMachine {
  return JSON.parse(new TextDecoder().decode(data)) as SimStateMachine;
}

/**
 * A deterministic cluster of in-process Raft nodes on a virtual clock. Every source of
 * nondeterminism — delays, losses, timeouts, faults — is drawn from the seed, so a seed replays
 * the same run event for event. Safety invariants are checked after every event.
 */
export class SimCluster {
  readonly options: SimOptions;
  readonly checker: Checker = new Checker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly prng: Prng & { nextFloat(): number };
  private readonly queue = new EventQueue<SimEvent>();
  private readonly blocked = new Set<string>();
  private readonly linkRules: LinkRule[] = [];
  network: NetworkOptions;
  now = 0;
  events = 0;
  traceHash = 0x811c9dc5;
  readonly trace: string[] = [];
  private nextProposalId = 1;
  private nextReadCtx = 1;
  proposalsAcked = 0;
  /** Indexes of the proposals acknowledged to their clients (the workload's view; the checker keeps what they were). */
  readonly acknowledged = new Set<number>();
  /** Called when a node becomes leader (a schedule may strike then). */
  onLeaderElected: ((id: NodeId) => void) | null = null;
  /** Called when a node's granted vote leaves it, after the vote was persisted (a schedule may strike then). */
  onVoteGranted: ((voter: NodeId, term: number, candidate: NodeId) => void) | null = null;
  /**
   * Called when a node's write of a Ready has completed (and synced, if it had to), before the
   * node sends, installs or applies any of it. A schedule may crash the node right there: the
   * rest of the Ready dies with the process.
   */
  onPersisted: ((id: NodeId, ready: Ready) => void) | null = null;
  /** Called when a node has taken a snapshot (a synced write), before it compacts its log; a schedule may crash it there. */
  onSnapshotTaken: ((id: NodeId) => void) | null = null;
  /** Nodes whose removal some node has applied (so it is committed): ids are never reused. */
  readonly removed = new Set<NodeId>();

  constructor(options: Partial<SimOptions> & { seed: number }) {
    this.options = { ...simDefaults, ...options, network: { ...simDefaults.network, ...options.network }, raft: { ...simDefaults.raft, ...options.raft } };
    this.network = this.options.network;
    this.prng = createPrng(this.options.seed);
    const founders: NodeId[] = [];
    for (let i = 1; i <= this.options.voters; i++) founders.push(i);
    for (const id of founders) this.startNode(id, RawNode.bootstrap(founders));
  }

  // ---------------------------------------------------------------------------------------------
  // Processes

  /** Start a new process for `id` from `durable` (empty for a node joining an existing cluster). */
  startNode(id: NodeId, durable?: DurableState): SimNode {
    const drift = 1 + (this.prng.nextFloat() * 2 - 1) * this.options.tickDrift;
    const node = new SimNode(id, durable ?? { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: null, entries: [], applied: 0 }, Math.max(1, Math.round(this.options.tickUnits * drift)), this.checker);
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private boot(node: SimNode): void {
    node.incarnation++;
    node.resetLife();
    if (node.snapshot !== null && node.sm.applied < node.snapshot.meta.index) {
      // Crashed between persisting a snapshot and installing it, or lost the install to a power
      // loss: install before starting Raft.
      this.installSnapshot(node, node.snapshot);
    }
    const o = this.options;
    node.raw = new RawNode(
      {
        id: node.id,
        electionTicks: o.electionTicks,
        heartbeatTicks: o.heartbeatTicks,
        prng: createPrng(mix(o.seed, node.id, node.incarnation)),
        ...o.raft,
        unsafeTestFaults: o.faults,
      },
      node.durableState(),
    );
    this.scheduleTick(node);
    this.pump(node);
  }

  /**
   * Stop the process of `id`. A plain crash (kill -9) keeps everything written, which the OS
   * page cache holds; a power loss keeps only what was synced, state machine included.
   */
  crash(id: NodeId, options: { readonly powerLoss?: boolean } = {}): void {
    const node = this.node(id);
    if (!node.live) return;
    const powerLoss = options.powerLoss === true;
    this.record(`${powerLoss ? 'power loss' : 'crash'} ${id}`);
    if (powerLoss) node.loseUnsynced();
    node.raw = null;
    node.incarnation++;
    node.readyInFlight = false;
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.live || node.retired) return;
    this.record(`restart ${id}`);
    this.boot(node);
  }

  /** Stop a removed member for good. */
  retire(id: NodeId): void {
    this.crash(id);
    this.node(id).retired = true;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // Network

  /** Cut every link between the groups (nodes in no group keep their links). */
  partition(...groups: NodeId[][]): void {
    this.record(`partition ${groups.map((g) => g.join(',')).join(' | ')}`);
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) this.blocked.add(`${a}>${b}`);
      }
    }
  }

  isolate(id: NodeId): void {
    const others = [...this.nodes.keys()].filter((n) => n !== id);
    this.partition([id], others);
  }

  /** Block one direction only. */
  clog(from: NodeId, to: NodeId): void {
    this.record(`clog ${from}>${to}`);
    this.blocked.add(`${from}>${to}`);
  }

  unclog(from: NodeId, to: NodeId): void {
    this.record(`unclog ${from}>${to}`);
    this.blocked.delete(`${from}>${to}`);
  }

  clogged(): string[] {
    return [...this.blocked].sort();
  }

  heal(): void {
    this.record('heal');
    this.blocked.clear();
  }

  /**
   * Hold back messages of `types` from `from` to `to` until {@link release}: a link that delivers
   * them late, in the order sent (a TimeoutNow that arrives after the transfer gave up). Scenarios only.
   */
  hold(from: NodeId, to: NodeId, types: readonly Message['type'][]): void {
    this.record(`hold ${from}>${to} ${types.join(',')}`);
    this.linkRules.push({ from, to, types: new Set(types), held: [] });
  }

  /** Drop messages of `types` only from `from` to `to`, until {@link release} (`clog` drops them all). Scenarios only. */
  drop(from: NodeId, to: NodeId, types: readonly Message['type'][]): void {
    this.record(`drop ${from}>${to} ${types.join(',')}`);
    this.linkRules.push({ from, to, types: new Set(types), held: null });
  }

  /** End every {@link hold} and {@link drop} on the link, delivering what was held, in order. */
  release(from: NodeId, to: NodeId): void {
    this.record(`release ${from}>${to}`);
    const onLink = (r: LinkRule): boolean => r.from === from && r.to === to;
    const ended = this.linkRules.filter(onLink);
    this.linkRules.splice(0, this.linkRules.length, ...this.linkRules.filter((r) => !onLink(r)));
    for (const r of ended) for (const m of r.held ?? []) this.queue.push(this.now + this.network.delayMin, { kind: 'deliver', msg: m });
  }

  /** Whether a link rule took `m` (dropped or held it). */
  private ruled(m: Message): boolean {
    for (const r of this.linkRules) {
      if (r.from !== m.from || r.to !== m.to || !r.types.has(m.type)) continue;
      r.held?.push(m);
      return true;
    }
    return false;
  }

  private send(m: Message): void {
    if (this.blocked.has(`${m.from}>${m.to}`)) return;
    if (this.linkRules.length > 0 && this.ruled(m)) return;
    const net = this.network;
    if (net.lossRate > 0 && this.prng.nextFloat() < net.lossRate) return;
    const copies = net.dupRate > 0 && this.prng.nextFloat() < net.dupRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let delay = net.delayMin + this.prng.nextInt(net.delayMax - net.delayMin + 1);
      if (net.longDelayRate > 0 && this.prng.nextFloat() < net.longDelayRate) delay += this.prng.nextInt(net.longDelayMax + 1);
      this.queue.push(this.now + delay, { kind: 'deliver', msg: m });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Clients

  /** Propose on `id`; returns the index, or the RaftError code when the node refuses. */
  propose(id: NodeId, bytes = 16): { index: number; proposalId: number } | { error: string } {
    const node = this.node(id);
    if (node.raw === null) return { error: 'DOWN' };
    // Refusals the client can see coming are answered without the cost of a thrown RaftError.
    const s = node.raw.summary();
    if (s.role !== 'leader') return { error: 'NOT_LEADER' };
    if (s.leadTransferee !== 0) return { error: 'TRANSFER_IN_PROGRESS' };
    const data = new Uint8Array(Math.max(bytes, PROPOSAL_HEADER_BYTES));
    const limit = this.options.raft.uncommittedBytesMax;
    if (limit !== undefined && s.uncommittedBytes + entryBytes({ term: s.term, index: 0, kind: 'normal', data }) > limit) return { error: 'PROPOSAL_BACKPRESSURE' };
    const proposalId = this.nextProposalId++;
    new DataView(data.buffer).setUint32(0, proposalId);
    try {
      const { index, term } = node.raw.propose(data);
      node.proposals.set(index, { id: proposalId, term });
      this.record(`propose ${id} #${proposalId} @${index}`);
      this.afterInput(node);
      return { index, proposalId };
    } catch (err) {
      if (err instanceof RaftError) return { error: err.code };
      throw err;
    }
  }

  proposeConfChange(id: NodeId, change: ConfChange): { index: number } | { error: string } {
    const node = this.node(id);
    if (node.raw === null) return { error: 'DOWN' };
    try {
      const { index } = node.raw.proposeConfChange(change);
      this.record(`conf ${id} ${JSON.stringify(change)} @${index}`);
      this.afterInput(node);
      return { index };
    } catch (err) {
      if (err instanceof RaftError) return { error: err.code };
      throw err;
    }
  }

  transferLeadership(from: NodeId, to: NodeId): string | null {
    const node = this.node(from);
    if (node.raw === null) return 'DOWN';
    try {
      node.raw.transferLeadership(to);
      this.record(`transfer ${from}>${to}`);
      this.afterInput(node);
      return null;
    } catch (err) {
      if (err instanceof RaftError) return err.code;
      throw err;
    }
  }

  /** Issue a linearizable read on `id`; it is checked against every write acknowledged before now. */
  read(id: NodeId): void {
    const node = this.node(id);
    if (node.raw === null) return;
    const ctx = this.nextReadCtx++;
    node.reads.set(ctx, { ackedBefore: this.checker.maxAckedIndex });
    this.record(`read ${id} ctx${ctx}`);
    node.raw.readIndex(ctx);
    this.afterInput(node);
  }

  campaign(id: NodeId): void {
    const node = this.node(id);
    node.raw?.campaign();
    this.record(`campaign ${id}`);
    if (node.raw !== null) this.afterInput(node);
  }

  /** Run `fn` at `delay` units from now, in order with everything else. */
  at(delay: number, label: string, fn: () => void): void {
    this.queue.push(this.now + delay, { kind: 'call', label, fn });
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  /** The live leader of the highest term, if any. */
  leader(): NodeId | undefined {
    let best: NodeId | undefined;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      const s = n.raw?.summary();
      if (s?.role === 'leader' && s.term > bestTerm) {
        best = n.id;
        bestTerm = s.term;
      }
    }
    return best;
  }

  step(): boolean {
    const next = this.queue.pop();
    if (next === undefined) return false;
    this.now = next.time;
    this.checker.now = next.time;
    this.events++;
    const ev = next.item;
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes.get(ev.node)!;
        if (node.incarnation !== ev.incarnation || node.raw === null) return true;
        node.raw.tick();
        this.scheduleTick(node);
        this.afterInput(node);
        return true;
      }
      case 'deliver': {
        const node = this.nodes.get(ev.msg.to);
        if (node?.raw == null) return true;
        this.traceHash = mix(this.traceHash, next.time, ev.msg.from, ev.msg.to, ev.msg.term);
        if (this.options.trace) this.note(`deliver ${ev.msg.from}>${ev.msg.to} ${describe(ev.msg)}`);
        node.raw.step(ev.msg);
        this.afterInput(node);
        return true;
      }
      case 'persisted': {
        const node = this.nodes.get(ev.node)!;
        if (node.incarnation !== ev.incarnation || node.raw === null) return true;
        this.handleReady(node, ev.ready);
        return true;
      }
      case 'call':
        this.record(ev.label);
        ev.fn();
        return true;
    }
  }

  /** Run until virtual time `until`. */
  runUntilTime(until: number): void {
    while ((this.queue.peekTime() ?? Infinity) <= until) this.step();
    this.now = Math.max(this.now, until);
  }

  runTicks(ticks: number): void {
    this.runUntilTime(this.now + ticks * this.options.tickUnits);
  }

  /** Run until `predicate` holds, checked after every event; false if `ticksMax` pass first. */
  runUntil(predicate: () => boolean, ticksMax: number): boolean {
    const until = this.now + ticksMax * this.options.tickUnits;
    if (predicate()) return true;
    while ((this.queue.peekTime() ?? Infinity) <= until) {
      this.step();
      if (predicate()) return true;
    }
    return false;
  }

  private scheduleTick(node: SimNode): void {
    this.queue.push(this.now + node.tickUnits, { kind: 'tick', node: node.id, incarnation: node.incarnation });
  }

  private afterInput(node: SimNode): void {
    if (node.observe(this.checker)) {
      if (this.options.trace) this.note(`leader ${node.id} term ${node.raw!.summary().term}`);
      this.onLeaderElected?.(node.id);
    }
    this.pump(node);
  }

  /** Hand the next Ready to the (simulated) disk. */
  private pump(node: SimNode): void {
    const raw = node.raw;
    if (raw === null || node.readyInFlight || !raw.hasReady()) return;
    const ready = raw.ready();
    node.readyInFlight = true;
    // Replication traffic leaves before the write completes, as the server sends it.
    for (const m of ready.earlyMessages) this.send(m);
    const o = this.options;
    const delay = ready.mustSync ? o.persistDelayMin + this.prng.nextInt(o.persistDelayMax - o.persistDelayMin + 1) : 1;
    this.queue.push(this.now + delay, { kind: 'persisted', node: node.id, incarnation: node.incarnation, ready });
  }

  /** Persist → send → apply → advance, as the Ready contract orders. */
  private handleReady(node: SimNode, ready: Ready): void {
    const raw = node.raw!;
    const checker = this.checker;
    node.persist(ready, checker);
    // One write-ahead log: this synced write makes everything written before it durable as well.
    if (ready.mustSync && this.options.driverFaults.skipSync !== true) node.sync();
    this.onPersisted?.(node.id, ready);
    if (node.raw !== raw) return;
    // A broken driver answers here, once its own write is durable; a correct one when it applies (below).
    if (this.options.driverFaults.ackBeforeCommit === true) for (const e of ready.entries) this.maybeAck(node, e);
    for (const m of ready.messages) {
      if (m.type === 'voteResp' && !m.reject) {
        checker.onVoteGranted(m.from, m.term, m.to);
        this.onVoteGranted?.(m.from, m.term, m.to);
      }
      this.send(m);
    }
    if (ready.snapshot !== null) {
      this.installSnapshot(node, ready.snapshot);
      node.snapshotsInstalled++;
    }
    for (const e of ready.committedEntries) {
      if (e.index <= node.sm.applied) continue;
      if (e.index !== node.sm.applied + 1) checker.fail('apply in order', `node ${node.id} applied ${e.index} after ${node.sm.applied}`);
      node.sm.hash = mix(node.sm.hash, entryHash(e));
      node.sm.applied = e.index;
      checker.onApplied(node.id, e, node.sm.hash);
      if (e.kind === 'conf') {
        const change = decodeConfChange(e.data);
        if (change.type === 'removeNode') this.removed.add(change.node);
      }
      this.maybeAck(node, e);
    }
    for (const rs of ready.readStates) {
      const pending = node.reads.get(rs.ctx);
      if (pending === undefined) continue;
      node.reads.delete(rs.ctx);
      if (rs.ok) node.waitingReads.push({ index: rs.index, ackedBefore: pending.ackedBefore });
    }
    if (node.waitingReads.length > 0) {
      node.waitingReads = node.waitingReads.filter((r) => {
        if (node.sm.applied < r.index) return true;
        checker.onRead(node.id, r.index, r.ackedBefore);
        return false;
      });
    }
    raw.advance(ready);
    node.readyInFlight = false;
    this.maybeSnapshot(node);
    if (node.raw !== raw) return;
    this.afterInput(node);
  }

  /** Set the state machine of `node` to `snapshot` (a write, not synced). */
  private installSnapshot(node: SimNode, snapshot: ReceivedSnapshot): void {
    const restored = decodeSmSnapshot(snapshot.data);
    if (restored.applied !== snapshot.meta.index) this.checker.fail('snapshot integrity', `node ${node.id} got a snapshot labelled ${snapshot.meta.index} holding ${restored.applied}`);
    this.checker.onSnapshotInstalled(node.id, restored.applied, restored.hash);
    node.sm.applied = restored.applied;
    node.sm.hash = restored.hash;
  }

  /**
   * Answer the client of `e` if `node` proposed it: the entry at the proposal's index is ours only
   * if it carries our term and proposal id (another leader may have put its own there).
   */
  private maybeAck(node: SimNode, e: Entry): void {
    const proposal = node.proposals.get(e.index);
    if (proposal === undefined) return;
    node.proposals.delete(e.index);
    if (e.kind === 'normal' && e.term === proposal.term && new DataView(e.data.buffer, e.data.byteOffset).getUint32(0) === proposal.id) {
      this.checker.onAcked(proposal.id, e);
      this.acknowledged.add(e.index);
      this.proposalsAcked++;
    }
  }

  private maybeSnapshot(node: SimNode): void {
    const raw = node.raw!;
    const snapIndex = node.snapshot?.meta.index ?? 0;
    const o = this.options;
    if (node.sm.applied - snapIndex < o.snapshotEveryEntries) return;
    raw.setSnapshot(node.sm.applied, encodeSmSnapshot(node.sm));
    const meta = raw.status();
    node.snapshot = { meta: { index: node.sm.applied, term: raw.termAt(node.sm.applied)!, conf: meta.conf }, data: encodeSmSnapshot(node.sm) };
    // The server fsyncs the snapshot's file and records it with a synced write, which makes
    // everything written before it (applies included) durable too; the compaction is not synced.
    node.sync();
    this.onSnapshotTaken?.(node.id);
    if (node.raw !== raw) return;
    const compactTo = node.sm.applied - o.logTrailingEntries;
    if (compactTo > meta.firstIndex && compactTo <= meta.stableIndex) {
      raw.compactLog(compactTo);
      node.compactDurable(compactTo - 1);
    }
  }

  /** A trace line that the hash already covers in cheaper form (it must not change the hash). */
  private note(line: string): void {
    this.trace.push(`${this.now} ${line}`);
  }

  private record(line: string): void {
    const text = `${this.now} ${line}`;
    let h = this.traceHash;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    this.traceHash = h;
    if (this.options.trace) this.trace.push(text);
  }
}

function describe(m: Message): string {
  switch (m.type) {
    case 'app':
      return `app t${m.term} prev=${m.prevIndex}@${m.prevTerm} n=${m.entries.length} c=${m.commit}`;
    case 'appResp':
      return `appResp t${m.term} i=${m.index}${m.reject ? ` reject hint=${m.rejectHint}@${m.hintTerm}` : ''}`;
    case 'vote':
    case 'preVote':
      return `${m.type} t${m.term} last=${m.lastIndex}@${m.lastTerm}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${m.type} t${m.term}${m.reject ? ' reject' : ''}`;
    case 'heartbeat':
      return `heartbeat t${m.term} c=${m.commit} r=${m.readRound}`;
    case 'heartbeatResp':
      return `heartbeatResp t${m.term} r=${m.readRound}`;
    case 'snap':
      return `snap t${m.term} i=${m.meta.index} off=${m.offset}/${m.totalBytes}`;
    case 'snapResp':
      return `snapResp t${m.term} i=${m.snapshotIndex} off=${m.offset}`;
    case 'timeoutNow':
      return `timeoutNow t${m.term}`;
    case 'readIndex':
      return `readIndex t${m.term} ctx${m.ctx}`;
    case 'readIndexResp':
      return `readIndexResp t${m.term} ctx${m.ctx} i=${m.index}${m.reject ? ' reject' : ''}`;
  }
}

export { SimViolation };

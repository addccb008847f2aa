import { randomInt } from 'node:crypto';
import { Packr } from 'msgpackr';
import {
  assert,
  decodeConfChange,
  RaftError,
  type ConfChange,
  type Entry,
  type Message,
  type NodeId,
  type RawNode,
  type Ready,
  type Role,
  type SnapshotBytes,
  type SnapshotMeta,
  type Status,
} from '@vigil/raft';
import { applyEntriesMax, type Applied, type Command, type Entry as StoreEntry, type Store } from '@vigil/store';
import { ServerError } from '../errors.js';
import type { Logger } from '../node/logger.js';
import type { RaftStorage } from '../storage/raft-storage.js';
import type { SnapshotFileBytes } from '../storage/snapshot-file-bytes.js';
import { decodeEntryPayload, encodeEntryPayload } from './entry-payload.js';
import { applyAddressChange, type MemberAddress } from './members.js';

/** Hooks for metrics; every one optional. */
export interface DriverObserver {
  persisted?(seconds: number, entries: number): void;
  applied?(seconds: number, entries: number): void;
  roleChanged?(role: Role, term: number, leader: NodeId): void;
  snapshot?(kind: 'created' | 'received'): void;
  proposal?(outcome: 'committed' | 'dropped' | 'rejected' | 'timeout'): void;
  readIndex?(seconds: number): void;
}

export interface DriverOptions {
  readonly raw: RawNode;
  readonly storage: RaftStorage;
  readonly store: Store;
  readonly send: (messages: readonly Message[]) => void;
  readonly members: Map<NodeId, MemberAddress>;
  /** Ids of members whose removal this node applied (never reused, always refused). */
  readonly removed: Set<NodeId>;
  readonly onMembersChanged: (members: ReadonlyMap<NodeId, MemberAddress>) => void;
  readonly logger: Logger;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly snapshotEveryEntries: number;
  readonly logTrailingEntries: number;
  /** The index of the snapshot the node started from (0 for none). */
  readonly snapshotIndex: number;
  /** The file of that snapshot, already handed to Raft as its bytes: the driver closes it when done. */
  readonly snapshotFile?: SnapshotFileBytes;
  readonly observer?: DriverObserver;
  /** A persistence failure: the node cannot go on safely. */
  readonly onFatal: (err: unknown) => void;
  /** The store is about to be replaced by a snapshot image. */
  readonly onSnapshotInstalling?: () => void;
  /** The store was replaced by a snapshot image: changes up to it have no watch events. */
  readonly onSnapshotInstalled?: (index: number) => void;
  /**
   * Asked, before a committed client write with a session sequence number is applied, for
   * something to run at that point: the store then holds every entry before the write and none
   * from it on. The gateway answers there the reads that arrived before the write on the same
   * connection and must not see it (decision 42). Null: nothing; the batch is not split.
   */
  readonly pointBeforeWrite?: (sessionId: number, seq: number) => (() => void) | null;
  /** Known-bad switch (testing/known-bad.ts): answer linearizable reads from the local store at once. */
  readonly staleReads?: boolean;
  /** Test-only crash points (testing/crash-points.ts): called where a crash leaves recovery most to do. */
  readonly crashPoint?: ((point: DriverCrashPoint) => void) | undefined;
}

/**
 * Where a crash leaves recovery the most to do: a received snapshot durable but not installed in
 * the store; a snapshot taken and recorded but the log not compacted; committed entries durable in
 * the log but not applied to the store.
 */
export type DriverCrashPoint = 'snapshot-received' | 'snapshot-taken' | 'before-apply';

interface PendingProposal {
  readonly term: number;
  readonly resolve: (applied: Applied) => void;
  readonly reject: (err: Error) => void;
}

interface PendingRead {
  readonly startedNs: bigint;
  /** The last attempt found no leader to confirm it: asked again at a tick once a leader is known. */
  refused: boolean;
  readonly resolve: (index: number) => void;
  readonly reject: (err: Error) => void;
}

/** What a server snapshot holds: the store image and the member addresses, at one index. */
export interface SnapshotEnvelope {
  readonly v: 1;
  readonly members: [NodeId, MemberAddress][];
  readonly removed: NodeId[];
  readonly store: Uint8Array[];
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, int64AsType: 'number' });

/**
 * Version 2 of the envelope: `VSN2`, a uint32 (big-endian) header length, a msgpack header with
 * the members and the store chunks' lengths, then the chunks' bytes as they are. Unlike version 1
 * (one msgpack map holding every chunk) it is assembled into one buffer a chunk at a time, and
 * decoded without copying: packing a 40 MB map took 0.3–0.6 s of one synchronous call, long
 * enough for a leader to miss its heartbeats.
 */
const envelopeMagic = Buffer.from('VSN2', 'latin1');

interface EnvelopeHeader {
  readonly members: [NodeId, MemberAddress][];
  readonly removed: NodeId[];
  readonly chunkBytes: number[];
}

/** Builds the envelope, yielding to the event loop between chunks. */
export async function encodeSnapshotEnvelope(
  members: ReadonlyMap<NodeId, MemberAddress>,
  removed: ReadonlySet<NodeId>,
  storeChunks: readonly Uint8Array[],
): Promise<Uint8Array> {
  const header: EnvelopeHeader = { members: [...members], removed: [...removed], chunkBytes: storeChunks.map((c) => c.byteLength) };
  const headerBytes: Uint8Array = packr.pack(header);
  const total = envelopeMagic.length + 4 + headerBytes.length + header.chunkBytes.reduce((a, b) => a + b, 0);
  const out = Buffer.allocUnsafe(total);
  envelopeMagic.copy(out, 0);
  out.writeUInt32BE(headerBytes.length, envelopeMagic.length);
  out.set(headerBytes, envelopeMagic.length + 4);
  let at = envelopeMagic.length + 4 + headerBytes.length;
  for (const chunk of storeChunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return out;
}

/**
 * The version 2 header of an envelope and where its chunks begin, reading only the header's
 * bytes; null for a version 1 envelope (one msgpack map, written before the chunked layout).
 */
function envelopeHeader(bytes: SnapshotBytes): { header: EnvelopeHeader; chunksAt: number } | null {
  const prefix = envelopeMagic.length + 4;
  if (bytes.length < prefix) return null;
  const head = Buffer.from(bytes.subarray(0, prefix));
  if (!head.subarray(0, envelopeMagic.length).equals(envelopeMagic)) return null;
  const chunksAt = prefix + head.readUInt32BE(envelopeMagic.length);
  assert(chunksAt <= bytes.length, 'the snapshot envelope holds its header');
  const header = packr.unpack(bytes.subarray(prefix, chunksAt)) as EnvelopeHeader;
  assert(Array.isArray(header.members) && Array.isArray(header.removed) && Array.isArray(header.chunkBytes), 'a snapshot envelope of version 2');
  return { header, chunksAt };
}

export function decodeSnapshotEnvelope(data: Uint8Array): SnapshotEnvelope {
  const v2 = envelopeHeader(data);
  if (v2 === null) {
    const e = packr.unpack(data) as SnapshotEnvelope;
    assert(e.v === 1 && Array.isArray(e.members) && Array.isArray(e.removed) && Array.isArray(e.store), 'a snapshot envelope of version 1');
    return e;
  }
  const { header } = v2;
  let at = v2.chunksAt;
  const store: Uint8Array[] = [];
  for (const n of header.chunkBytes) {
    assert(Number.isSafeInteger(n) && n >= 0 && at + n <= data.length, 'snapshot chunk lengths fit the envelope');
    store.push(new Uint8Array(data.buffer, data.byteOffset + at, n));
    at += n;
  }
  assert(at === data.length, 'the snapshot envelope ends after its last chunk');
  return { v: 1, members: header.members, removed: header.removed, store };
}

/**
 * The members and removed ids of an envelope, read from its header alone (a version 1 envelope,
 * which has none, is read whole): what a restarting member needs when its store already holds
 * the image, without reading the whole snapshot (200 MB at a million znodes) into memory.
 */
export function decodeSnapshotEnvelopeMembers(bytes: SnapshotBytes): Pick<SnapshotEnvelope, 'members' | 'removed'> {
  const v2 = envelopeHeader(bytes);
  return v2 === null ? decodeSnapshotEnvelope(bytes.subarray(0, bytes.length)) : { members: v2.header.members, removed: v2.header.removed };
}

function isMemberAddress(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const { peer, client } = v as { peer?: unknown; client?: unknown };
  return typeof peer === 'string' && (client === undefined || client === null || typeof client === 'string');
}

/**
 * Why a conf entry's member addresses (its `context`, read by applyAddressChange when the entry is
 * applied, and again at every restart) cannot be applied, or null. Checked on receipt: an entry
 * that would throw when applied would stop this node, and stop it again at each restart.
 */
function confContextProblem(data: unknown): string | null {
  let change: ConfChange;
  try {
    change = decodeConfChange(data as Uint8Array);
  } catch {
    return 'holds no ConfChange';
  }
  const context: unknown = (change as { context?: unknown }).context;
  if (context === undefined || (change.type !== 'bootstrap' && change.type !== 'addLearner' && change.type !== 'addVoter')) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(context));
  } catch {
    return 'has a context that is not JSON';
  }
  if (change.type !== 'bootstrap') return isMemberAddress(parsed) ? null : 'has a context that is not a member address';
  const all = parsed as Record<string, unknown> | null;
  if (typeof all !== 'object' || all === null || Array.isArray(all)) return 'has a context that is not a map of member addresses';
  for (const [id, a] of Object.entries(all)) {
    const n = Number(id);
    if (!Number.isSafeInteger(n) || n <= 0 || !isMemberAddress(a)) return 'has a context that is not a map of member addresses';
  }
  return null;
}

const NOOP: Command = { type: 'noop' };

/** Store batches allowed in flight before the Ready loop waits for them. */
const storeWritesPendingMax = 8;

/**
 * The store's image is written every this many ticks (200 ms at the default tick), or once this
 * many entries are applied and unwritten, whichever comes first: one LevelDB batch for all of them,
 * each changed record once (decision 49). The restart replays at most that much log.
 */
const imageWriteTicks = 4;
const imageWriteEntries = 4_096;

/** At most this many records of snapshot per entry of log (decision 47). */
const snapshotRecordsPerEntry = 4;

/**
 * Runs one RawNode for real: ticks from a timer, messages from the transport, and the Ready loop
 * — persist (one synced LevelDB batch: the group commit), send, apply into the store, advance.
 * Proposals resolve with the store's result when their entry is applied; reads resolve once a
 * ReadIndex round confirmed leadership and the store caught up with the read point.
 */
export class RaftDriver {
  private readonly raw: RawNode;
  private readonly o: DriverOptions;
  private readonly log: Logger;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<number, PendingRead>();
  private appliedWaiters: { index: number; resolve: () => void }[] = [];
  /**
   * Read contexts of this process: numbered up from a random floor, so that an answer queued for
   * a read of an earlier run of this member (delivered after a restart) matches none of ours.
   */
  private readonly readCtxFloor = randomInt(1, 2 ** 40);
  private readCtx = this.readCtxFloor;
  private tickTimer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private running: Promise<void> | null = null;
  private closed = false;
  private snapshotIndex: number;
  private lastRole: Role = 'follower';
  /** The store's LevelDB writes still in flight (in order); snapshots and close wait for them. */
  private storeWrites: Promise<void> = Promise.resolve();
  private ticksSinceImageWrite = 0;
  private lastLeader: NodeId = 0;
  /** snapshotEveryEntries, staggered by member id. */
  private readonly snapshotEvery: number;
  /** A snapshot being streamed and written beside the Ready loop; one at a time. */
  private snapshotting: Promise<void> | null = null;
  /** The file Raft reads its snapshot's bytes from (rather than holding the image in memory). */
  private snapshotFile: SnapshotFileBytes | null = null;

  constructor(options: DriverOptions) {
    this.o = options;
    // Members snapshot at different indexes: a snapshot of a large tree costs CPU, and members
    // that all pay it at the same entry slow down together (a leader then loses its quorum).
    this.snapshotEvery = options.snapshotEveryEntries + (options.raw.id % 4) * Math.floor(options.snapshotEveryEntries / 8);
    this.raw = options.raw;
    this.log = options.logger;
    this.snapshotIndex = options.snapshotIndex;
  }

  start(): void {
    const loaded = this.o.storage.latestSnapshotMeta();
    if (this.o.snapshotFile !== undefined) this.snapshotFile = this.o.snapshotFile;
    else if (loaded !== null) this.adoptSnapshotFile(loaded);
    this.tickTimer = setInterval(() => {
      if (++this.ticksSinceImageWrite >= imageWriteTicks) this.writeImage();
      this.raw.tick();
      this.retryRefusedReads();
      this.schedule();
    }, this.o.tickMs);
    this.schedule();
  }

  /**
   * Messages from peers. One that no correct peer sends (see `RawNode.step` and `refusal`) is
   * dropped and logged, and changes nothing: a faulty peer cannot stop this node.
   */
  receive(messages: readonly Message[]): void {
    if (this.closed) return;
    try {
      for (const m of messages) {
        const reason = this.refusal(m) ?? this.raw.step(m);
        if (reason !== null) this.log.warn({ peer: m?.from, type: m?.type, term: m?.term, reason }, 'peer message dropped');
      }
    } catch (err) {
      // Only a broken invariant throws here (the messages were validated): a bug, and the
      // process must stop rather than go on with a diverged replica.
      this.closed = true;
      clearInterval(this.tickTimer);
      this.o.onFatal(err);
      return;
    }
    this.schedule();
  }

  /** Why `m` must not reach the core, for what only this driver knows; null if it may. */
  private refusal(m: Message): string | null {
    if (typeof m !== 'object' || m === null) return null; // the core says what it is not
    if (this.o.removed.has(m.from)) return `node ${m.from} was removed from the cluster`;
    if (m.type === 'readIndexResp' && !(Number.isSafeInteger(m.ctx) && m.ctx > this.readCtxFloor && m.ctx <= this.readCtx)) {
      // Contexts are numbered up from this run's floor by linearizableRead; a late answer to an
      // abandoned read is fine (nothing waits for it), an answer to a read never asked for is not.
      return `an answer to read ${m.ctx}, which this node never asked for`;
    }
    if (m.type === 'app' && Array.isArray(m.entries)) {
      for (const e of m.entries) {
        if (e?.kind !== 'conf') continue;
        const problem = confContextProblem(e.data);
        if (problem !== null) return `conf entry ${e.index} ${problem}`;
      }
    }
    return null;
  }

  status(): Status {
    return this.raw.status();
  }

  get appliedIndex(): number {
    return this.o.store.appliedIndex;
  }

  /** Propose a command; resolves with the store's result once applied on this node. */
  propose(command: Command, signal?: AbortSignal): Promise<Applied> {
    return this.track(() => this.raw.propose(encodeEntryPayload(Date.now(), command)), signal);
  }

  proposeConfChange(change: ConfChange, signal?: AbortSignal): Promise<Applied> {
    return this.track(() => this.raw.proposeConfChange(change), signal);
  }

  private track(append: () => { index: number; term: number }, signal?: AbortSignal): Promise<Applied> {
    if (this.closed) return Promise.reject(new ServerError('SHUTTING_DOWN'));
    let at: { index: number; term: number };
    try {
      at = append();
    } catch (err) {
      this.o.observer?.proposal?.('rejected');
      return Promise.reject(this.translate(err));
    }
    this.schedule();
    return new Promise<Applied>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.proposals.get(at.index)?.resolve !== done) return;
        this.proposals.delete(at.index);
        this.o.observer?.proposal?.('timeout');
        reject(new ServerError('TIMEOUT', 'the write timed out; it may or may not have been applied'));
      };
      const done = (applied: Applied): void => {
        signal?.removeEventListener('abort', onAbort);
        this.o.observer?.proposal?.('committed');
        resolve(applied);
      };
      const fail = (err: Error): void => {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      this.proposals.set(at.index, { term: at.term, resolve: done, reject: fail });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Wait for a linearizable read point: resolves with an index once leadership was confirmed by
   * a heartbeat round and this node's store has applied at least that index. A read that meets no
   * leader, or a leader that loses its leadership before confirming it, is asked again (a read
   * has no effect, so that is always safe) until `signal` aborts: then it fails with NO_LEADER if
   * no leader could be found to confirm it, else TIMEOUT. It never fails with NOT_LEADER.
   */
  linearizableRead(signal: AbortSignal): Promise<number> {
    if (this.closed) return Promise.reject(new ServerError('SHUTTING_DOWN'));
    if (this.o.staleReads === true) return Promise.resolve(this.o.store.appliedIndex);
    const ctx = ++this.readCtx;
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => {
        const pending = this.reads.get(ctx);
        if (pending === undefined) return;
        this.reads.delete(ctx);
        reject(pending.refused ? new ServerError('NO_LEADER', 'no leader confirmed the read before its deadline') : new ServerError('TIMEOUT', 'the read timed out'));
      };
      this.reads.set(ctx, {
        startedNs: process.hrtime.bigint(),
        refused: false,
        resolve: (index) => {
          signal.removeEventListener('abort', onAbort);
          resolve(index);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.raw.readIndex(ctx);
      this.schedule();
    });
  }

  /**
   * The transport has a new connection to `peer`: a leader resends to it at once, and a follower
   * asks its leader again for the read points it was waiting for (asks and answers may have been
   * lost with the old connection; the first answer for a context wins).
   */
  peerConnected(peer: NodeId): void {
    if (this.closed) return;
    this.raw.peerReconnected(peer);
    if (peer === this.raw.summary().leader) for (const [ctx, r] of this.reads) if (!r.refused) this.raw.readIndex(ctx);
    this.schedule();
  }

  /** The transport lost its connection to `peer`: a follower that lost its leader's stands soon. */
  peerDisconnected(peer: NodeId): void {
    if (this.closed) return;
    this.raw.peerDisconnected(peer);
  }

  /** Resolves once this node's store has applied `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.o.store.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  /** Hand leadership to `to`, or to the most caught-up voter; resolves with the new leader. */
  async transferLeadership(to?: NodeId, timeoutMs = this.o.tickMs * this.o.electionTicks * 3): Promise<NodeId> {
    const s = this.raw.status();
    if (s.role !== 'leader') throw new ServerError('NOT_LEADER', undefined, { leaderId: s.leader || null });
    const target = to ?? this.bestTransferTarget(s);
    if (target === undefined) throw new ServerError('INVALID_CONF_CHANGE', 'no other voter to transfer leadership to');
    try {
      this.raw.transferLeadership(target);
    } catch (err) {
      throw this.translate(err);
    }
    this.schedule();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const now = this.raw.status();
      if (now.role !== 'leader' && now.leader !== 0) return now.leader;
      await new Promise((r) => setTimeout(r, this.o.tickMs));
    }
    throw new ServerError('TIMEOUT', `leadership did not move to ${target} within ${timeoutMs} ms`);
  }

  private bestTransferTarget(s: Status): NodeId | undefined {
    let best: { id: NodeId; match: number } | undefined;
    for (const p of s.progress) {
      if (p.id === this.raw.id || p.isLearner) continue;
      if (best === undefined || p.match > best.match) best = { id: p.id, match: p.match };
    }
    return best?.id;
  }

  /**
   * Entries after the last snapshot that make the next one due: `snapshotEveryEntries` (staggered),
   * or a quarter of the image's records if that is more (decision 47). A snapshot reads and writes
   * every record, so at a fixed interval its cost per write would grow with the tree: at 600,000
   * znodes a member spent most of its time snapshotting. A quarter bounds it at four records per
   * entry whatever the size; the log between snapshots grows with the tree instead, and with it
   * the memory it takes and a restart's time to read it.
   */
  private snapshotDue(): number {
    return Math.max(this.snapshotEvery, Math.ceil((this.o.store.recordCount * this.snapshotEvery) / this.o.snapshotEveryEntries / snapshotRecordsPerEntry));
  }

  /** Resolves once no snapshot is being taken (one begun meanwhile is not waited for). */
  async snapshotSettled(): Promise<void> {
    await this.snapshotting;
  }

  /** Take a snapshot now (also done automatically: snapshotDue). */
  async snapshotNow(): Promise<number> {
    await this.snapshotting;
    await this.idle();
    await this.beginSnapshot();
    await this.snapshotting;
    return this.snapshotIndex;
  }

  /**
   * Stop ticking and processing. Idempotent. Pending reads fail with SHUTTING_DOWN (a read has no
   * effect to be unsure of). Pending proposals fail with TIMEOUT: each is already an entry in this
   * node's log and may have reached other members, and a later leader can still commit it, so
   * SHUTTING_DOWN — "it did not take effect" — would be a lie. Only a proposal refused before it
   * was appended (`track` on a closed driver) is answered SHUTTING_DOWN.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tickTimer);
    await this.running;
    await this.snapshotting;
    await this.imageWritten().catch(() => undefined); // a failure is already reported (onFatal)
    const unknown = new ServerError('TIMEOUT', 'this server stopped after the write entered its log; it may or may not take effect');
    for (const p of this.proposals.values()) p.reject(unknown);
    const err = new ServerError('SHUTTING_DOWN');
    for (const r of this.reads.values()) r.reject(err);
    this.proposals.clear();
    this.reads.clear();
    this.snapshotFile?.close();
  }

  /**
   * Raft reads its snapshot's bytes from the file just written (or loaded) for it, and the image
   * in memory can go. Nothing changes if Raft's snapshot has moved on meanwhile, or if the file
   * cannot be opened (Raft then keeps the image it has: memory, not correctness, is at stake).
   */
  private adoptSnapshotFile(meta: Pick<SnapshotMeta, 'index' | 'term'>): void {
    let bytes: SnapshotFileBytes;
    try {
      bytes = this.o.storage.openSnapshotBytes(meta);
    } catch (err) {
      this.log.warn({ err, index: meta.index }, 'cannot open the snapshot file; its image stays in memory');
      return;
    }
    if (!this.raw.replaceSnapshotBytes(meta.index, bytes)) {
      bytes.close();
      return;
    }
    this.snapshotFile?.close();
    this.snapshotFile = bytes;
  }

  // ---------------------------------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled || this.running !== null || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.running !== null || this.closed || !this.raw.hasReady()) {
        this.observeRole();
        return;
      }
      // run() always awaits at least once here, so `running` is set before its finally clears it.
      this.running = this.run();
    });
  }

  private async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  private async run(): Promise<void> {
    try {
      while (!this.closed && this.raw.hasReady()) await this.handleReady(this.raw.ready());
    } catch (err) {
      this.closed = true;
      clearInterval(this.tickTimer);
      this.o.onFatal(err);
    } finally {
      this.running = null;
    }
    this.observeRole();
  }

  private async handleReady(rd: Ready): Promise<void> {
    const storage = this.o.storage;
    // A leader's appends go out while its own write is in flight: the two fsyncs overlap.
    if (rd.earlyMessages.length > 0) this.o.send(rd.earlyMessages);
    // A Ready that only advances the commit index (no entries, no snapshot, no term or vote) holds
    // nothing the committed entries wait for: they are already in this node's durable log. Apply
    // them first, and write the new commit index behind them (recovery takes the commit index to
    // be at least the store's applied index, so this order is safe across a crash).
    const applyFirst = !rd.mustSync && rd.entries.length === 0 && rd.snapshot === null && rd.committedEntries.length > 0;
    if (applyFirst) this.apply(rd.committedEntries);
    if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) {
      const started = process.hrtime.bigint();
      if (rd.snapshot !== null) await storage.writeSnapshotFile(rd.snapshot.meta, rd.snapshot.data);
      await storage.persist({ hardState: rd.hardState, entries: rd.entries, snapshotMeta: rd.snapshot?.meta ?? null, sync: rd.mustSync });
      if (rd.mustSync) this.o.observer?.persisted?.(Number(process.hrtime.bigint() - started) / 1e9, rd.entries.length);
    }
    if (rd.messages.length > 0) this.o.send(rd.messages);
    if (rd.snapshot !== null) {
      this.o.crashPoint?.('snapshot-received');
      await this.installSnapshot(rd.snapshot.meta.index, rd.snapshot.data);
      this.adoptSnapshotFile(rd.snapshot.meta);
    }
    if (rd.committedEntries.length > 0 && !applyFirst) this.apply(rd.committedEntries);
    for (const rs of rd.readStates) this.answerRead(rs.ctx, rs.ok, rs.index);
    this.raw.advance(rd);
    // Nobody waits for the store's writes, so bound their backlog here: a store whose disk falls
    // behind slows the Ready loop (and so commits) instead of piling batches up in memory.
    if (this.o.store.writesPending > storeWritesPendingMax) await this.storeWrites;
    if (this.snapshotting === null && this.o.store.appliedIndex - this.snapshotIndex >= this.snapshotDue()) await this.beginSnapshot();
  }

  private answerRead(ctx: number, ok: boolean, index: number): void {
    const pending = this.reads.get(ctx);
    if (pending === undefined) return;
    if (!ok) {
      // No read point this time (no leader, or leadership moved while the read was out). Asked
      // again by retryRefusedReads, or by observeRole as soon as a leader appears.
      pending.refused = true;
      return;
    }
    this.reads.delete(ctx);
    void this.waitApplied(index).then(() => {
      this.o.observer?.readIndex?.(Number(process.hrtime.bigint() - pending.startedNs) / 1e9);
      pending.resolve(index);
    });
  }

  private apply(entries: readonly Entry[]): void {
    this.o.crashPoint?.('before-apply');
    const started = process.hrtime.bigint();
    const storeEntries: StoreEntry[] = [];
    const malformed = new Set<number>();
    let membersChanged = false;
    for (const e of entries) {
      if (e.kind === 'normal') {
        try {
          const { timeMs, command } = decodeEntryPayload(e.data);
          storeEntries.push({ index: e.index, timeMs, command });
        } catch (err) {
          // The same bytes fail the same way on every replica, so skipping is deterministic.
          this.log.error({ err, index: e.index }, 'malformed entry payload applied as a no-op');
          malformed.add(e.index);
          storeEntries.push({ index: e.index, timeMs: 0, command: NOOP });
        }
      } else {
        if (e.kind === 'conf') {
          applyAddressChange(this.o.members, decodeConfChange(e.data), this.o.removed);
          membersChanged = true;
        }
        storeEntries.push({ index: e.index, timeMs: 0, command: NOOP });
      }
    }
    // The store applies in memory at once; its LevelDB image is written behind, a batch per
    // imageWriteTicks or imageWriteEntries (writeImageWhenDue). Neither the Ready loop nor the
    // proposals wait for that write: the synced Raft log is the point of durability, and a
    // restarted node replays the log from the image's applied index.
    const results = new Map<number, Applied>();
    let from = 0;
    const applyUpTo = (to: number): void => {
      for (let i = from; i < to; i += applyEntriesMax) {
        for (const a of this.o.store.applyInMemory(storeEntries.slice(i, Math.min(to, i + applyEntriesMax)))) results.set(a.index, a);
      }
      from = to;
    };
    const pointBeforeWrite = this.o.pointBeforeWrite;
    if (pointBeforeWrite !== undefined) {
      for (let k = 0; k < storeEntries.length; k++) {
        const c = (storeEntries[k] as StoreEntry).command;
        if (!('seq' in c) || c.seq === undefined || c.sessionId === undefined) continue;
        const point = pointBeforeWrite(c.sessionId, c.seq);
        if (point === null) continue;
        applyUpTo(k);
        point();
      }
    }
    applyUpTo(storeEntries.length);
    if (membersChanged) this.o.onMembersChanged(this.o.members);
    for (const e of entries) {
      const pending = this.proposals.get(e.index);
      if (pending === undefined) continue;
      this.proposals.delete(e.index);
      if (pending.term !== e.term) {
        this.o.observer?.proposal?.('dropped');
        pending.reject(new ServerError('PROPOSAL_DROPPED'));
      } else if (malformed.has(e.index)) {
        pending.reject(new ServerError('BAD_REQUEST', 'the proposal could not be decoded'));
      } else {
        pending.resolve(results.get(e.index) ?? { index: e.index, result: { ok: true, value: { type: 'noop' } }, events: [] });
      }
    }
    this.o.observer?.applied?.(Number(process.hrtime.bigint() - started) / 1e9, entries.length);
    if (this.o.store.unwrittenEntries >= imageWriteEntries) this.writeImage();
    this.wakeAppliedWaiters();
  }

  /**
   * Hands what the store applied since its last image write to LevelDB as one batch. The Ready
   * loop does not wait for it (see `apply`); snapshots and close do (`storeWrites`).
   */
  private writeImage(): void {
    this.ticksSinceImageWrite = 0;
    if (this.o.store.unwrittenEntries === 0) return;
    this.storeWrites = this.o.store.writeImage().catch((err: unknown) => {
      // A failed store write leaves memory ahead of disk: stop (the log replays on restart).
      this.closed = true;
      clearInterval(this.tickTimer);
      this.o.onFatal(err);
    });
  }

  /** Writes the store's image once memory and disk are equal, whatever was applied meanwhile. */
  private async imageWritten(): Promise<void> {
    for (;;) {
      this.writeImage();
      const writes = this.storeWrites;
      await writes;
      if (writes === this.storeWrites && this.o.store.unwrittenEntries === 0) return;
    }
  }

  private wakeAppliedWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    const applied = this.o.store.appliedIndex;
    const still: { index: number; resolve: () => void }[] = [];
    for (const w of this.appliedWaiters) {
      if (w.index <= applied) w.resolve();
      else still.push(w);
    }
    this.appliedWaiters = still;
  }

  /**
   * Refused reads are asked again once a leader is known: every tick, because the leader this
   * node knows may itself be the one that just refused (it stepped down and this node has not yet
   * heard of its successor). Bounded by the readers' deadlines.
   */
  private retryRefusedReads(): void {
    if (this.reads.size === 0 || this.raw.summary().leader === 0) return;
    for (const [ctx, r] of this.reads) {
      if (!r.refused) continue;
      r.refused = false;
      this.raw.readIndex(ctx);
    }
  }

  private async installSnapshot(index: number, data: Uint8Array): Promise<void> {
    // The store writes its unwritten changes with the snapshot's records, in one batch.
    await this.storeWrites;
    const envelope = decodeSnapshotEnvelope(data);
    this.o.onSnapshotInstalling?.();
    await this.o.store.restoreSnapshot(envelope.store);
    assert(this.o.store.appliedIndex === index, 'the installed store image is at the snapshot index');
    this.o.members.clear();
    for (const [id, a] of envelope.members) this.o.members.set(id, a);
    for (const id of envelope.removed) this.o.removed.add(id);
    this.o.onMembersChanged(this.o.members);
    this.snapshotIndex = index;
    this.o.onSnapshotInstalled?.(index);
    this.o.observer?.snapshot?.('received');
    this.log.info({ index }, 'snapshot installed');
    // Proposals this node made at or below the snapshot are decided by entries it never saw.
    for (const [i, p] of this.proposals) {
      if (i <= index) {
        this.proposals.delete(i);
        p.reject(new ServerError('TIMEOUT', 'the outcome of the write is unknown (replaced by a snapshot)'));
      }
    }
    this.wakeAppliedWaiters();
  }

  /**
   * Starts a snapshot at the applied index: waits until the store's image on disk has caught up
   * with its memory, opens the store's iterator there (LevelDB pins that image), and leaves the
   * streaming, encoding and file writing to run beside the Ready loop, which goes on. A large
   * tree then costs the loop only the wait for in-flight store writes, not the whole snapshot.
   */
  private async beginSnapshot(): Promise<void> {
    await this.imageWritten();
    const index = this.o.store.appliedIndex;
    if (index <= this.snapshotIndex || this.snapshotting !== null || this.closed) return;
    const term = this.raw.termAt(index);
    assert(term !== undefined, 'the applied index is in the log');
    const image = this.o.store.snapshotStream();
    const members = new Map(this.o.members);
    const removed = new Set(this.o.removed);
    const conf = this.raw.status().conf;
    this.snapshotting = this.finishSnapshot(index, term, conf, image, members, removed)
      .catch((err: unknown) => {
        this.closed = true;
        clearInterval(this.tickTimer);
        this.o.onFatal(err);
      })
      .finally(() => (this.snapshotting = null));
  }

  private async finishSnapshot(
    index: number,
    term: number,
    conf: Status['conf'],
    image: AsyncIterable<Uint8Array>,
    members: ReadonlyMap<NodeId, MemberAddress>,
    removed: ReadonlySet<NodeId>,
  ): Promise<void> {
    const chunks: Uint8Array[] = [];
    for await (const c of image) chunks.push(c);
    const data = await encodeSnapshotEnvelope(members, removed, chunks);
    await this.o.storage.writeSnapshotFile({ index, term }, data);
    // A snapshot received from the leader meanwhile supersedes this one. The storage knows as soon
    // as its persist is written, before the store has installed it (this.snapshotIndex).
    if (this.closed || index <= this.snapshotIndex || !(await this.o.storage.saveSnapshotMeta({ index, term, conf }))) return;
    if (this.closed) return;
    this.raw.setSnapshot(index, data);
    this.adoptSnapshotFile({ index, term });
    this.o.crashPoint?.('snapshot-taken');
    this.snapshotIndex = index;
    const compactTo = index - this.o.logTrailingEntries;
    if (compactTo > this.raw.status().firstIndex) {
      this.raw.compactLog(compactTo);
      // The log is what a restart replays the store's image from: the image must be durable past
      // the entries about to go (it was written at `index` before the snapshot began, unsynced).
      await this.o.store.writeImage({ sync: true });
      await this.o.storage.compactBefore(compactTo);
    }
    this.o.observer?.snapshot?.('created');
    this.log.info({ index, bytes: data.length }, 'snapshot taken');
  }

  private observeRole(): void {
    const s = this.raw.summary();
    if (s.role !== this.lastRole || s.leader !== this.lastLeader) {
      this.lastRole = s.role;
      this.lastLeader = s.leader;
      this.log.info({ role: s.role, term: s.term, leader: s.leader }, 'role changed');
      // Reads forwarded to a former leader will not be answered, and refused ones wait for a
      // leader: ask the new one (the first answer for a context wins; later ones find nothing
      // pending).
      if (s.leader !== 0 && this.reads.size > 0) {
        for (const [ctx, r] of this.reads) {
          r.refused = false;
          this.raw.readIndex(ctx);
        }
        this.schedule();
      }
      this.o.observer?.roleChanged?.(s.role, s.term, s.leader);
    }
  }

  private translate(err: unknown): Error {
    if (!(err instanceof RaftError)) return err as Error;
    const leader = this.raw.summary().leader;
    switch (err.code) {
      case 'NOT_LEADER':
        return leader === 0 ? new ServerError('NO_LEADER') : new ServerError('NOT_LEADER', undefined, { leaderId: leader });
      case 'TRANSFER_IN_PROGRESS':
        return new ServerError('TRANSFER_IN_PROGRESS');
      case 'CONF_CHANGE_PENDING':
        return new ServerError('CONF_CHANGE_PENDING', err.message);
      case 'INVALID_CONF_CHANGE':
        return new ServerError('INVALID_CONF_CHANGE', err.message);
      case 'PROPOSAL_BACKPRESSURE':
        return new ServerError('BACKPRESSURE');
      case 'NOT_A_MEMBER':
        return new ServerError('NOT_LEADER', err.message);
    }
  }
}

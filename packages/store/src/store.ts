import { setImmediate as nextTurn } from 'node:timers/promises';
import { Level } from 'level';
import type { Entry } from './command.js';
import { applyEntriesMax, snapshotChunkBytesMax, watchHistoryBytesMax, watchHistoryEventsMax } from './constants.js';
import { DigestBuilder, digestOfRecords } from './digest.js';
import { assert, StoreError } from './errors.js';
import {
  appliedIndexKey,
  formatKey,
  isRecordKey,
  metaPrefix,
  nodeKey,
  pathOfNodeKey,
  sessionIdOfKey,
  sessionKey,
  sessionPrefix,
  storeRange,
  userKey,
  userNameOfKey,
  userPrefix,
} from './keys.js';
import { silentLogger, type Logger } from './logger.js';
import { DataArena } from './owned-bytes.js';
import { decodeIndex, decodeSession, decodeUser, decodeZnode, encodeIndex, encodeSession, encodeUser, encodeZnode } from './record-codec.js';
import type { Applied, Result } from './result.js';
import type { SessionInfo, SessionRecord } from './session.js';
import {
  chunkKinds,
  decodeChunk,
  decodeHeader,
  decodeRecords,
  decodeTrailer,
  encodeChunk,
  encodeHeader,
  encodeRecord,
  encodeTrailer,
} from './snapshot-format.js';
import type { StoreBatchOperation, StoreDatabase, StoreIterator } from './store-database.js';
import { WatchHistory, type EventsSince } from './watch-history.js';
import { ZnodeTree, type ChildrenOptions, type ChildrenPage } from './znode-tree.js';
import type { Stat, Znode } from './znode.js';
import type { UserRecord } from './user.js';
import type { Acl, Caller } from './acl.js';

export interface StoreOptions {
  /** An open LevelDB (or sublevel) the store owns entirely; the caller keeps ownership of its lifetime. */
  readonly db: StoreDatabase;
  readonly logger?: Logger;
  /** Bound of the in-memory watch history, in events. */
  readonly watchHistoryEventsMax?: number;
  /** Bound of the in-memory watch history, in bytes (as `watchEventBytes` counts them). */
  readonly watchHistoryBytesMax?: number;
  /**
   * Called synchronously by `apply` once its entries are applied in memory, before their batch is
   * written and before any read can observe them: the place to fire watches.
   */
  readonly onApplied?: (applied: readonly Applied[]) => void;
}

export interface OpenStoreOptions {
  /** Directory of a LevelDB the store creates or reopens and closes with itself. */
  readonly path: string;
  readonly logger?: Logger;
  readonly watchHistoryEventsMax?: number;
  readonly watchHistoryBytesMax?: number;
  readonly onApplied?: (applied: readonly Applied[]) => void;
}

const buffers = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const storeFormat = Buffer.from([1]);
/**
 * Whole-image reads take up to this many entries and bytes per `nextv`: each `nextv` is a trip to
 * LevelDB's thread, and with classic-level's 16 KiB read-ahead a store of 200,000 znodes took
 * 1,500 of them to open (docs/decisions.md, decision 41). Loading at open, before the member
 * serves, takes large batches; a snapshot or digest of a serving member takes smaller ones, so
 * that each batch handled between two turns of the event loop stays short (about 2 ms).
 */
const openBatch = { entries: 8_192, readAheadBytes: 4 * 1024 * 1024, yieldEach: false };
const servingBatch = { entries: 1_024, readAheadBytes: 256 * 1024, yieldEach: true };
interface ReadBatch {
  readonly entries: number;
  readonly readAheadBytes: number;
  /**
   * Give the event loop a whole turn (timers included) after each batch. An awaited `nextv` that
   * LevelDB answers at once resumes within the same poll phase, so without this a long read
   * chains batch after batch while timers — the Raft ticks, the heartbeats — wait (decision 45).
   */
  readonly yieldEach: boolean;
}

/**
 * The znode tree made durable. The whole tree lives in memory (reads never touch LevelDB); the
 * LevelDB image is written one batch at a time (per `apply` call, or per `writeImage` after any
 * number of `applyInMemory` calls), carrying every record changed since the previous batch
 * together with the new applied index, so a crash leaves the image at a whole batch boundary.
 */
export class Store {
  readonly #db: StoreDatabase;
  readonly #logger: Logger;
  readonly #history: WatchHistory;
  readonly #closeDb: (() => Promise<void>) | undefined;
  readonly #onApplied: ((applied: readonly Applied[]) => void) | undefined;
  #tree: ZnodeTree;
  /** Tail of the write chain: batches must reach LevelDB in apply order. */
  #writing: Promise<void> = Promise.resolve();
  #writesPending = 0;
  /** The latest write itself (it rejects if it failed, unlike `#writing`). */
  #lastWrite: Promise<void> = Promise.resolve();
  #unwrittenEntries = 0;
  #failure: unknown = undefined;
  #closed = false;

  private constructor(options: StoreOptions, tree: ZnodeTree, closeDb: (() => Promise<void>) | undefined) {
    this.#db = options.db;
    this.#logger = options.logger ?? silentLogger;
    this.#history = new WatchHistory(options.watchHistoryEventsMax ?? watchHistoryEventsMax, tree.appliedIndex, options.watchHistoryBytesMax ?? watchHistoryBytesMax);
    this.#tree = tree;
    this.#closeDb = closeDb;
    this.#onApplied = options.onApplied;
  }

  /**
   * Opens the store, loading the tree into memory: on a database the caller owns (`db`), or on a
   * LevelDB directory (`path`) that the store opens and closes itself.
   */
  static async open(options: StoreOptions | OpenStoreOptions): Promise<Store> {
    if ('db' in options) return Store.#open(options, undefined);
    const db = new Level<Buffer, Buffer>(options.path, buffers);
    await db.open();
    try {
      const storeOptions: StoreOptions = {
        db,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
        ...(options.watchHistoryEventsMax === undefined ? {} : { watchHistoryEventsMax: options.watchHistoryEventsMax }),
        ...(options.watchHistoryBytesMax === undefined ? {} : { watchHistoryBytesMax: options.watchHistoryBytesMax }),
        ...(options.onApplied === undefined ? {} : { onApplied: options.onApplied }),
      };
      return await Store.#open(storeOptions, () => db.close());
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  static async #open(options: StoreOptions, closeDb: (() => Promise<void>) | undefined): Promise<Store> {
    const encodings = [options.db.keyEncoding().name, options.db.valueEncoding().name];
    if (encodings[0] !== 'buffer' || encodings[1] !== 'buffer') {
      throw new StoreError('BAD_ARGUMENTS', `the store's database must default to buffer keys and values, not ${encodings.join('/')}`);
    }
    const tree = await loadTree(options.db);
    const store = new Store(options, tree ?? ZnodeTree.empty(), closeDb);
    if (tree === undefined) {
      // A fresh image gets its root, format and applied index 0 in one batch, so "has an applied
      // index" means "was initialised completely".
      await store.#write([...store.#changeOps(), { type: 'put', key: formatKey, value: storeFormat }]);
    }
    store.#logger.info({ appliedIndex: store.appliedIndex, nodes: store.#tree.nodeCount }, 'store opened');
    return store;
  }

  /** Batches taken by `writeImage` (or `apply`) whose LevelDB write has not completed yet. */
  get writesPending(): number {
    return this.#writesPending;
  }

  /** The records of the image (znodes and sessions): what a snapshot writes and reads. */
  get recordCount(): number {
    return this.#tree.recordCount;
  }

  /** Highest entry index applied in memory; on open, the driver replays the log from its successor. */
  get appliedIndex(): number {
    return this.#tree.appliedIndex;
  }

  /**
   * Applies committed entries in index order and writes them as one LevelDB batch. Entries at or
   * below the applied index are skipped (replay after restart is idempotent) and get no result.
   * Resolves once the batch is written. Calls may overlap; their batches are written in call order.
   */
  apply(entries: readonly Entry[]): Promise<Applied[]> {
    const applied = this.applyInMemory(entries);
    if (applied.length === 0) return this.#writing.then(() => applied);
    return this.writeImage().then(() => applied);
  }

  /**
   * `apply` without the write: the entries are applied in memory when this returns, and their
   * changes wait for the next `writeImage`, which writes them (with those of every call before it)
   * as one batch. A caller whose durability comes from elsewhere (the Raft log, replayed from the
   * image's applied index after a restart) answers from the results at once and writes the image
   * when it chooses (decision 49).
   */
  applyInMemory(entries: readonly Entry[]): Applied[] {
    this.#checkUsable();
    assert(entries.length <= applyEntriesMax, `more than ${applyEntriesMax} entries in one apply`);
    const applied: Applied[] = [];
    try {
      for (const entry of entries) {
        if (entry.index <= this.#tree.appliedIndex) continue;
        const outcome = this.#tree.applyEntry(entry);
        this.#history.append(outcome.events);
        applied.push(outcome);
      }
    } catch (err) {
      // Entries before the failure are in memory but not in the image: stop rather than diverge.
      this.#failure ??= err;
      throw err;
    }
    this.#unwrittenEntries += applied.length;
    if (applied.length === 0) return applied;
    try {
      this.#onApplied?.(applied);
    } catch (err) {
      this.#logger.error({ err }, 'onApplied hook failed');
    }
    return applied;
  }

  /**
   * Writes what was applied in memory since the previous write as one LevelDB batch, with the new
   * applied index: each record once, however many entries changed it. Resolves once that batch
   * (and every one before it) is in LevelDB; rejects if it failed, and the store is unusable then.
   * With `sync`, the image is durable at the applied index when it resolves (a batch is written
   * even if nothing changed): before the log it would be replayed from is deleted.
   */
  writeImage(options?: { sync?: boolean }): Promise<void> {
    this.#checkUsable();
    const sync = options?.sync === true;
    if (this.#unwrittenEntries === 0 && !sync) return this.#lastWrite;
    this.#unwrittenEntries = 0;
    return this.#write(this.#changeOps(), sync);
  }

  /** Entries applied in memory whose changes no `writeImage` has taken yet. */
  get unwrittenEntries(): number {
    return this.#unwrittenEntries;
  }

  // ---- reads, from memory ----

  // `caller` (acl.ts): whose read permission is checked, NO_AUTH without it; absent: not checked.

  get(path: string, caller?: Caller): Result<{ readonly data: Uint8Array; readonly stat: Stat }> {
    return this.#tree.get(path, caller);
  }

  /** As in ZooKeeper, `exists` needs no permission. */
  exists(path: string): Result<Stat | null> {
    return this.#tree.exists(path);
  }

  children(path: string, options?: ChildrenOptions, caller?: Caller): Result<ChildrenPage> {
    return this.#tree.children(path, options, caller);
  }

  /** A node's ACL (interned: do not compare by identity across stores) and Stat; needs read or admin permission. */
  getAcl(path: string, caller?: Caller): Result<{ readonly acl: Acl; readonly stat: Stat }> {
    return this.#tree.getAcl(path, caller);
  }

  /** Whether `caller` may learn of a change at `path`: read permission on it, or on its parent once it is gone. */
  mayRead(path: string, caller: Caller | undefined): boolean {
    return this.#tree.mayRead(path, caller);
  }

  /** A user of the replicated users table (its roles and secret hash), for authentication. */
  user(name: string): UserRecord | undefined {
    return this.#tree.user(name);
  }

  /** Every user, in no particular order. */
  users(): UserRecord[] {
    return [...this.#tree.userRecords()];
  }

  /** Open sessions, by id, with their timeouts, last committed heartbeat and ephemerals. */
  sessions(): SessionInfo[] {
    return this.#tree.sessions();
  }

  /** Open sessions without their ephemerals: cheap enough for a leader's periodic expiry check. */
  sessionRecords(): IterableIterator<SessionRecord> {
    return this.#tree.sessionRecords();
  }

  /** Whether the session is open: a map lookup, unlike `session()`, which copies its ephemerals. */
  hasSession(sessionId: number): boolean {
    return this.#tree.hasSession(sessionId);
  }

  session(sessionId: number): SessionInfo | undefined {
    return this.#tree.session(sessionId);
  }

  /** TTL nodes a `sweep` proposed at `nowMs` would remove; for the leader to propose. */
  sweepCandidates(nowMs: number): string[] {
    return this.#tree.sweepCandidates(nowMs);
  }

  /**
   * Watch events after `revision` — only those whose path is `path`, if given — or
   * `{ compacted: true, floor }` if some are no longer held.
   */
  eventsSince(revision: number, path?: string): EventsSince {
    return this.#history.since(revision, path);
  }

  // ---- digests ----

  /** sha256 (hex) of the durable image: applied index, sessions and znodes, in key order. */
  async digest(): Promise<string> {
    await this.#settle();
    const iterator = imageIterator(this.#db, servingBatch);
    try {
      let builder: DigestBuilder | undefined;
      for await (const batch of readAll(iterator, servingBatch)) {
        for (const [key, value] of batch) {
          if (key[0] === metaPrefix) {
            if (key.equals(appliedIndexKey)) builder = new DigestBuilder(decodeIndex(value));
            continue;
          }
          if (!isRecordKey(key)) continue;
          assert(builder !== undefined, 'image without applied index');
          builder.add(key, value);
        }
      }
      assert(builder !== undefined, 'image without applied index');
      return builder.finish().toString('hex');
    } finally {
      await iterator.close();
    }
  }

  /** sha256 (hex) of the in-memory state; equal to `digest()` whenever no write is pending. */
  memoryDigest(): string {
    return digestOfRecords(this.#tree.appliedIndex, this.#tree.nodeRecords(), this.#tree.sessionRecords(), this.#tree.userRecords());
  }

  /** Checks that the durable image and memory agree; throws if they do not (a bug). */
  async verify(): Promise<void> {
    const image = await this.digest();
    const memory = this.memoryDigest();
    assert(image === memory, `durable image ${image} differs from memory ${memory}`);
  }

  // ---- snapshots ----

  /**
   * A consistent snapshot of the durable image as checksummed chunks. The LevelDB iterator (and
   * with it the point in time) is taken at this call, so applies that follow do not tear it.
   * Consume it to the end or call `return()` on it, to release the iterator.
   */
  snapshotStream(): AsyncIterable<Uint8Array> {
    this.#checkUsable();
    return snapshotChunks(imageIterator(this.#db, servingBatch));
  }

  /**
   * Replaces the whole state with a snapshot, after verifying every chunk and the trailer's digest.
   * The old records are deleted and the new ones written in one LevelDB batch: atomic, at the cost
   * of holding the snapshot in memory, which the in-memory tree needs anyway.
   */
  async restoreSnapshot(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    this.#checkUsable();
    const { appliedIndex, records } = await readSnapshot(chunks);
    let tree: ZnodeTree;
    try {
      const image = new ImageRecords();
      for (const [key, value] of records) image.add(key, value);
      tree = image.tree(appliedIndex);
    } catch (cause) {
      throw new StoreError('SNAPSHOT_INVALID', 'snapshot records are inconsistent', { cause });
    }
    this.#checkUsable();
    // Changes not written yet go first: a node deleted since the last write is still in the image,
    // and no longer among the tree's records that the deletions below are made from.
    const ops: StoreBatchOperation[] = this.#unwrittenEntries > 0 ? this.#changeOps() : [];
    this.#unwrittenEntries = 0;
    for (const [path] of this.#tree.nodeRecords()) ops.push({ type: 'del', key: nodeKey(path) });
    for (const session of this.#tree.sessionRecords()) ops.push({ type: 'del', key: sessionKey(session.sessionId) });
    for (const user of this.#tree.userRecords()) ops.push({ type: 'del', key: userKey(user.name) });
    // LevelDB applies a batch in order, so a put after a del of the same key wins.
    for (const [key, value] of records) ops.push({ type: 'put', key, value });
    ops.push({ type: 'put', key: appliedIndexKey, value: encodeIndex(appliedIndex) });
    tree.takeChanges();
    this.#tree = tree;
    this.#history.reset(appliedIndex);
    await this.#write(ops);
    this.#logger.info({ appliedIndex, records: records.length }, 'snapshot restored');
  }

  /** Waits for pending writes and releases the store (and the database, if `openStore` made it). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // What was applied and not yet written goes to the image (a restart would replay it anyway).
    if (this.#unwrittenEntries > 0 && this.#failure === undefined) this.writeImage().catch(() => undefined);
    this.#closed = true;
    await this.#writing;
    await this.#closeDb?.();
  }

  // ---- internals ----

  #checkUsable(): void {
    if (this.#closed) throw new StoreError('STORE_CLOSED', 'store is closed');
    // A failed write leaves memory ahead of the image: this replica must stop, not diverge.
    if (this.#failure !== undefined) throw new Error('store write failed earlier', { cause: this.#failure });
  }

  #changeOps(): StoreBatchOperation[] {
    const changes = this.#tree.takeChanges();
    const ops: StoreBatchOperation[] = [];
    for (const [path, node] of changes.nodes) {
      ops.push(node === null ? { type: 'del', key: nodeKey(path) } : { type: 'put', key: nodeKey(path), value: encodeZnode(node) });
    }
    for (const [id, session] of changes.sessions) {
      ops.push(session === null ? { type: 'del', key: sessionKey(id) } : { type: 'put', key: sessionKey(id), value: encodeSession(session) });
    }
    for (const [name, user] of changes.users) {
      ops.push(user === null ? { type: 'del', key: userKey(name) } : { type: 'put', key: userKey(name), value: encodeUser(user) });
    }
    ops.push({ type: 'put', key: appliedIndexKey, value: encodeIndex(this.#tree.appliedIndex) });
    return ops;
  }

  #write(ops: StoreBatchOperation[], sync = false): Promise<void> {
    this.#writesPending++;
    const write = this.#writing.then(() => {
      if (this.#failure !== undefined) throw new Error('store write failed earlier', { cause: this.#failure });
      const batch = this.#db.batch();
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
      return sync ? batch.write({ sync: true }) : batch.write();
    });
    this.#lastWrite = write;
    this.#writing = write.then(
      () => {
        this.#writesPending--;
      },
      (err: unknown) => {
        this.#writesPending--;
        this.#failure ??= err;
        this.#logger.error({ err }, 'store write failed');
      },
    );
    return write;
  }

  /** Writes what memory holds and resolves when no write is pending (applies may keep arriving; this waits them out). */
  async #settle(): Promise<void> {
    while (this.#writesPending > 0 || this.#unwrittenEntries > 0) {
      if (this.#unwrittenEntries > 0) await this.writeImage();
      else await this.#writing;
    }
  }
}

/** Opens (creating if needed) a LevelDB at `path` and a store on it; `close()` closes both. */
export function openStore(options: OpenStoreOptions): Promise<Store> {
  return Store.open(options);
}

/** An iterator over the whole image, reading ahead as `batch` says (made at once: it sees the image as it is now). */
function imageIterator(db: StoreDatabase, batch: ReadBatch): StoreIterator {
  return db.iterator({ ...storeRange, ...buffers, highWaterMarkBytes: batch.readAheadBytes });
}

/** The iterator's entries a batch at a time: one await per batch, not per entry. */
async function* readAll(iterator: StoreIterator, size: ReadBatch): AsyncGenerator<readonly [Buffer, Buffer][]> {
  while (true) {
    const batch = await iterator.nextv(size.entries);
    if (batch.length === 0) return;
    yield batch;
    if (size.yieldEach) await nextTurn();
  }
}

async function loadTree(db: StoreDatabase): Promise<ZnodeTree | undefined> {
  const iterator = imageIterator(db, openBatch);
  let appliedIndex: number | undefined;
  const image = new ImageRecords();
  try {
    for await (const batch of readAll(iterator, openBatch)) {
      for (const [key, value] of batch) {
        if (key[0] === metaPrefix) {
          if (key.equals(appliedIndexKey)) appliedIndex = decodeIndex(value);
          else if (key.equals(formatKey)) assert(value.equals(storeFormat), 'unknown store format');
        } else if (isRecordKey(key)) {
          image.add(key, value);
        }
      }
    }
  } finally {
    await iterator.close();
  }
  if (appliedIndex === undefined) {
    assert(image.empty, 'records without an applied index');
    return undefined;
  }
  return image.tree(appliedIndex);
}

/**
 * A whole image's user, session and znode records (a member's own at open, or a snapshot's), decoded
 * into a tree. Their data is copied into shared slabs, not an ArrayBuffer per znode (decision 48).
 */
class ImageRecords {
  readonly #users: UserRecord[] = [];
  readonly #sessions: SessionRecord[] = [];
  readonly #nodes: [string, Znode][] = [];
  readonly #arena = new DataArena();
  readonly #copy = (data: Uint8Array): Uint8Array => this.#arena.copy(data);

  /** A user, session or znode record (`isRecordKey`). */
  add(key: Buffer, value: Buffer): void {
    if (key[0] === sessionPrefix) this.#sessions.push(decodeSession(sessionIdOfKey(key), value));
    else if (key[0] === userPrefix) this.#users.push(decodeUser(userNameOfKey(key), value));
    else this.#nodes.push([pathOfNodeKey(key), decodeZnode(value, this.#copy)]);
  }

  get empty(): boolean {
    return this.#users.length === 0 && this.#sessions.length === 0 && this.#nodes.length === 0;
  }

  tree(appliedIndex: number): ZnodeTree {
    return ZnodeTree.fromRecords(appliedIndex, this.#nodes, this.#sessions, this.#users);
  }
}

async function* snapshotChunks(iterator: StoreIterator): AsyncGenerator<Uint8Array> {
  try {
    let seq = 0;
    let builder: DigestBuilder | undefined;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const batch of readAll(iterator, servingBatch)) {
      for (const [key, value] of batch) {
        if (key[0] === metaPrefix) {
          if (key.equals(appliedIndexKey)) {
            const appliedIndex = decodeIndex(value);
            builder = new DigestBuilder(appliedIndex);
            yield encodeChunk(chunkKinds.header, seq++, encodeHeader(appliedIndex));
          }
          continue;
        }
        if (!isRecordKey(key)) continue;
        assert(builder !== undefined, 'image without applied index');
        builder.add(key, value);
        const record = encodeRecord(key, value);
        pending.push(record);
        pendingBytes += record.byteLength;
        if (pendingBytes >= snapshotChunkBytesMax) {
          yield encodeChunk(chunkKinds.records, seq++, Buffer.concat(pending, pendingBytes));
          pending = [];
          pendingBytes = 0;
        }
      }
    }
    assert(builder !== undefined, 'image without applied index');
    if (pendingBytes > 0) yield encodeChunk(chunkKinds.records, seq++, Buffer.concat(pending, pendingBytes));
    yield encodeChunk(chunkKinds.trailer, seq++, encodeTrailer(builder.records, builder.finish()));
  } finally {
    await iterator.close();
  }
}

async function readSnapshot(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<{ appliedIndex: number; records: [Buffer, Buffer][] }> {
  const invalid = (message: string): StoreError => new StoreError('SNAPSHOT_INVALID', message);
  let seq = 0;
  let appliedIndex: number | undefined;
  let builder: DigestBuilder | undefined;
  let finished = false;
  let previousKey: Buffer | undefined;
  const records: [Buffer, Buffer][] = [];
  for await (const chunk of chunks) {
    const { kind, payload } = decodeChunk(chunk, seq++);
    if (finished) throw invalid('chunk after trailer');
    if (kind === chunkKinds.header) {
      if (builder !== undefined) throw invalid('second header');
      appliedIndex = decodeHeader(payload).appliedIndex;
      builder = new DigestBuilder(appliedIndex);
      continue;
    }
    if (builder === undefined) throw invalid('missing header');
    if (kind === chunkKinds.records) {
      for (const [key, value] of decodeRecords(payload)) {
        if (!isRecordKey(key)) throw invalid('record outside the store key space');
        if (previousKey !== undefined && Buffer.compare(previousKey, key) >= 0) throw invalid('records out of order');
        previousKey = key;
        builder.add(key, value);
        records.push([key, value]);
      }
      continue;
    }
    const trailer = decodeTrailer(payload);
    if (trailer.recordCount !== records.length) throw invalid('record count mismatch');
    if (!builder.finish().equals(trailer.digest)) throw invalid('digest mismatch');
    finished = true;
  }
  if (!finished || appliedIndex === undefined) throw invalid('snapshot ended before its trailer');
  return { appliedIndex, records };
}
